"""``adops console``: the whole bot in one process, typed at from a terminal.

No Slack, no Redis, no vendor keys. It runs the production pieces with local endpoints: the
same WSGI app and Bolt listeners receive signed requests (mounted in-process), the same actors run on
an in-memory broker with a worker thread, the same egress posts to a local Slack Web API (which
prints what a channel would show), and vendors without keys are the built-in sandbox.

Type ``/adops help``, then any example it shows; press a button by typing its number.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlencode

import httpx
from dramatiq import Worker

from bot import web
from devkit.sandbox import Sandbox
from devkit.slack import Event, LocalSlack
from devkit.slack.signing import signed_headers
from workers.boot import boot, load_settings
from workers.settings import OWN_PREFIX
from workers.vendors.registry import CATALOGUE
from workers.vendors.spec import Catalogue

__all__ = ["Console", "blocks_to_text", "run_console"]

CHANNEL = "C0CONSOLE"
TEAM = "T0LOCAL"
DRAIN_TIMEOUT = 120.0
BUTTON_WAIT = 10.0

INTRO = """adops console: the bot on local endpoints (in-memory queue, local Slack, vendor sandbox).
Type a command as in Slack, e.g. `/adops help`{example}.
Press a button by typing its number (a confirm dialog asks y/n). `quit` or Ctrl-D ends;
at the end of piped input the console waits for running jobs to finish."""


def intro(vendors: Catalogue) -> str:
    """The greeting, with the first example of the first vendor's first command."""
    examples = [spec.examples[0] for spec in vendors.commands if spec.examples]
    return INTRO.format(example=f" or `/adops {examples[0]}`" if examples else "")


@dataclass
class Button:
    number: int
    message_ts: str
    channel: str
    block_id: str
    element: dict[str, Any]
    response_url: str


class Console:
    def __init__(
        self, *, out: TextIO, ready_after: float = 4.0, user_id: str = "U0YOU", admin: bool = False,
        vendors: Catalogue = CATALOGUE,
    ) -> None:
        self.out = out
        self.user_id = user_id
        self.vendors = vendors
        self._print_lock = threading.RLock()
        self.buttons: dict[int, Button] = {}
        self._numbers: dict[tuple[str, str, str, str], int] = {}
        self._button_added = threading.Condition(self._print_lock)
        self.signing_secret = secrets.token_hex(16)
        self.bot_token = "xoxb-console-" + secrets.token_hex(8)
        self.slack = LocalSlack(bot_token=self.bot_token, team_id=TEAM)
        self.sandbox = Sandbox(ready_after=ready_after, apps=vendors.sandbox_apps)
        self.slack.start()
        self.sandbox.start()
        env = _console_env(vendors, self.slack, self.bot_token, self.sandbox, self.signing_secret, user_id if admin else "")
        self.rt = boot(load_settings(env, vendors), vendors)
        self.worker = Worker(self.rt.broker, worker_threads=4, worker_timeout=100)
        self.worker.start()
        # The web app is mounted in-process: the same WSGI app gunicorn serves, without a socket.
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=web.build(self.rt, vendors)), base_url="http://console.local", timeout=10
        )
        self.url = "/slack/events"
        self.slack.subscribe(self._on_slack)

    # -- output -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self._print_lock:
            print(text, file=self.out, flush=True)

    def _on_slack(self, event: Event) -> None:
        m = event.message
        if event.kind == "ephemeral" and m.user and m.user != self.user_id:
            return
        label = {
            "posted": f"#{m.channel} · new message",
            "updated": f"#{m.channel} · message updated",
            "ephemeral": "only visible to you",
            "deleted": f"#{m.channel} · message deleted",
            "file_shared": f"#{m.channel} · file shared",
        }[event.kind]
        with self._print_lock:  # button numbers are handed out in the order people see them
            lines = [f"── {label} ({m.ts}) ──"]
            lines += self._render(m.blocks, m.text, m.ts, m.channel)
            for f in m.files:
                lines.append(f"  [file] {f.name} ({f.size:,} bytes)")
            self.say("\n".join(lines))

    def _render(self, blocks: list[dict[str, Any]], text: str, ts: str, channel: str) -> list[str]:
        lines = blocks_to_text(blocks) if blocks else [plain(text)]
        for block in blocks:
            if block.get("type") == "actions":
                elements = block.get("elements", [])
            elif block.get("type") == "section" and block.get("accessory"):
                elements = [block["accessory"]]
            else:
                continue
            for element in elements:
                if element.get("type") != "button":
                    continue
                # The same button keeps its number while its message is edited.
                key = (channel, ts, element.get("action_id", ""), element.get("value", ""))
                number = self._numbers.setdefault(key, len(self._numbers) + 1)
                self.buttons[number] = Button(
                    number, ts, channel, block.get("block_id", ""), element,
                    self.slack.response_url(channel, self.user_id, message_ts=ts),
                )
                label = plain(block["text"]["text"]).split("\n")[0] if block.get("type") == "section" else ""
                lines.append(f"  [{number}] {element['text']['text']}" + (f"  ({label})" if label else ""))
                self._button_added.notify_all()
        return lines

    # -- input ------------------------------------------------------------------------------
    def handle(self, line: str, lines: Iterator[str]) -> bool:
        """One line of input; False when the person wants to stop."""
        line = line.strip()
        if not line:
            return True
        if line in ("quit", "exit"):
            return False
        if line in ("help", "?"):
            self.say(intro(self.vendors))
            return True
        press = re.fullmatch(r"(?:press\s+)?(\d+)", line)
        if press:
            self.press(int(press.group(1)), lines)
            return True
        match = re.fullmatch(r"/?adops(?:\s+(.*))?", line, flags=re.S)
        if not match:
            self.say("Type a command starting with /adops, a button number, or `quit`.")
            return True
        self.command(match.group(1) or "")
        return True

    def command(self, text: str) -> None:
        form = {
            "token": "unused",
            "team_id": TEAM,
            "team_domain": "local",
            "channel_id": CHANNEL,
            "channel_name": "console",
            "user_id": self.user_id,
            "user_name": "you",
            "command": "/adops",
            "text": text,
            "api_app_id": "A0ADOPS",
            "response_url": self.slack.response_url(CHANNEL, self.user_id),
            "trigger_id": secrets.token_hex(8),
        }
        self._answer(self._post(urlencode(form), "application/x-www-form-urlencoded"))

    def press(self, number: int, lines: Iterator[str]) -> None:
        with self._button_added:
            # Typed ahead (piped input): give the message carrying it a moment to arrive.
            self._button_added.wait_for(lambda: number in self.buttons, timeout=BUTTON_WAIT)
            button = self.buttons.get(number)
        if button is None:
            self.say(f"There is no button [{number}].")
            return
        confirm = button.element.get("confirm")
        if confirm:
            self.say(f"{plain(confirm['title']['text'])}: {plain(confirm['text']['text'])} "
                     f"[y = {confirm['confirm']['text']}, n = {confirm['deny']['text']}]")
            answer = next(lines, "n").strip().lower()
            self.say(f"> {answer}")
            if answer not in ("y", "yes"):
                self.say("(dismissed; nothing was sent)")
                return
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "local"},
            "user": {"id": self.user_id, "username": "you", "team_id": TEAM},
            "api_app_id": "A0ADOPS",
            "channel": {"id": button.channel, "name": "console"},
            "container": {"type": "message", "message_ts": button.message_ts, "channel_id": button.channel},
            # Slack sends the message as it is now: buttons edit their own message from it.
            "message": {"ts": button.message_ts, "blocks": self._blocks_of(button.channel, button.message_ts)},
            "response_url": button.response_url,
            "trigger_id": secrets.token_hex(8),
            "actions": [
                {
                    "type": "button",
                    "action_id": button.element["action_id"],
                    "block_id": button.block_id,
                    "value": button.element.get("value", ""),
                    "text": button.element["text"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        self._answer(self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"))

    def _blocks_of(self, channel: str, ts: str) -> list[dict[str, Any]]:
        message = next((m for m in self.slack.messages(channel) if m.ts == ts), None)
        return list(message.blocks) if message else []

    def _post(self, body: str, content_type: str) -> httpx.Response:
        headers = signed_headers(self.signing_secret, body, content_type=content_type)
        return self.http.post(self.url, content=body.encode(), headers=headers)

    def _answer(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            self.say(f"(the bot answered HTTP {response.status_code})")
            return
        if not response.content:
            return
        try:
            payload = response.json()
        except ValueError:
            self.say(f"── only visible to you ──\n{plain(response.text)}")
            return
        lines = blocks_to_text(payload["blocks"]) if payload.get("blocks") else [plain(payload.get("text", ""))]
        self.say("── only visible to you ──\n" + "\n".join(lines))

    # -- lifecycle --------------------------------------------------------------------------
    def drain(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Wait until every job has ended and its outcome is posted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.rt.store.recent(None, limit=200)
            if all(j.terminal and j.outcome_posted for j in jobs):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.worker.stop(timeout=2000)
        self.http.close()
        self.sandbox.stop()
        self.slack.stop()


def run_console(*, ready_after: float = 4.0, user_id: str = "U0YOU", admin: bool = False,
                stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    console = Console(out=out, ready_after=ready_after, user_id=user_id, admin=admin)
    interactive = stdin.isatty()
    console.say(intro(console.vendors))
    lines = _lines(stdin, console if interactive else None)
    try:
        for line in lines:
            if not interactive:
                console.say(f"> {line.rstrip()}")
            if not console.handle(line, lines):
                break
        else:
            if not console.drain():
                console.say("(some jobs were still running after the wait; stopping anyway)")
                return 1
    finally:
        console.close()
    return 0


def _lines(stdin: TextIO, prompt_to: Console | None) -> Iterator[str]:
    while True:
        if prompt_to is not None:
            prompt_to.say("adops> ")
        line = stdin.readline()
        if not line:
            return
        yield line


def _console_env(
    vendors: Catalogue, slack: LocalSlack, bot_token: str, sandbox: Sandbox, signing_secret: str, admin: str
) -> dict[str, str]:
    prefixes = (OWN_PREFIX, *(cls.prefix() for cls in vendors.settings_classes))
    env = {k: v for k, v in os.environ.items() if k.upper().startswith(prefixes)}
    env.pop("REDIS_URL", None)
    env.update(
        SLACK_BOT_TOKEN=bot_token,
        SLACK_SIGNING_SECRET=signing_secret,
        SLACK_API_URL=slack.api_url,
        ADOPS_PROGRESS_INTERVAL="2",
    )
    if admin:
        env["ADOPS_ADMINS"] = ",".join(filter(None, [env.get("ADOPS_ADMINS", ""), admin]))
    # Vendors with real keys stay real; the others are the sandbox.
    env.update(vendors.sandbox_env(env, sandbox.base_url, sandbox.TOKEN))
    return env


# -- Block Kit to terminal text (pure) ------------------------------------------------------

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<([^<>|]+)>")


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as a terminal shows it: links as `label (url)`, mentions as @id, dates (and
    the date tokens render uses to show `*`, `_`, `~` and backticks unformatted) as their fallback."""

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("!date^"):
            return label
        if target.startswith(("@", "#")):
            return label if label.startswith(("@", "#")) else target
        return f"{label} ({target})"

    text = _LINK.sub(link, mrkdwn)
    text = _BARE.sub(lambda m: m.group(1), text)
    # render.escape puts a soft hyphen before a quote's `>`; a terminal need not see it.
    return text.replace("\u00ad", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(blocks: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header") and block.get("text"):
            lines.append(plain(block["text"]["text"]))
            for f in block.get("fields") or []:
                lines.append("  " + plain(f["text"]))
        elif kind == "context":
            lines.append("  " + "  ".join(plain(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("  ────")
        elif kind == "image":
            lines.append(f"  [image] {block.get('alt_text', '')} ({block.get('image_url', '')})")
    return lines

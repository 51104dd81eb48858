"""``adops console``: the whole bot in one process, typed at from a terminal.

No Slack, no Redis, no vendor keys. It runs the production pieces with local endpoints: the
same WSGI app and Bolt listeners receive signed requests (mounted in-process), the same actors run on
an in-memory broker with a worker thread, the same egress posts to a local Slack Web API (which
prints what a channel would show), and vendors without keys are the built-in sandbox.

Type ``/adops help``, then any example it shows; press a button by typing its number. Only the
buttons a message shows now are numbered: one that an edit took away, or whose message was
deleted, answers "that button is no longer there" and sends nothing, as Slack would show no such
button. Line editing, history and where log lines go: :mod:`bot.terminal`.
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
from bot.clock import Clock, tick_until
from bot.console_text import blocks_to_text, buttons_of, duration, plain
from bot.terminal import LineReader, log_to_file, state_dir
from devkit.sandbox import Sandbox
from devkit.slack import Event, LocalSlack
from devkit.slack.signing import signed_headers
from workers import sweeper
from workers.actors import QUEUES
from workers.boot import boot, load_settings
from workers.jobs import Job
from workers.settings import OWN_PREFIX
from workers.vendors.registry import CATALOGUE
from workers.vendors.spec import Catalogue

__all__ = ["Console", "blocks_to_text", "drain_until", "duration", "plain", "run_console"]

CHANNEL = "C0CONSOLE"
TEAM = "T0LOCAL"
BUTTON_WAIT = 10.0
#: After the last deadline, the time a job's failure takes to be shown (its publish step).
DRAIN_GRACE = 30.0
SWEEP_GRACE = sweeper.SWEEP_GRACE
GONE = "That button is no longer there (its message was edited or deleted); nothing was sent."

INTRO = """adops console: the bot on local endpoints (in-memory queue, local Slack, vendor sandbox).
Type a command as in Slack, e.g. `/adops help`{example}.
Press a button by typing its number (a confirm dialog asks y/n). `wait` waits for running jobs;
`quit` or Ctrl-D ends; at the end of piped input the console waits for running jobs to finish
(at most until their deadlines). Log lines go to {log}."""


def intro(vendors: Catalogue, log: str = "the log") -> str:
    """The greeting, with the first example of the first vendor's first command."""
    examples = [spec.examples[0] for spec in vendors.commands if spec.examples]
    return INTRO.format(example=f" or `/adops {examples[0]}`" if examples else "", log=log)


def drain_until(deadlines: list[float], grace: float = DRAIN_GRACE) -> float | None:
    """Until when (epoch seconds) to wait for open jobs with these deadlines; None for none.

    A job is failed at its deadline at the latest, and its failure then shown: waiting past the
    last deadline (and the time to show it) would wait for nothing; giving up before it could
    cut off an export that is only slow."""
    return max(deadlines) + grace if deadlines else None


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
        self.buttons: dict[int, Button] = {}  # the buttons messages show now, by number
        self._numbers: dict[tuple[str, str, str, str], int] = {}
        self._retired: set[int] = set()  # numbers of buttons an edit or a delete took away
        self.reader: LineReader | None = None  # set by run_console: output must not garble a typed line
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
        # The clock process's duties, here a thread: digests that are due, and the sweep.
        self._stopping = threading.Event()
        self._clock = threading.Thread(target=tick_until, args=(Clock(self.rt, "console"), self._stopping),
                                       name="console-clock", daemon=True)
        self._clock.start()

    # -- output -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self._print_lock:
            reader = self.reader
            before, after = (reader.interrupting(), reader.resume()) if reader else ("", "")
            print(before + text, file=self.out, flush=not after)
            if after:
                print(after, end="", file=self.out, flush=True)

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
            if event.kind == "deleted":
                self._retire(m.channel, m.ts, keep=set())
            else:
                lines += self._render(m.blocks, m.text, m.ts, m.channel)
            for f in m.files:
                lines.append(f"  [file] {f.name} ({f.size:,} bytes)")
            self.say("\n".join(lines))

    def _render(self, blocks: list[dict[str, Any]], text: str, ts: str, channel: str) -> list[str]:
        lines = blocks_to_text(blocks) if blocks else [plain(text)]
        shown: set[int] = set()
        for block, element in buttons_of(blocks):
            # The same button keeps its number while its message is edited.
            key = (channel, ts, element.get("action_id", ""), element.get("value", ""))
            number = self._numbers.setdefault(key, len(self._numbers) + 1)
            shown.add(number)
            self.buttons[number] = Button(
                number, ts, channel, block.get("block_id", ""), element,
                self.slack.response_url(channel, self.user_id, message_ts=ts),
            )
            label = plain(block["text"]["text"]).split("\n")[0] if block.get("type") == "section" else ""
            lines.append(f"  [{number}] {element['text']['text']}" + (f"  ({label})" if label else ""))
            self._button_added.notify_all()
        self._retire(channel, ts, keep=shown)
        return lines

    def _retire(self, channel: str, ts: str, *, keep: set[int]) -> None:
        """Buttons this version of the message no longer shows are gone, as they are in Slack."""
        for number, button in list(self.buttons.items()):
            if button.channel == channel and button.message_ts == ts and number not in keep:
                del self.buttons[number]
                self._retired.add(number)
        self._button_added.notify_all()

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
        if line == "wait":
            if not self.drain():
                self.say("(some jobs were still running at their deadline)")
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
        # Typed ahead (piped input): give the message carrying it a moment to arrive, while
        # something that could still post it runs. Under the lock no message is shown meanwhile.
        stop = time.monotonic() + BUTTON_WAIT
        with self._button_added:
            while number not in self.buttons and number not in self._retired and time.monotonic() < stop \
                    and not self._idle():
                self._button_added.wait(0.2)
            button = self.buttons.get(number)
        if button is None:
            self.say(GONE if number in self._retired else f"There is no button [{number}].")
            return
        if not self._still_shown(button):
            self.say(GONE)
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
            if not self._still_shown(button):  # edited away while the dialog was open
                self.say(GONE)
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

    def _still_shown(self, button: Button) -> bool:
        """Is the button on its message as the channel shows it now? Asked of the local Slack
        itself, not of what was printed: an edit may have landed a moment ago."""
        key = (button.element.get("action_id"), button.element.get("value"))
        blocks = self._blocks_of(button.channel, button.message_ts)
        return any((e.get("action_id"), e.get("value")) == key for _, e in buttons_of(blocks))

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
    def _idle(self) -> bool:
        """Nothing could post a message: none queued, delayed or in a worker's hands, no job open."""
        queues = self.rt.broker.queues.values()  # type: ignore[attr-defined]
        return not any(q.unfinished_tasks for q in queues) and not self.open_jobs()

    def open_jobs(self) -> list[Job]:
        """Jobs that have not ended, or whose outcome is not shown yet."""
        return [j for j in self.rt.store.recent(None, limit=200) if not (j.terminal and j.outcome_posted)]

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every job has ended and its outcome is posted: ``timeout`` seconds, or by
        default as long as the jobs' own deadlines (see :func:`drain_until`)."""
        # A message that makes a job (`digest run` answers before its run is a job) is handled
        # first, so that job is waited for too.
        queued = [q for q in (self.rt.broker.queues.get(n) for n in QUEUES) if q is not None]  # type: ignore[attr-defined]
        settle = time.monotonic() + 10
        while any(q.unfinished_tasks for q in queued) and time.monotonic() < settle:
            time.sleep(0.05)
        open_jobs = self.open_jobs()
        if not open_jobs:
            return True
        if timeout is None:
            until = drain_until([j.deadline for j in open_jobs]) or self.rt.clock()
            count = len(open_jobs)
            self.say(f"(waiting for {count} running job{'s' if count > 1 else ''}: at most until "
                     f"{'their deadlines' if count > 1 else 'its deadline'}, in {duration(until - DRAIN_GRACE - self.rt.clock())})")
            timeout = until - self.rt.clock()
        stop = time.monotonic() + timeout
        swept = 0.0
        while time.monotonic() < stop:
            open_jobs = self.open_jobs()
            if not open_jobs:
                return True
            # A job past its deadline is failed by the sweep, which gives it SWEEP_GRACE more in
            # case a step is about to notice; at the end of the input nothing is: fail it now.
            if any(j.deadline < self.rt.clock() for j in open_jobs) and time.monotonic() - swept > 2:
                swept = time.monotonic()
                sweeper.sweep(self.rt, now=self.rt.clock() + SWEEP_GRACE)
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self._stopping.set()
        self.worker.stop(timeout=2000)
        self.http.close()
        self.sandbox.stop()
        self.slack.stop()


def run_console(*, ready_after: float = 4.0, user_id: str = "U0YOU", admin: bool = False,
                stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    state = state_dir()
    log = log_to_file(state)  # before the worker starts: no library line may reach the terminal
    console = Console(out=out, ready_after=ready_after, user_id=user_id, admin=admin)
    reader = LineReader(stdin, state / "console_history")
    console.say(intro(console.vendors, str(log)))
    console.reader = reader
    lines = reader.lines(lambda prompt: console.say(prompt))
    try:
        for line in lines:
            if not reader.interactive:
                console.say(f"> {line.rstrip()}")
            if not console.handle(line, lines):
                break
        else:
            if not console.drain():
                console.say("(some jobs were still running at their deadline; stopping anyway)")
                return 1
    finally:
        console.reader = None
        reader.save()
        console.close()
    return 0



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

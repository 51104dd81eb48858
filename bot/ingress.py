"""The ingress: a slash command or a click becomes a recorded, enqueued job, or a private answer.

Nothing here calls a vendor or waits on Slack: every path answers from Redis and the parser,
well inside Slack's 3 s deadline. The Bolt listeners (``bot.app``), Socket Mode and the console
all come through here. What each command does is declared with the command (its handler, in
the vendor's folder); what each button does, with the button.

Before anything is recorded, a request must come from a channel in ``ADOPS_CHANNELS`` (commands
and clicks alike), name only what the vendor's settings allow (``VendorSettings.refusal``) and
stay within the per-person and per-channel limits, which the job store checks in the same Lua
call that records the job. A refused request records and enqueues nothing.

Refusals speak to who asked: only admins (who can change the settings) are told which variable
to set; everyone else gets plain words, and the operator's hint goes to the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from bot.builtin import build_registry
from workers import render, steps
from workers.errors import RateLimited, UsageError
from workers.grammar.lexer import tokenize
from workers.intake import Context, Reply, Submit
from workers.jobs import TERMINAL, Job
from workers.limits import RateLimits
from workers.runtime import Runtime
from workers.submit import quietly, submit
from workers.vendors.spec import Catalogue

__all__ = ["CLICK_QUEUE_DOWN", "QUEUE_DOWN", "Ingress", "ephemeral"]

log = logging.getLogger(__name__)

#: The same person asking for the same thing in the same channel within this many seconds is a
#: double submit (a second Enter, a flaky phone), not a second request.
DOUBLE_SUBMIT_WINDOW = 10
#: Slack retries a click it thinks we missed; the same action_ts within this long is that retry.
CLICK_MEMORY = 86_400
#: The window of ADOPS_RATE_PER_USER and ADOPS_RATE_PER_CHANNEL, in seconds.
RATE_WINDOW = 60.0

QUEUE_DOWN = "Sorry, the queue isn't answering just now, so nothing was queued. Please try again in a minute."
CLICK_QUEUE_DOWN = "Sorry, the queue isn't answering just now, so that click changed nothing. Please try again in a minute."
CHANNEL_REFUSED = "adops isn't enabled in this channel; nothing was changed. Ask an admin to enable it here."
CHANNEL_REFUSED_ADMIN = "adops isn't enabled in this channel; nothing was changed. Add it to ADOPS_CHANNELS to enable it."


class Ingress:
    def __init__(self, rt: Runtime, vendors: Catalogue) -> None:
        self.rt = rt
        self.vendors = vendors
        self.registry = build_registry(vendors)
        # Private answers to clicks that must not go through the queue (see ``tell``); a few
        # threads, so a flood of refused clicks can't start a thread each.
        self._replies = ThreadPoolExecutor(max_workers=4, thread_name_prefix="adops-reply")

    # -- slash command --------------------------------------------------------------------------
    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = self.rt.settings
        channel_id, user_id = body.get("channel_id", ""), body.get("user_id", "")
        admin = settings.is_admin(user_id)
        if not settings.channel_allowed(channel_id):
            log.warning("a command in channel %s, which ADOPS_CHANNELS does not list, was refused", channel_id)
            return ephemeral(CHANNEL_REFUSED_ADMIN if admin else CHANNEL_REFUSED)
        today = datetime.fromtimestamp(self.rt.clock(), settings.zone).date()
        try:
            parsed = self.registry.parse(body.get("text", ""), today=today)
        except UsageError as exc:
            absent = self._absent_vendor(body.get("text", ""), admin)
            # The parser's words with what was typed inside: its code spans stay, nothing else is live.
            return ephemeral(absent or render.sanitize(str(exc)))
        if parsed.spec.admin_only and not admin:
            log.warning("%s, not in ADOPS_ADMINS, was refused `%s`", user_id, parsed.spec.name)
            return ephemeral(f"Only admins can use `/adops {parsed.spec.name}`; nothing was changed.")
        if parsed.spec.handler is None:
            return ephemeral(f"`{parsed.name}` is not available yet.")
        outcome = parsed.spec.handler(parsed, Context(self.rt, user_id, channel_id, today))
        if isinstance(outcome, Reply):
            # A handler's answer, made safe in one place (mentions of valid user ids stay).
            reply = render.Rendered(render.sanitize(outcome.text, mentions=True), outcome.blocks)
            return ephemeral(reply.text, reply.blocks)
        return self._enqueue(body, parsed.text, outcome)

    def _absent_vendor(self, text: str, admin: bool) -> str | None:
        """"<Vendor> is not set up here", for a command naming a vendor this deployment does not
        have (rather than "Unknown subcommand", which reads as a typo), or None."""
        try:
            words = [word.lower() for word in tokenize(text)[:3]]
        except Exception:  # an unclosed quote: the parser's answer says what to fix
            return None
        display = next((self.vendors.absent[w] for w in words if w in self.vendors.absent), None)
        if display is None:
            return None
        if admin:
            return (f"{display} is not set up here: this adops has no {display} connector installed yet. "
                    f"Once one is, its commands appear in `/adops help`. Nothing was queued.")
        return f"{display} is not set up here, so nothing was queued. Ask an admin if your team needs it."

    def _enqueue(self, body: dict[str, Any], command: str, submit: Submit) -> dict[str, Any]:
        rt = self.rt
        user_id, channel_id = body.get("user_id", ""), body.get("channel_id", "")
        admin = rt.settings.is_admin(user_id)
        missing = self.vendors.missing_key(rt.settings, submit.vendor)
        if missing:
            name = self.vendors.display(submit.vendor)
            log.warning("%s command refused: %s is not set", name, missing)
            if admin:
                return ephemeral(f"{name} is not configured here: an admin needs to set {missing}.")
            return ephemeral(f"{name} is not set up here yet, so nothing was queued. Ask an admin to set it up.")
        refusal = self._refusal(submit.vendor, submit.params, admin=admin)
        if refusal:
            return ephemeral(render.sanitize(refusal))
        fingerprint = hashlib.sha1(f"{user_id}:{channel_id}:{command}".encode()).hexdigest()
        double_key = f"{rt.store.prefix}recent:{fingerprint}"
        try:
            job, earlier = self._submit(
                dedup_key=double_key, kind=submit.kind, vendor=submit.vendor, command=command,
                summary=submit.summary, params=submit.params, user_id=user_id, channel_id=channel_id,
                team_id=body.get("team_id", ""), response_url=body.get("response_url", ""),
            )
        except RateLimited as exc:
            return ephemeral(_rate_refusal(exc, admin=admin))
        if earlier is not None:
            found = rt.store.get(earlier)
            return ephemeral(_double_submit(earlier, found.state if found else "queued",
                                            private=bool(found and found.private)))
        if job is None:
            # The job was failed (or will be by the sweeper); let an immediate retry through.
            quietly("forget the double-submit key", lambda: rt.redis.delete(double_key))
            return ephemeral(QUEUE_DOWN)
        queued = render.queued(job)
        return ephemeral(f"{queued}\n{render.sanitize(submit.note)}" if submit.note else queued)

    def _refusal(self, vendor: str, params: Mapping[str, Any], *, admin: bool) -> str | None:
        """Why the vendor's settings refuse these params (an integration nobody listed), or None."""
        try:
            settings = self.rt.settings.vendor(vendor)
        except KeyError:
            return None
        refusal = settings.refusal(params, admin=admin)
        if refusal:
            log.warning("%s request refused by its settings: %s", vendor, settings.refusal(params, admin=True))
        return refusal

    def _submit(self, *, dedup_key: str | None = None, **fields: Any) -> tuple[Job | None, str | None]:
        """:func:`workers.submit.submit` within the double-submit window and the rate limits."""
        settings = self.rt.settings
        limits = RateLimits(settings.adops_rate_per_user, settings.adops_rate_per_channel, RATE_WINDOW)
        return submit(self.rt, dedup_key=dedup_key, dedup_window=DOUBLE_SUBMIT_WINDOW, limits=limits, **fields)

    # -- buttons --------------------------------------------------------------------------------
    def cancel_click(self, body: dict[str, Any]) -> None:
        action = (body.get("actions") or [{}])[0]
        user_id, channel_id, _ = _click_context(body)
        if not self.rt.settings.channel_allowed(channel_id):
            # A button posted before the channel left the list, or a payload written by hand.
            self.tell(body.get("response_url", ""), self._channel_refused(user_id, channel_id))
            return
        # A double click sends two payloads with different action_ts but the same outcome; the
        # job's compare-and-set makes the second a no-op. The claim keeps its reply quiet too.
        if not self.rt.store.claim(f"action:{action.get('action_ts', '')}", CLICK_MEMORY):
            return
        reply = steps.cancel_for(self.rt, str(action.get("value", "")), user_id)
        if not reply.startswith("Cancelled") and body.get("response_url"):
            self.rt.dispatch.notice(body["response_url"], reply)

    def task_click(self, body: dict[str, Any]) -> None:
        """A button that changes or pages the message it sits on, through a task job."""
        action = (body.get("actions") or [{}])[0]
        button = self.vendors.button(action.get("action_id", ""))
        user_id, channel_id, ts = _click_context(body)
        response_url = body.get("response_url", "")
        if button is None:
            return  # not ours
        if not self.rt.settings.channel_allowed(channel_id):
            self.tell(response_url, self._channel_refused(user_id, channel_id))
            return
        claim = f"action:{action.get('action_ts', '')}"
        if not self.rt.store.claim(claim, CLICK_MEMORY):
            return  # Slack retried the same click
        admin = self.rt.settings.is_admin(user_id)
        if button.admin_only and not admin:
            log.warning("%s, not in ADOPS_ADMINS, clicked %s; refused", user_id, button.action_id)
            if response_url:
                self.rt.dispatch.notice(response_url, "Only admins can change this; nothing was changed.")
            return
        value = button.read(str(action.get("value", "")))
        if value is None:
            log.warning("click on %s with a value it did not write; ignored", button.action_id)
            return
        vendor = self.vendors.button_vendor(button.action_id)
        params = {"op": button.op, **button.params(value), "update": {"channel": channel_id, "ts": ts}}
        refusal = self._refusal(vendor, params, admin=admin)  # a hand-written value may name anything
        if refusal:
            self.tell(response_url, refusal)
            return
        try:
            job, _ = self._submit(
                kind="task", vendor=vendor, command=f"(button) {button.action_id}",
                summary=button.summary(value), params=params, user_id=user_id, channel_id=channel_id,
                team_id=(body.get("team") or {}).get("id", ""), response_url=response_url,
            )
        except RateLimited as exc:
            # Refused, not done: the same click may be sent again once a slot is free.
            self.rt.store.release(claim)
            self.tell(response_url, _rate_refusal(exc, admin=admin))
            return
        if job is None:
            self.tell(response_url, CLICK_QUEUE_DOWN)

    def _channel_refused(self, user_id: str, channel_id: str) -> str:
        log.warning("a click in channel %s, which ADOPS_CHANNELS does not list, was refused", channel_id)
        return CHANNEL_REFUSED_ADMIN if self.rt.settings.is_admin(user_id) else CHANNEL_REFUSED

    # -- private answers to clicks ----------------------------------------------------------------
    def tell(self, response_url: str, text: str) -> None:
        """Answer a click privately, from this process, straight to its response_url.

        For answers that must not go through the queue: when the queue is what is down, and
        for refusals (a flood of refused clicks must cost no queue work). Off the request
        thread, so the ack is not held up by Slack.
        """
        if response_url:
            self._replies.submit(self._post_reply, response_url, text)

    def _post_reply(self, response_url: str, text: str) -> None:
        message = render.text_message(text)
        try:
            self.rt.slack.respond(response_url, message.text, message.blocks, in_channel=False)
        except Exception as exc:  # best effort: the click itself changed nothing
            log.warning("private answer to a click not delivered: %s", type(exc).__name__)


def _rate_refusal(exc: RateLimited, *, admin: bool) -> str:
    who, setting = ("You have", "ADOPS_RATE_PER_USER") if exc.scope == "user" else (
        "This channel has", "ADOPS_RATE_PER_CHANNEL")
    window = "minute" if exc.window == 60 else f"{exc.window:g} s"
    most = f"the most {setting} allows" if admin else "the most allowed here"
    return (
        f"{who} started {exc.limit} jobs in the last {window}, {most}, so nothing was queued. "
        f"Please try again in {exc.retry_after} s."
    )


def _double_submit(earlier: str, state: str, *, private: bool) -> str:
    """The answer to the same request twice within DOUBLE_SUBMIT_WINDOW: the earlier job."""
    if state not in TERMINAL:
        return f"You asked for this a moment ago: it is job `{earlier}`. `/adops jobs cancel {earlier}` stops it."
    ended = {"delivered": "has already finished", "cancelled": "was cancelled"}.get(state, "has already ended")
    # A refused job's answer went to the person alone (workers/private.py), not to the channel.
    where = "its answer was sent to you privately" if private else "its outcome is in this channel"
    return (
        f"You asked for this a moment ago: it is job `{earlier}`, which {ended} ({where}). "
        "Nothing new was queued; to run it again, ask once more in a few seconds."
    )


def _click_context(body: dict[str, Any]) -> tuple[str, str, str]:
    """(user, channel, message ts) of a block_actions payload."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
    return (body.get("user") or {}).get("id", ""), channel, ts


def ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text, "response_type": "ephemeral"}
    if blocks:
        payload["blocks"] = blocks
    return payload

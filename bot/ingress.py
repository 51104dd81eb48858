"""The ingress: a slash command or a click becomes a recorded, enqueued job, or a private answer.

Nothing here calls a vendor or waits on Slack: every path answers from Redis and the parser,
well inside Slack's 3 s deadline. The Bolt listeners (``bot.app``), Socket Mode and the console
all come through here. What each command does is declared with the command (its handler, in
the vendor's folder); what each button does, with the button.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from bot.builtin import build_registry
from workers import render, steps
from workers.errors import UsageError
from workers.intake import Context, Reply, Submit
from workers.jobs import Job, new_job_id
from workers.runtime import Runtime
from workers.vendors.spec import Catalogue

__all__ = ["Ingress", "ephemeral"]

log = logging.getLogger(__name__)

#: The same person asking for the same thing in the same channel within this many seconds is a
#: double submit (a second Enter, a flaky phone), not a second request.
DOUBLE_SUBMIT_WINDOW = 10
#: A one-shot task (a listing, a toggle) that has not ended after this long is failed.
TASK_DEADLINE = 15 * 60
#: Slack retries a click it thinks we missed; the same action_ts within this long is that retry.
CLICK_MEMORY = 86_400


class Ingress:
    def __init__(self, rt: Runtime, vendors: Catalogue) -> None:
        self.rt = rt
        self.vendors = vendors
        self.registry = build_registry(vendors.commands)

    # -- slash command --------------------------------------------------------------------------
    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = self.rt.settings
        channel_id, user_id = body.get("channel_id", ""), body.get("user_id", "")
        if not settings.channel_allowed(channel_id):
            return ephemeral("adops isn't enabled in this channel. Ask an admin to add it to ADOPS_CHANNELS.")
        today = datetime.fromtimestamp(self.rt.clock(), settings.zone).date()
        try:
            parsed = self.registry.parse(body.get("text", ""), today=today)
        except UsageError as exc:
            return ephemeral(render.escape(str(exc)))
        if parsed.spec.admin_only and not settings.is_admin(user_id):
            return ephemeral(
                f"Only admins can use `/adops {parsed.spec.name}`; nothing was changed. "
                "Admins are listed in ADOPS_ADMINS."
            )
        if parsed.spec.handler is None:
            return ephemeral(f"`{parsed.name}` is not available yet.")
        outcome = parsed.spec.handler(parsed, Context(self.rt, user_id, channel_id, today))
        if isinstance(outcome, Reply):
            return ephemeral(outcome.text, outcome.blocks)
        return self._enqueue(body, parsed.text, outcome)

    def _enqueue(self, body: dict[str, Any], command: str, submit: Submit) -> dict[str, Any]:
        rt = self.rt
        missing = self.vendors.missing_key(rt.settings, submit.vendor)
        if missing:
            name = self.vendors.display(submit.vendor)
            return ephemeral(f"{name} is not configured here: an admin needs to set {missing}.")
        user_id, channel_id = body.get("user_id", ""), body.get("channel_id", "")
        fingerprint = hashlib.sha1(f"{user_id}:{channel_id}:{command}".encode()).hexdigest()
        double_key = f"{rt.store.prefix}recent:{fingerprint}"
        job, earlier = self._submit(
            Job(
                id=new_job_id(), kind=submit.kind, vendor=submit.vendor, command=command, summary=submit.summary,
                params=submit.params, user_id=user_id, channel_id=channel_id, team_id=body.get("team_id", ""),
                response_url=body.get("response_url", ""), created_at=0.0, deadline=0.0,
            ),
            dedup_key=double_key,
        )
        if earlier is not None:
            return ephemeral(
                f"You asked for this a moment ago: it is job `{earlier}`. `/adops jobs cancel {earlier}` stops it."
            )
        if job is None:
            rt.redis.delete(double_key)
            return ephemeral("Sorry, I couldn't queue that just now (the queue is unreachable). Please try again.")
        return ephemeral(render.queued(job))

    def _submit(self, job: Job, *, dedup_key: str | None = None) -> tuple[Job | None, str | None]:
        """Record a job and enqueue its first step. Returns (the job, None), or (None, the id of
        the same request made moments ago), or (None, None) if it could not be queued."""
        rt = self.rt
        now = rt.clock()
        deadline = rt.settings.adops_export_deadline if job.kind == "export" else TASK_DEADLINE
        job = job.model_copy(update={"created_at": now, "deadline": now + deadline})
        job, earlier = rt.store.create(job, dedup_key=dedup_key, dedup_window=DOUBLE_SUBMIT_WINDOW)
        if earlier is not None:
            return None, earlier
        try:
            rt.dispatch.start(job.kind, job.id)
        except Exception:
            # Never show "queued" for a job no worker will see.
            rt.store.transition(job.id, ["queued"], "failed", error="it could not be queued", finished_at=now)
            log.exception("enqueue failed for %s", job.id)
            return None, None
        return job, None

    # -- buttons --------------------------------------------------------------------------------
    def cancel_click(self, body: dict[str, Any]) -> None:
        action = (body.get("actions") or [{}])[0]
        # A double click sends two payloads with different action_ts but the same outcome; the
        # job's compare-and-set makes the second a no-op. The claim keeps its reply quiet too.
        if not self.rt.store.claim(f"action:{action.get('action_ts', '')}", CLICK_MEMORY):
            return
        user_id = (body.get("user") or {}).get("id", "")
        reply = steps.cancel_for(self.rt, str(action.get("value", "")), user_id)
        if not reply.startswith("Cancelled") and body.get("response_url"):
            self.rt.dispatch.notice(body["response_url"], reply)

    def task_click(self, body: dict[str, Any]) -> None:
        """A button that changes or pages the message it sits on, through a task job."""
        action = (body.get("actions") or [{}])[0]
        button = self.vendors.button(action.get("action_id", ""))
        user_id, channel_id, ts = _click_context(body)
        response_url = body.get("response_url", "")
        if button is None or not self.rt.store.claim(f"action:{action.get('action_ts', '')}", CLICK_MEMORY):
            return  # not ours, or Slack retried the same click
        if button.admin_only and not self.rt.settings.is_admin(user_id):
            if response_url:
                self.rt.dispatch.notice(response_url, "Only admins (ADOPS_ADMINS) can change this; nothing was changed.")
            return
        value = button.read(str(action.get("value", "")))
        if value is None:
            log.warning("click on %s with a value it did not write; ignored", button.action_id)
            return
        vendor = self.vendors.button_vendor(button.action_id)
        job, _ = self._submit(
            Job(
                id=new_job_id(), kind="task", vendor=vendor, command=f"(button) {button.action_id}",
                summary=button.summary(value),
                params={"op": button.op, **button.params(value), "update": {"channel": channel_id, "ts": ts}},
                user_id=user_id, channel_id=channel_id, team_id=(body.get("team") or {}).get("id", ""),
                response_url=response_url, created_at=0.0, deadline=0.0,
            )
        )
        if job is None and response_url:
            self.rt.dispatch.notice(response_url, "Sorry, that click could not be queued; please try again.")


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

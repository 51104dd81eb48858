"""The Bolt app: verify, parse, authorize, record the job, enqueue, ack.

Nothing here calls a vendor or waits on Slack: every listener answers from Redis and the parser,
well inside Slack's 3 s deadline. What happens after the ack is the workers' business.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot import commands
from bot.commands import Parsed, UsageError
from workers import audit, render, steps
from workers.jobs import Job, new_job_id
from workers.runtime import Runtime

__all__ = ["Ingress", "create_app"]

log = logging.getLogger(__name__)

#: The same person asking for the same thing in the same channel within this many seconds is a
#: double submit (a second Enter, a flaky phone), not a second request.
DOUBLE_SUBMIT_WINDOW = 10


def create_app(rt: Runtime, *, client: WebClient | None = None, token_verification: bool = True) -> App:
    """The Bolt app for HTTP or Socket Mode. ``client`` defaults to the egress client, whose
    ``base_url`` is ``SLACK_API_URL`` (a fake Slack in tests, a local one in the console)."""
    secret = rt.settings.slack_signing_secret
    app = App(
        client=client or rt.slack.client,
        signing_secret=secret.get_secret_value() if secret else None,
        # The listener enqueues before it acks; answering after it returns means "queued" is
        # only ever shown for a job that is durably recorded.
        process_before_response=True,
        token_verification_enabled=token_verification,
        request_verification_enabled=True,
        logger=logging.getLogger("adops.bolt"),
    )
    ingress = Ingress(rt)

    @app.command("/adops")
    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        ack(**ingress.command(body))

    @app.action(render.CANCEL_ACTION)
    def on_cancel_click(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ingress.cancel_click(body)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> dict[str, Any] | None:
        # The message names the kind of failure only: exception text may hold values we must
        # not echo (a URL with a token in a misconfigured base URL, say).
        log.exception("listener failed: %s", type(error).__name__)
        return None

    return app


class Ingress:
    """Listener bodies, separate from Bolt so the console and Socket Mode share them."""

    def __init__(self, rt: Runtime) -> None:
        # Imported here, not at module level: actors bind to the broker of the booted runtime.
        from workers import actors

        self.rt = rt
        self.actors = actors

    # -- slash command ----------------------------------------------------------------------
    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = self.rt.settings
        channel_id = body.get("channel_id", "")
        if not settings.channel_allowed(channel_id):
            return _ephemeral("adops isn't enabled in this channel. Ask an admin to add it to ADOPS_CHANNELS.")
        today = datetime.fromtimestamp(self.rt.clock(), settings.zone).date()
        try:
            parsed = commands.parse(body.get("text", ""), today=today)
        except UsageError as exc:
            return _ephemeral(render.escape(str(exc)))
        handler = getattr(self, "_" + parsed.name.replace(" ", "_"), None)
        if handler is None:
            return _ephemeral(f"`{parsed.name}` is not available yet.")
        return handler(parsed, body)

    def _help(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        message = render.help_message(commands.help_sections(parsed.args.get("topic")))
        return _ephemeral(message.text, message.blocks)

    def _jobs(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        everyone = parsed.args.get("scope") == "all"
        user_id = body.get("user_id", "")
        jobs = self.rt.store.recent(None if everyone else user_id, limit=20 if everyone else 10)
        message = render.jobs_list(jobs, self.rt.clock(), everyone=everyone)
        return _ephemeral(message.text, message.blocks)

    def _jobs_cancel(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        return _ephemeral(self.cancel(parsed.args["job_id"], body.get("user_id", "")))

    def _export_instal(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        r = parsed.args["range"]
        interval = parsed.args.get("interval") or "daily"
        params: dict[str, Any] = {
            "start_date": r.start.isoformat(),
            "stop_date": r.end.isoformat(),
            "interval": interval,
            "csv_headers": bool(parsed.args.get("headers", True)),
            "format": "csv",
        }
        if parsed.args.get("sort"):
            params["sorting"] = parsed.args["sort"]
        return self._enqueue_export(body, parsed, "instal", params, f"Instal export {r}, {interval}")

    # -- shared -----------------------------------------------------------------------------
    def _enqueue_export(
        self, body: dict[str, Any], parsed: Parsed, vendor: str, params: dict[str, Any], summary: str
    ) -> dict[str, Any]:
        rt = self.rt
        missing = rt.vendor_configured(vendor)
        if missing:
            return _ephemeral(
                f"{render.VENDOR_NAMES[vendor]} is not configured here: an admin needs to set {missing}."
            )
        user_id, channel_id = body.get("user_id", ""), body.get("channel_id", "")
        fingerprint = hashlib.sha1(f"{user_id}:{channel_id}:{parsed.text}".encode()).hexdigest()
        double_key = f"{rt.store.prefix}recent:{fingerprint}"
        job_id = new_job_id()
        previous = rt.redis.set(double_key, job_id, nx=True, ex=DOUBLE_SUBMIT_WINDOW, get=True)
        if previous is not None:
            earlier = rt.store.get(previous.decode() if isinstance(previous, bytes) else previous)
            if earlier is not None and not earlier.terminal:
                return _ephemeral(
                    f"You asked for this a moment ago: it is job `{earlier.id}` ({earlier.state}). "
                    f"`/adops jobs cancel {earlier.id}` stops it."
                )
        now = rt.clock()
        job = rt.store.create(
            Job(
                id=job_id,
                kind="export",
                vendor=vendor,
                command=parsed.text,
                summary=summary,
                params=params,
                user_id=user_id,
                channel_id=channel_id,
                team_id=body.get("team_id", ""),
                response_url=body.get("response_url", ""),
                created_at=now,
                deadline=now + rt.settings.adops_export_deadline,
            )
        )
        try:
            self.actors.FIRST_STEP[job.kind].send(job.id)
        except Exception:
            # Never show "queued" for a job no worker will see.
            rt.store.transition(job.id, ["queued"], "failed", error="it could not be queued", finished_at=now)
            rt.redis.delete(double_key)
            log.exception("enqueue failed for %s", job.id)
            return _ephemeral("Sorry, I couldn't queue that just now (the queue is unreachable). Please try again.")
        return _ephemeral(render.queued(job))

    def cancel(self, job_id: str, user_id: str) -> str:
        rt = self.rt
        job = rt.store.get(job_id)
        if job is None:
            return f"There is no job `{job_id}` (jobs are kept 30 days). `/adops jobs` lists yours."
        if job.user_id != user_id and not rt.settings.is_admin(user_id):
            return f"Only <@{job.user_id}> or an admin can cancel `{job_id}`."
        if job.terminal:
            return f"`{job_id}` has already ended ({job.state}); nothing to cancel."
        before = job.state
        if not steps.cancel(rt, job_id, user_id):
            fresh = rt.store.get(job_id)
            return f"`{job_id}` ended ({fresh.state if fresh else 'gone'}) before it could be cancelled."
        entry = audit.record(
            rt.redis,
            rt.store.prefix,
            who=user_id,
            what="cancelled job",
            target=job_id,
            before=before,
            after="cancelled",
            when=rt.clock(),
        )
        self.actors.publish.send(job_id)
        if rt.settings.adops_audit_channel:
            self.actors.audit_post.send(entry)
        return f"Cancelled `{job_id}` ({job.summary})."

    # -- buttons ----------------------------------------------------------------------------
    def cancel_click(self, body: dict[str, Any]) -> None:
        action = (body.get("actions") or [{}])[0]
        job_id = str(action.get("value", ""))
        user_id = (body.get("user") or {}).get("id", "")
        # A double click sends two payloads with different action_ts but the same outcome; the
        # job's compare-and-set makes the second a no-op. The claim keeps its reply quiet too.
        if not self.rt.store.claim(f"action:{action.get('action_ts', '')}", 86_400):
            return
        reply = self.cancel(job_id, user_id)
        if not reply.startswith("Cancelled") and body.get("response_url"):
            self.actors.ephemeral_notice.send(body["response_url"], reply)


def _ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text, "response_type": "ephemeral"}
    if blocks:
        payload["blocks"] = blocks
    return payload


class FormSafeBoltRequest(BoltRequest):
    """A BoltRequest whose form body is parsed by the form rules alone.

    Bolt treats any form body containing the characters ``payload`` as an interactivity payload;
    a slash command whose text (or channel name) contains that word would reach us empty.
    """

    def __init__(self, *, body: str, query: Any = None, headers: Any = None) -> None:
        super().__init__(body=body, query=query, headers=headers)
        from urllib.parse import parse_qsl

        from slack_bolt.context.context import BoltContext
        from slack_bolt.request.internals import build_context

        if "payload" in body and self.content_type != "application/json" and not body.startswith("{"):
            params = dict(parse_qsl(body, keep_blank_values=True))
            if "payload" not in params:
                self.body = params
                self.context = build_context(BoltContext({}), self.body)

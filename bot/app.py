"""The Bolt app: verify, parse, authorize, record the job, enqueue, ack.

Nothing here calls a vendor or waits on Slack: every listener answers from Redis and the parser,
well inside Slack's 3 s deadline. What happens after the ack is the workers' business.
"""

from __future__ import annotations

import hashlib
import json
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
#: A one-shot task (a listing, a toggle) that has not ended after this long is failed.
TASK_DEADLINE = 15 * 60


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
        try:
            answer = ingress.command(body)
        except Exception as exc:
            # A bug or an unreachable Redis: say so in Slack rather than let Slack show
            # "dispatch_failed"; the log has the details (never the values).
            log.exception("command failed: %s", type(exc).__name__)
            answer = _ephemeral("Sorry, something went wrong on our side and nothing was queued. Please try again.")
        ack(**answer)

    @app.action(render.CANCEL_ACTION)
    def on_cancel_click(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ingress.cancel_click(body)

    for action_id in BUTTON_TASKS:

        @app.action(action_id)
        def on_task_click(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            ingress.task_click(body)

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
        if parsed.spec.admin_only and not settings.is_admin(body.get("user_id", "")):
            return _ephemeral(
                f"Only admins can use `/adops {parsed.spec.name}`; nothing was changed. "
                "Admins are listed in ADOPS_ADMINS."
            )
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
        return self._enqueue(body, parsed, "export", "instal", params, f"Instal export {r}, {interval}")

    # -- 24Metrics --------------------------------------------------------------------------
    def _integration(self, parsed: Parsed) -> str | None:
        return parsed.args.get("integration") or self.rt.settings.metrics24_integration_id

    def _export_24metrics(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        r = parsed.args["range"]
        params: dict[str, Any] = {
            "kind": parsed.args["kind"],
            "start_date": r.start.isoformat(),
            "end_date": r.end.isoformat(),
            "fields": list(parsed.args["fields"]) if parsed.args["fields"] else None,
            "extra": list(parsed.args["extra"]) if parsed.args["extra"] else None,
            "delimiter": parsed.args.get("delimiter"),
            "integration": self._integration(parsed),
        }
        return self._enqueue(body, parsed, "export", "24metrics", params, f"24Metrics {parsed.args['kind']} export {r}")

    def _export_24metrics_list(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        return self._task(body, parsed, "m24_exports", {}, "24Metrics recent exports")

    def _export_24metrics_delete(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        export_id = parsed.args["export_id"]
        return self._task(body, parsed, "m24_export_delete", {"export_id": export_id}, f"Delete 24Metrics export {export_id}")

    def _filters(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        name = parsed.filters.get("name")
        summary = "24Metrics filter groups" + (f" matching “{name}”" if name else "")
        return self._task(body, parsed, "fg_list", {"name": name, "page": 0}, summary, needs_integration=True)

    def _monitor(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        group, mode = parsed.args["group"], parsed.args["mode"]
        op = "fg_bulk" if group.lower() == "all" else "fg_set"
        params = {"group": group, "field": "monitoring_mode", "to": mode == "on"}
        what = "every filter group" if op == "fg_bulk" else f"filter group {group}"
        return self._task(body, parsed, op, params, f"Monitoring {mode} for {what}", needs_integration=True)

    def _filters_active(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        group, mode = parsed.args["group"], parsed.args["mode"]
        params = {"group": group, "field": "active", "to": mode == "on"}
        summary = f"{'Activate' if mode == 'on' else 'Deactivate'} filter group {group}"
        return self._task(body, parsed, "fg_set", params, summary, needs_integration=True)

    def _filters_delete(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        group = parsed.args["group"]
        return self._task(body, parsed, "fg_delete_prompt", {"group": group}, f"Delete filter group {group}?",
                          needs_integration=True)

    def _fraud(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        r = parsed.args["range"]
        params = {"start_date": r.start.isoformat(), "end_date": r.end.isoformat()}
        return self._task(body, parsed, "fraud", params, f"24Metrics fraud summary {r}", needs_integration=True)

    def _lookup(self, what: str, key: str, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        params = {
            "what": what,
            "id": parsed.args[key],
            "offer": parsed.args.get("offer"),
            "publisher": parsed.args.get("publisher"),
            "date": parsed.args.get("date"),
        }
        return self._task(body, parsed, "lookup", params, f"24Metrics {what} {parsed.args[key]}", needs_integration=True)

    def _lookup_click(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        return self._lookup("click", "tx_id", parsed, body)

    def _lookup_conversion(self, parsed: Parsed, body: dict[str, Any]) -> dict[str, Any]:
        return self._lookup("conversion", "hash", parsed, body)

    # -- shared -----------------------------------------------------------------------------
    def _task(
        self, body: dict[str, Any], parsed: Parsed, op: str, params: dict[str, Any], summary: str,
        *, needs_integration: bool = False,
    ) -> dict[str, Any]:
        integration = self._integration(parsed)
        if needs_integration and not integration:
            return _ephemeral(
                "Which 24Metrics integration? Pass `integration=<id>`, or have an admin set METRICS24_INTEGRATION_ID."
            )
        return self._enqueue(body, parsed, "task", "24metrics", {"op": op, "integration": integration, **params}, summary)

    def _enqueue(
        self, body: dict[str, Any], parsed: Parsed, kind: str, vendor: str, params: dict[str, Any], summary: str
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
        job, earlier = self._submit(
            job_id=new_job_id(), kind=kind, vendor=vendor, command=parsed.text, summary=summary, params=params,
            user_id=user_id, channel_id=channel_id, team_id=body.get("team_id", ""),
            response_url=body.get("response_url", ""), dedup_key=double_key,
        )
        if earlier is not None:
            return _ephemeral(
                f"You asked for this a moment ago: it is job `{earlier}`. `/adops jobs cancel {earlier}` stops it."
            )
        if job is None:
            rt.redis.delete(double_key)
            return _ephemeral("Sorry, I couldn't queue that just now (the queue is unreachable). Please try again.")
        return _ephemeral(render.queued(job))

    def _submit(self, *, dedup_key: str | None = None, **fields: Any) -> tuple[Job | None, str | None]:
        """Record a job and enqueue its first step. Returns (the job, None), or (None, the id of
        the same request made moments ago), or (None, None) if it could not be queued."""
        rt = self.rt
        now = rt.clock()
        deadline = rt.settings.adops_export_deadline if fields["kind"] == "export" else TASK_DEADLINE
        job = Job(id=fields.pop("job_id"), created_at=now, deadline=now + deadline, **fields)
        job, earlier = rt.store.create(job, dedup_key=dedup_key, dedup_window=DOUBLE_SUBMIT_WINDOW)
        if earlier is not None:
            return None, earlier
        try:
            self.actors.FIRST_STEP[job.kind].send(job.id)
        except Exception:
            # Never show "queued" for a job no worker will see.
            rt.store.transition(job.id, ["queued"], "failed", error="it could not be queued", finished_at=now)
            log.exception("enqueue failed for %s", job.id)
            return None, None
        return job, None

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
        audit.record_and_copy(rt, who=user_id, what="cancelled job", target=job_id, before=before, after="cancelled")
        self.actors.publish.send(job_id)
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

    def task_click(self, body: dict[str, Any]) -> None:
        """A button that changes or pages the message it sits on, through a task job."""
        action = (body.get("actions") or [{}])[0]
        op, admin_only, summary = BUTTON_TASKS[action.get("action_id", "")]
        user_id, channel_id, ts = _click_context(body)
        response_url = body.get("response_url", "")
        if not self.rt.store.claim(f"action:{action.get('action_ts', '')}", 86_400):
            return  # Slack retried the same click
        if admin_only and not self.rt.settings.is_admin(user_id):
            if response_url:
                self.actors.ephemeral_notice.send(
                    response_url, "Only admins (ADOPS_ADMINS) can change filter groups; nothing was changed."
                )
            return
        value = _button_value(action)
        if not value:
            return
        params = {
            "op": op,
            "integration": value.get("i"),
            "update": {"channel": channel_id, "ts": ts},
            "blocks": (body.get("message") or {}).get("blocks", []),
        }
        if op == "fg_list":
            params.update(name=value.get("q"), page=int(value.get("p", 0)))
        else:
            params.update(group_id=str(value.get("g", "")), field=value.get("f", "monitoring_mode"), to=bool(value.get("to")))
        job, _ = self._submit(
            job_id=new_job_id(), kind="task", vendor="24metrics", command=f"(button) {action.get('action_id')}",
            summary=summary.format(g=value.get("g", ""), p=int(value.get("p", 0)) + 1), params=params,
            user_id=user_id, channel_id=channel_id, team_id=(body.get("team") or {}).get("id", ""),
            response_url=response_url,
        )
        if job is None and response_url:
            self.actors.ephemeral_notice.send(response_url, "Sorry, that click could not be queued; please try again.")


#: Buttons that start a task on the message they sit on: action_id → (op, admin only, summary).
BUTTON_TASKS: dict[str, tuple[str, bool, str]] = {
    "fg_toggle": ("fg_set", True, "Switch filter group {g}"),
    "fg_delete": ("fg_delete", True, "Delete filter group {g}"),
    "fg_page_prev": ("fg_list", False, "24Metrics filter groups, page {p}"),
    "fg_page_next": ("fg_list", False, "24Metrics filter groups, page {p}"),
}


def _button_value(action: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _click_context(body: dict[str, Any]) -> tuple[str, str, str]:
    """(user, channel, message ts) of a block_actions payload."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
    return (body.get("user") or {}).get("id", ""), channel, ts


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

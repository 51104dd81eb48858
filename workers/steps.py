"""The export state machine's steps, each safe to run twice.

``request`` creates the vendor export once and stores its id; ``poll`` looks once and either
re-enqueues itself with a delay or moves the job on; ``publish`` puts the outcome where the
person will see it. None of them waits on a vendor longer than one HTTP call, so a worker thread
is busy for milliseconds per step however long the export takes.

Steps raise :class:`StepRetry` for transient trouble (Dramatiq's ``Retries`` middleware, as
declared on the actors, decides how often) and :class:`SlackRetryLater` when Slack asks us to
wait (the actor re-enqueues the step with Slack's delay, which does not spend a retry). What a
step enqueues goes through ``rt.dispatch``; what it knows of vendors comes from the catalogue.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from dramatiq.errors import Retry

from workers import audit, render
from workers.boards import Board
from workers.errors import CannotPost, ConfigError, Refused, SlackRetryLater, VendorError, VendorTransient
from workers.jobs import ACTIVE, Job
from workers.runtime import Runtime
from workers.schedule import next_poll_delay
from workers.vendors.spec import Catalogue

__all__ = ["StepRetry", "cancel", "cancel_for", "fail", "poll", "publish", "refresh_progress", "request", "sweep"]

log = logging.getLogger(__name__)

#: Slack keeps a response_url usable this long (and for five posts).
RESPONSE_URL_TTL = 30 * 60
RESPONSE_URL_USES = 5
#: Posts through a response_url kept back for the outcome (and one retry of it).
RESPONSE_URL_RESERVE = 2
#: How late past its deadline the sweeper lets a job be before failing it.
SWEEP_GRACE = 60.0

class StepRetry(Retry):
    """Transient trouble: the step runs again later (``delay`` in ms, or Dramatiq's backoff)."""


# -- the steps ------------------------------------------------------------------------------


def request(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    job = rt.store.get(job_id)
    if job is None or job.terminal:
        return
    if not job.export_id:
        if not rt.store.transition(job_id, ["queued", "requesting"], "requesting"):
            return  # cancelled (or failed) since it was queued: ask the vendor for nothing
        export_id = _vendor(rt, job, lambda: rt.client(job.vendor).create(job.params))
        if export_id is _FAILED:
            return
        if not rt.store.transition(
            job_id, ["queued", "requesting"], "waiting", export_id=export_id, vendor_state="QUEUED", last_error="",
            requested_at=rt.clock(),
        ):
            # Cancelled meanwhile (the vendor export is left to expire), or a redelivered copy got
            # here first: either way the job already has its path.
            log.info("job %s moved on while its export was created (%s)", job_id, export_id)
        job = rt.store.get(job_id)
        if job is None:
            return
    # The first progress message appears once the vendor has the export: one Slack call per
    # export fewer than posting "queued" first, and nothing to retract if the vendor says no.
    refresh_progress(rt, vendors, job)
    if job.state == "waiting":
        # Also reached by a redelivered request whose first run died after storing the id and
        # before this send; a duplicate poll collapses on ``poll_seq``.
        rt.dispatch.poll(job_id, job.poll_seq, delay=next_poll_delay(job.polls, job.requested_at or job.created_at, rt.clock()))


def poll(rt: Runtime, vendors: Catalogue, job_id: str, seq: int) -> None:
    job = rt.store.get(job_id)
    if job is None or job.state != "waiting" or job.poll_seq != seq:
        return  # finished, cancelled, or a stale duplicate of a poll that already ran
    status = _vendor(rt, job, lambda: rt.client(job.vendor).check(job.export_id))
    if status is _FAILED:
        return
    now = rt.clock()
    if status.state == "failed":
        why = f": {status.reason}" if status.reason else f" (state {status.vendor_state})"
        fail(rt, job_id, f"{vendors.display(job.vendor)} could not build the export{why}. Try again, or a shorter range.")
        return
    if status.state == "ready":
        result = {"url": status.url, "rows": status.rows, "note": status.note}
        if status.expires_at is not None:
            result["expires_at"] = status.expires_at.timestamp()
        if rt.store.transition(
            job_id,
            ["waiting"],
            "delivered",
            vendor_state=status.vendor_state,
            polls=job.polls + 1,
            result={k: v for k, v in result.items() if v is not None},
            finished_at=now,
        ):
            rt.dispatch.publish(job_id)
        return
    if now >= job.deadline:
        name = vendors.display(job.vendor)
        fail(
            rt,
            job_id,
            f"{name} had not finished the export after {render.age(job.deadline - job.created_at)} "
            f"(last state {status.vendor_state}); it may still appear in {name}'s dashboard. "
            "Try a shorter range.",
        )
        return
    # Send the next poll before advancing the sequence: dying in between leaves a duplicate
    # (harmless, it collapses) rather than no poll at all (a stuck job).
    delay = min(next_poll_delay(job.polls + 1, job.requested_at or job.created_at, now), max(1.0, job.deadline - now))
    rt.dispatch.poll(job_id, seq + 1, delay=delay)
    if rt.store.advance_poll(job_id, seq, status.vendor_state):
        fresh = rt.store.get(job_id)
        if fresh is not None:
            refresh_progress(rt, vendors, fresh)


def run_task(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    """A one-shot job: one vendor read or change, its result stored, then published."""
    job = rt.store.get(job_id)
    if job is None or job.terminal:
        return
    task = vendors.task(job.params["op"])
    if task.slow:
        refresh_progress(rt, vendors, job)  # quick tasks just post their result
    if not rt.store.transition(job_id, ["queued", "requesting"], "requesting"):
        return
    result = _vendor(rt, job, lambda: task.run(rt, job))
    if result is _FAILED:
        return
    if rt.store.transition(job_id, ["requesting"], "delivered", result=result, finished_at=rt.clock(), last_error=""):
        rt.dispatch.publish(job_id)


def publish(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    """Put a finished job's outcome in front of the person, once."""
    with rt.redis.lock(f"{rt.store.prefix}lock:msg:{job_id}", timeout=30, blocking_timeout=10):
        job = rt.store.get(job_id)
        if job is None or not job.terminal or job.outcome_posted:
            return
        update = job.params.get("update")
        if update and job.state == "delivered":
            # A button's job: its result replaces the message the button sat on, unless a newer
            # render of that message (a later click whose job finished first) is shown already.
            version = job.result.get("board_version")
            board = Board(rt.redis, rt.store.prefix, update["channel"], update["ts"])
            if version is None or board.show_if_newest(int(version)):
                message = _outcome(vendors, job)
                rt.slack.update(update["channel"], update["ts"], message.text, message.blocks)
            else:
                log.info("job %s: a newer render of its message is shown already", job_id)
        elif update:
            # A button's job that failed or was cancelled: tell the one who clicked, privately,
            # and leave the shared message as it was.
            if job.response_url and job.state == "failed":
                rt.slack.respond(job.response_url, job.error, render.text_message(job.error).blocks, in_channel=False)
        else:
            _deliver(rt, job, _outcome(vendors, job, meta=True))
        rt.store.update(job_id, outcome_posted=True)


def _outcome(vendors: Catalogue, job: Job, *, meta: bool = False) -> render.Rendered:
    """What a finished job shows: a task's own rendering of its result (with the line naming
    the job, when it is a message of its own), or the export outcome."""
    if job.kind == "task" and job.state == "delivered":
        message = vendors.task(job.params["op"]).render(job)
        return render.with_meta(message, job) if meta else message
    return render.outcome(job)


def fail(rt: Runtime, job_id: str, reason: str) -> bool:
    changed = rt.store.transition(job_id, list(ACTIVE), "failed", error=reason, finished_at=rt.clock())
    if changed:
        log.info("job %s failed: %s", job_id, reason)
        rt.dispatch.publish(job_id)
    return changed


def cancel(rt: Runtime, job_id: str, user_id: str) -> bool:
    return rt.store.transition(job_id, list(ACTIVE), "cancelled", finished_by=user_id, finished_at=rt.clock())


def cancel_for(rt: Runtime, job_id: str, user_id: str) -> str:
    """Cancel a job on a person's word (command or button), if they may; the answer for them."""
    job = rt.store.get(job_id)
    if job is None:
        return f"There is no job `{job_id}` (jobs are kept 30 days). `/adops jobs` lists yours."
    if job.user_id != user_id and not rt.settings.is_admin(user_id):
        return f"Only <@{job.user_id}> or an admin can cancel `{job_id}`."
    if job.terminal:
        return f"`{job_id}` has already ended ({job.state}); nothing to cancel."
    before = job.state
    if not cancel(rt, job_id, user_id):
        fresh = rt.store.get(job_id)
        return f"`{job_id}` ended ({fresh.state if fresh else 'gone'}) before it could be cancelled."
    audit.record_and_copy(rt, who=user_id, what="cancelled job", target=job_id, before=before, after="cancelled")
    rt.dispatch.publish(job_id)
    return f"Cancelled `{job_id}` ({job.summary})."


def sweep(rt: Runtime) -> list[str]:
    """Fail jobs whose deadline passed with no step left to notice (a lost message)."""
    failed = []
    for job_id in rt.store.overdue(rt.clock() - SWEEP_GRACE):
        job = rt.store.get(job_id)
        if job is None:
            continue
        if job.state in ACTIVE and fail(
            rt, job_id, "it did not finish before its deadline; nothing more will be posted for it."
        ):
            failed.append(job_id)
        elif job.terminal:
            rt.store.transition(job_id, [job.state])  # drops it from the open index
    return failed


# -- progress message -----------------------------------------------------------------------


def refresh_progress(rt: Runtime, vendors: Catalogue, job: Job, *, force: bool = False) -> None:
    """Post or edit the in-channel progress message; best effort, throttled.

    A failure here never holds the export back: the outcome is what must arrive, and
    ``publish`` guarantees that one.
    """
    if job.params.get("update"):
        return  # a button's job changes its own message when done; no progress message
    now = rt.clock()
    message = render.progress(job, now, vendors.display(job.vendor))
    digest = f"{job.state}:{_digest(message)}"
    if job.last_render == digest:
        return
    state_changed = job.last_render.split(":", 1)[0] != job.state
    if not force and not state_changed and now - job.last_render_at < rt.settings.adops_progress_interval:
        return
    try:
        with rt.redis.lock(f"{rt.store.prefix}lock:msg:{job.id}", timeout=30, blocking_timeout=2):
            fresh = rt.store.get(job.id)
            if fresh is None or fresh.terminal or fresh.outcome_posted:
                return  # the outcome is (being) posted; never paint progress over it
            if not fresh.via:
                _first_post(rt, fresh, message)
            elif fresh.via in ("channel", "dm"):
                rt.slack.update(fresh.message_channel, fresh.message_ts, message.text, message.blocks)
            elif not state_changed or fresh.response_url_uses >= RESPONSE_URL_USES - RESPONSE_URL_RESERVE:
                return  # a response_url post can't be edited; spend its few uses on real changes
            else:
                rt.slack.respond(fresh.response_url, message.text, message.blocks, replace_original=True)
                rt.store.incr(job.id, "response_url_uses")
            rt.store.update(job.id, last_render=digest, last_render_at=now)
    except (SlackRetryLater, CannotPost) as exc:
        log.info("progress for %s not shown now: %s", job.id, exc)
    except Exception as exc:  # a lock timeout or a Slack refusal must not fail the export
        log.warning("progress for %s not shown: %s", job.id, type(exc).__name__)


def _first_post(rt: Runtime, job: Job, message: render.Rendered) -> None:
    try:
        ts = rt.slack.post(job.channel_id, message.text, message.blocks)
        rt.store.update(job.id, via="channel", message_channel=job.channel_id, message_ts=ts)
        return
    except CannotPost as exc:
        log.info("job %s: cannot post in %s (%s); using the response_url", job.id, job.channel_id, exc.error)
    if job.response_url:
        rt.slack.respond(job.response_url, message.text, message.blocks)
        rt.store.update(job.id, via="response_url", response_url_uses=1)


def _deliver(rt: Runtime, job: Job, message: render.Rendered) -> None:
    """The outcome, by the best route still open: edit the progress message, the
    response_url, a fresh channel post, and finally a DM to the person who asked."""
    now = rt.clock()
    if job.via in ("channel", "dm") and job.message_ts:
        try:
            rt.slack.update(job.message_channel, job.message_ts, message.text, message.blocks)
            return
        except CannotPost as exc:  # message deleted, channel archived: fall through
            log.info("job %s: progress message gone (%s)", job.id, exc.error)
    if job.via != "response_url":
        try:
            ts = rt.slack.post(job.channel_id, message.text, message.blocks)
            rt.store.update(job.id, via="channel", message_channel=job.channel_id, message_ts=ts)
            return
        except CannotPost:
            pass
    url_alive = now - job.created_at < RESPONSE_URL_TTL and job.response_url_uses < RESPONSE_URL_USES
    if job.response_url and url_alive:
        try:
            rt.slack.respond(job.response_url, message.text, message.blocks, replace_original=job.via == "response_url")
            rt.store.incr(job.id, "response_url_uses")
            return
        except CannotPost as exc:
            log.info("job %s: response_url refused (%s); sending a DM", job.id, exc)
    rt.slack.dm(job.user_id, message.text, message.blocks)


# -- helpers --------------------------------------------------------------------------------

_FAILED: Any = object()


def _vendor(rt: Runtime, job: Job, call: Callable[[], Any]) -> Any:
    """Run one vendor call for a step: transient trouble is retried (Dramatiq's backoff, the
    vendor's Retry-After), anything the person must act on fails the job with its message
    and gives ``_FAILED``."""
    try:
        return call()
    except VendorTransient as exc:
        raise _retry(rt, job, exc) from None
    except (VendorError, ConfigError, Refused) as exc:
        fail(rt, job.id, _reason(exc))
        return _FAILED


def _retry(rt: Runtime, job: Job, exc: VendorTransient) -> StepRetry:
    rt.store.update(job.id, last_error=exc.user_message)
    delay = int(exc.retry_after * 1000) if exc.retry_after else None
    return StepRetry(exc.user_message, delay=delay)


def _reason(exc: Exception) -> str:
    return getattr(exc, "user_message", None) or str(exc)


def _digest(message: render.Rendered) -> str:
    # The running time changes every refresh; the throttle, not the digest, paces those.
    return hashlib.sha1(json.dumps(message.blocks, sort_keys=True).encode()).hexdigest()[:16]


def retry_exhausted_reason(job: Job | None, vendors: Catalogue) -> str:
    vendor = vendors.display(job.vendor) if job else "the vendor"
    last = job.last_error if job and job.last_error else "it kept failing"
    return f"gave up after several tries: {last} Try again in a few minutes; if it persists, check {vendor}'s status."

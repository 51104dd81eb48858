"""The export state machine's steps, each safe to run twice.

``request`` creates the vendor export once and stores its id; ``poll`` looks once and either
re-enqueues itself with a delay or moves the job on; ``run_task`` does a one-shot job's work;
``publish`` puts the outcome where the person will see it; ``sweep`` finds what no step is left
to finish. None of them waits on a vendor longer than one HTTP call, so a worker thread is busy
for milliseconds per step however long the export takes. Where messages go, and how a late
progress edit is kept from hiding the outcome, is :mod:`workers.delivery`.

Steps raise :class:`StepRetry` for transient trouble (Dramatiq's ``Retries`` middleware, as
declared on the actors, decides how often) and :class:`SlackRetryLater` when Slack asks us to
wait (the actor re-enqueues the step with Slack's delay, which does not spend a retry). What a
step enqueues goes through ``rt.dispatch``; what it knows of vendors comes from the catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from workers import audit, delivery, filedelivery, private, render
from workers.boards import Board
from workers.delivery import refresh_progress
from workers.digests import outcome as digest_outcome
from workers.errors import ConfigError, NotConfigured, Refused, VendorError, VendorTransient
from workers.jobs import ACTIVE, Job
from workers.retries import MAX_TRIES, StepRetry, retry_later
from workers.runtime import Runtime
from workers.schedule import next_poll_delay
from workers.timers import TIMERS
from workers.vendors.exports import Recovers, request_may_have_landed
from workers.vendors.spec import Catalogue

__all__ = [
    "FAILED", "StepRetry", "cancel", "cancel_for", "fail", "poll", "publish", "refresh_progress", "request", "run_task",
    "vendor_call",
]

log = logging.getLogger(__name__)

#: How long the record of a vendor create attempt is kept (longer than any job's deadline).
CREATE_MARK_TTL = 2 * 86_400


# -- the steps ------------------------------------------------------------------------------


def request(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    job = rt.store.get(job_id)
    if job is None or job.terminal:
        return
    if not job.export_id:
        if not rt.store.transition(job_id, ["queued", "requesting"], "requesting"):
            return  # cancelled (or failed) since it was queued: ask the vendor for nothing
        export_id = vendor_call(rt, vendors, job, lambda: _create_once(rt, vendors, job))
        if export_id is FAILED:
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
        rt.dispatch.poll(job_id, job.poll_seq, delay=next_poll_delay(
            job.polls, job.requested_at or job.created_at, rt.clock(), rt.settings.adops_first_poll))


def _create_once(rt: Runtime, vendors: Catalogue, job: Job) -> str:
    """Create the vendor export, unless an earlier try of this job may already have.

    A try is noted before the call. Finding the note means an earlier try's request may have
    reached the vendor (it timed out, its connection broke, or its worker died before storing
    the id): an adapter with ``recover`` looks for that export, or raises a VendorError when it
    cannot tell (then the job fails with what to check); one without creates again.
    """
    adapter = rt.client(job.vendor)
    mark = f"{rt.store.prefix}create:{job.id}"
    earlier = rt.redis.get(mark)
    now = rt.clock()
    if earlier is not None and isinstance(adapter, Recovers):
        found = adapter.recover(job.params, since=job.created_at)
        if found:
            log.info("job %s: found the export an earlier try created (%s)", job.id, found)
            return str(found)
        # A request that timed out may still be under way at the vendor: give it a timeout's
        # length more to appear before asking again.
        settle = float(earlier) + 2 * rt.settings.adops_vendor_timeout - now
        if settle > 0:
            raise VendorTransient(
                vendors.display(job.vendor), "Checking whether the export asked for earlier was made.",
                retry_after=settle, kind="settle",
            )
    rt.redis.set(mark, repr(now), ex=CREATE_MARK_TTL)
    try:
        return str(adapter.create(job.params))
    except VendorTransient as exc:
        if not request_may_have_landed(exc):  # surely made nothing: forget this try
            if earlier is None:
                rt.redis.delete(mark)
            else:
                rt.redis.set(mark, earlier, ex=CREATE_MARK_TTL)
        raise


def poll(rt: Runtime, vendors: Catalogue, job_id: str, seq: int) -> None:
    job = rt.store.get(job_id)
    if job is None or job.state != "waiting" or job.poll_seq != seq:
        return  # finished, cancelled, or a stale duplicate of a poll that already ran
    status = vendor_call(rt, vendors, job, lambda: rt.client(job.vendor).check(job.export_id))
    if status is FAILED:
        return
    now = rt.clock()
    if status.state == "failed":
        why = f": {status.reason}" if status.reason else f" ({render.vendor_state(status.vendor_state)})"
        fail(rt, job_id, _sentence(f"{vendors.display(job.vendor)} could not build the export{why}")
             + " Try again, or a shorter range.")
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
            rt.dispatch.publish_here(job_id)
        return
    if now >= job.deadline:
        name = vendors.display(job.vendor)
        fail(
            rt,
            job_id,
            f"{name} had not finished the export after {render.age(job.deadline - job.created_at)} "
            f"(last seen {render.vendor_state(status.vendor_state) or 'without a state'}); it may still appear "
            f"in the {name} dashboard. Try a shorter range.",
        )
        return
    # Send the next poll before advancing the sequence: dying in between leaves a duplicate
    # (harmless, it collapses) rather than no poll at all (a stuck job).
    delay = min(next_poll_delay(job.polls + 1, job.requested_at or job.created_at, now, rt.settings.adops_first_poll),
                max(1.0, job.deadline - now))
    rt.dispatch.poll(job_id, seq + 1, delay=delay)
    if rt.store.advance_poll(job_id, seq, status.vendor_state):
        fresh = rt.store.get(job_id)
        if fresh is not None:
            refresh_progress(rt, vendors, fresh)


def run_task(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    """A one-shot job: one vendor read or change, its result stored, then published.

    A state-changing task checks right before each vendor write that the job was not cancelled
    (and records ``write``); a cancel that came after a write is answered with an amended
    outcome, "cancelled too late: already applied", never a plain "cancelled".
    """
    job = rt.store.get(job_id)
    if job is None:
        return
    task = vendors.task(job.params["op"])
    if job.terminal:
        if not _may_have_written(job):
            return
        # Cancelled after a try passed its last check before writing, and that try died: run
        # again to learn what it changed; the task's check refuses any new write.
    else:
        if task.slow:
            refresh_progress(rt, vendors, job)  # one known to take long shows progress at once
        if not rt.store.transition(job_id, ["queued", "requesting"], "requesting"):
            return
    with _progress_after(rt, vendors, job_id, rt.settings.adops_task_progress_after):
        result = vendor_call(rt, vendors, job, lambda: task.run(rt, job))
    if result is FAILED:
        return
    if rt.store.transition(job_id, ["requesting"], "delivered", result=result, finished_at=rt.clock(), last_error=""):
        rt.dispatch.publish_here(job_id)
        return
    fresh = rt.store.get(job_id)
    # Amended once (``result`` still empty); the bumped rev keeps the plain "cancelled", if its
    # publish is still running, from being marked as the outcome shown.
    if (fresh is not None and _may_have_written(fresh) and fresh.write == "applied"
            and rt.store.transition(job_id, ["cancelled"], expect={"result": ""}, result=result,
                                    outcome_posted=False, outcome_rev=fresh.outcome_rev + 1)):
        log.info("job %s was cancelled after its change was applied; saying so", job_id)
        rt.dispatch.publish(job_id)


def _may_have_written(job: Job) -> bool:
    return job.state == "cancelled" and job.write != "" and not job.result


def _late_cancel(job: Job) -> bool:
    return job.state == "cancelled" and job.write == "applied" and bool(job.result)


def publish(rt: Runtime, vendors: Catalogue, job_id: str, *, patience: float, just_ended: bool = False) -> None:
    """Put a finished job's outcome in front of the person, once; and again over a progress
    edit that landed after it (see :mod:`workers.delivery`). One still unposted ``patience``
    seconds after the job ended is given up on, and counted. ``just_ended``: the caller's own
    transition ended the job a moment ago, entering it in the outbox as tried now."""
    if not just_ended:
        rt.store.outbox.touch(job_id, rt.clock())
    with delivery.message_lock(rt, job_id, outcome=True):
        job = rt.store.get(job_id)
        if job is None or not job.terminal:
            return
        if job.outcome_posted:
            if delivery.take_repaint(rt, job_id):
                if job.private:
                    private.retract(rt, job)  # a progress edit landed after the retraction
                elif not job.params.get("update"):
                    delivery.repaint(rt, job, _outcome(rt, vendors, job, meta=True))
            return
        if job.finished_at and rt.clock() - job.finished_at > patience:
            delivery.undeliverable(rt, job_id, f"still not posted {patience:.0f} s after the job ended")
            return
        if job.digest and not digest_outcome.ready_to_post(rt, job):
            return
        if filedelivery.needs_a_thread(job) and delivery.deliver(rt, job, _outcome(rt, vendors, job, meta=True)):
            job = rt.store.get(job_id) or job  # now with the message its files go under
        job = filedelivery.deliver_once(rt, job)  # a built file: uploaded and/or linked, once
        if _post_outcome(rt, vendors, job):
            rt.store.outbox.mark_posted(rt.store.key(job_id), job_id, job.outcome_rev)
        delivery.watch_inflight(rt, job_id)


def _post_outcome(rt: Runtime, vendors: Catalogue, job: Job) -> bool:
    """Show the outcome; False when no route could take it."""
    update = job.params.get("update")
    if job.state == "failed" and job.private and not job.digest:
        # The person's own mistake (an unknown name, no such record): theirs alone to see. A
        # digest's run has nobody waiting for a private answer: its channel is told.
        return private.answer(rt, job, render.refusal(job))
    if update and (job.state == "delivered" or _late_cancel(job)):
        # A button's job: its result replaces the message the button sat on, unless a newer
        # render of that message (a later click whose job finished first) is shown already.
        version = job.result.get("board_version")
        board = Board(rt.redis, rt.store.prefix, update["channel"], update["ts"])
        if version is None or board.show_if_newest(int(version)):
            return delivery.replace_clicked(rt, job, update["channel"], update["ts"], _outcome(rt, vendors, job))
        else:
            log.info("job %s: a newer render of its message is shown already", job.id)
    elif update:
        # A button's job that failed or was cancelled: tell the one who clicked, privately,
        # and leave the shared message as it was.
        if job.state == "failed":
            return private.answer(rt, job, render.failure_message(job.error))
    else:
        return delivery.deliver(rt, job, _outcome(rt, vendors, job, meta=True))
    return True


def _outcome(rt: Runtime, vendors: Catalogue, job: Job, *, meta: bool = False) -> render.Rendered:
    """What a finished job shows (:func:`_shown`), with what became of its file, if it built one,
    under its digest's line if a digest ran it."""
    message = render.with_delivery(_shown(vendors, job, meta=meta), job)
    return digest_outcome.frame(message, job, rt.settings.adops_admins) if job.digest else message


def _shown(vendors: Catalogue, job: Job, *, meta: bool = False) -> render.Rendered:
    """A task's or a build's own rendering of its result (with the line naming the job, when it
    is a message of its own), or the export outcome."""
    if job.kind == "task" and (job.state == "delivered" or _late_cancel(job)):
        message = vendors.task(job.params["op"]).render(job)
        if _late_cancel(job):
            who = render.md(" by {}", render.mention(job.finished_by)) if job.finished_by else ""
            line = render.md(":warning: *Cancelled{} too late: already applied.* The change below was made "
                             "before the cancel arrived; undo it with a new command if it is not wanted.", who)
            message = render.Rendered(text=render.fallback("Cancelled too late, already applied: {}", message.text),
                                      blocks=[render.section(line), *message.blocks[: render.MAX_BLOCKS - 2]])
        return render.with_meta(message, job) if meta else message
    if job.kind == "build" and job.state == "delivered":
        message = vendors.build(job.params["op"]).render(job)
        return render.with_meta(message, job) if meta else message
    return render.outcome(job)


def fail(rt: Runtime, job_id: str, reason: str, *, refused: bool = False) -> bool:
    """End the job as failed with ``reason``; ``refused``: the person's own mistake, answered to
    them alone (:mod:`workers.private`)."""
    changed = rt.store.transition(job_id, list(ACTIVE), "failed", error=reason, finished_at=rt.clock(),
                                  private=refused)
    if changed:
        log.info("job %s %s: %s", job_id, "refused" if refused else "failed", reason)
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
        return f"Only {render.mention(job.user_id)} or an admin can cancel `{job_id}`."
    if job.terminal:
        return f"`{job_id}` has already ended ({job.state}); nothing to cancel."
    before = job.state
    if not cancel(rt, job_id, user_id):
        fresh = rt.store.get(job_id)
        return f"`{job_id}` ended ({fresh.state if fresh else 'gone'}) before it could be cancelled."
    audit.record_and_copy(rt, who=user_id, what="cancelled job", target=job_id, before=before, after="cancelled")
    rt.dispatch.publish(job_id)
    fresh = rt.store.get(job_id)
    if fresh is not None and fresh.write:
        return (f"Cancelled `{job_id}` ({render.escape(job.summary)}), but it had already started changing things "
                "at the vendor; its message will say whether the change was applied.")
    return f"Cancelled `{job_id}` ({render.escape(job.summary)})."


# -- helpers --------------------------------------------------------------------------------

FAILED: Any = object()


def vendor_call(rt: Runtime, vendors: Catalogue, job: Job, call: Callable[[], Any]) -> Any:
    """Run one vendor call for a step: transient trouble is retried (and said, see
    :mod:`workers.retries`), a refusal is answered to the person alone, anything else the
    person must act on fails the job with its message; those two give ``FAILED``."""
    try:
        result = call()
    except VendorTransient as exc:
        raise retry_later(rt, vendors, job, exc) from None
    except Refused as exc:
        fail(rt, job.id, exc.user_message, refused=True)
        return FAILED
    except ConfigError as exc:
        # The setting's name is for the operator (the log), not the person who asked.
        log.warning("job %s: %s", job.id, exc)
        what = f"{vendors.display(job.vendor)} is not set up here" if isinstance(exc, NotConfigured) else (
            "The bot's configuration is incomplete")
        fail(rt, job.id, f"{what}; an admin needs to check it.")
        return FAILED
    except VendorError as exc:
        fail(rt, job.id, exc.user_message or str(exc))
        return FAILED
    if job.retry_note:  # the vendor answered again: the retry is over
        rt.store.update(job.id, retry_note="", next_try_at=0.0, tries=0, max_tries=0)
    return result


#: The build steps (``workers.buildsteps``) call vendors under the same policy.


@contextmanager
def _progress_after(rt: Runtime, vendors: Catalogue, job_id: str, seconds: float) -> Iterator[None]:
    """A task still running after ``seconds`` shows a progress message; one done sooner shows
    only its result (the timer is stopped, and the fence in :mod:`workers.delivery` keeps a
    progress edit that races the result from hiding it)."""

    def show() -> None:
        job = rt.store.get(job_id)
        if job is not None and not job.terminal:
            refresh_progress(rt, vendors, job, force=True)

    timer = TIMERS.call_later(seconds, show)  # not a thread of its own: one per task cost a tenth of its CPU
    try:
        yield
    finally:
        timer.cancel()


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def retry_exhausted_reason(job: Job | None, vendors: Catalogue, *, tries: int = MAX_TRIES) -> str:
    vendor = vendors.display(job.vendor) if job else "the vendor"
    last = _sentence(job.last_error) if job and job.last_error else "It kept failing."
    return (f"gave up after {tries} tries: {last} Try again in a few minutes; if it persists, "
            f"{vendor} may be having an outage.")

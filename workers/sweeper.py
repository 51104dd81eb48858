"""The sweeper: what the clock runs every ``ADOPS_SWEEP_INTERVAL`` to rescue jobs no message is
left to move on.

It fails jobs whose deadline passed, sends ``publish`` again for finished jobs whose outcome
nobody is trying to post, sends a poll again for a waiting export whose due poll never ran (and
a build's lost plan, parts or assembly, see ``buildsteps.rescue``), and cleans its indexes of
entries whose job is gone. Every action is one the steps already make
idempotent, so a sweep that overlaps a live message costs a duplicate that collapses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from workers import buildsteps, delivery
from workers.jobs import ACTIVE, Job
from workers.runtime import Runtime
from workers.schedule import next_poll_delay
from workers.steps import fail

__all__ = ["PUBLISH_GRACE", "SWEEP_GRACE", "sweep"]

log = logging.getLogger(__name__)

#: How late past its deadline the sweeper lets a job be before failing it.
SWEEP_GRACE = 60.0
#: How long a finished job may wait for a publish try before the sweeper sends another (longer
#: than Dramatiq's longest backoff, so a live chain of retries is not doubled); the default of
#: ADOPS_RESCUE_AFTER, which also bounds how late a due poll may be.
PUBLISH_GRACE = 120.0
#: Keep trying to post an outcome this long after the job ended, then count it undeliverable.
PUBLISH_PATIENCE = 3_600.0
#: The sweeper reads its indexes a page at a time, and at most this many entries a run.
SWEEP_PAGE = 100
SWEEP_BUDGET = 2_000


def sweep(rt: Runtime, now: float | None = None) -> list[str]:
    """Fail jobs whose deadline passed with no step left to notice (a lost message), send
    ``publish`` again for finished jobs whose outcome nobody is trying to post, and clean both
    indexes of entries whose job is gone. Pages through everything due, up to a budget a run;
    entries it leaves are skipped by offset, so stale ones never blind it. Returns the failed."""
    now = rt.clock() if now is None else now
    failed: list[str] = []
    late = now - SWEEP_GRACE
    for job_id, job in _pages(rt, lambda n, at: rt.store.overdue(late, n, at), f"{rt.store.prefix}jobs:open", late):
        if job is not None and job.state in ACTIVE:
            if fail(rt, job_id, "it did not finish before its deadline; nothing more will be posted for it."):
                failed.append(job_id)
            continue  # failed now, or ended meanwhile: the transition took it out of the index
        rt.store.drop_open(job_id)  # its hash expired, or it ended: nothing to watch
    rescue_after = rt.settings.adops_rescue_after
    _resume_stalled_polls(rt, now, rescue_after)
    stale = now - rescue_after
    for job_id, job in _pages(rt, lambda n, at: rt.store.outbox.due(stale, n, at), rt.store.outbox.key, stale):
        if job is None or job.outcome_posted or not job.terminal:
            rt.store.outbox.drop(job_id)
        elif now - (job.finished_at or job.updated_at) > PUBLISH_PATIENCE:
            delivery.undeliverable(rt, job_id, f"not posted within {PUBLISH_PATIENCE:.0f} s of its end")
        else:
            log.warning("job %s ended unposted and nothing is posting it: publishing it again", job_id)
            rt.store.outbox.touch(job_id, now)
            rt.dispatch.publish(job_id)
    return failed


def _resume_stalled_polls(rt: Runtime, now: float, rescue_after: float) -> None:
    """A waiting export whose poll was due ``rescue_after`` ago and has not run lost its poll
    message (a worker's prefetched delayed messages go with it on some Redis failures): send it
    again. Polls carry ``poll_seq``, so if the original turns up after all, one of the two drops.
    A build nothing moved for as long gets its messages again (``buildsteps.rescue``)."""
    for job_id, job in _pages(rt, lambda n, at: rt.store.overdue(float("inf"), n, at),
                              f"{rt.store.prefix}jobs:open", float("inf")):
        if job is not None and job.kind == "build":
            buildsteps.rescue(rt, job, now)
            continue
        if job is None or job.state != "waiting":
            continue
        since = job.requested_at or job.created_at
        due = job.updated_at + next_poll_delay(job.polls, since, job.updated_at)
        if now > due + rescue_after:
            log.warning("job %s: its poll was due %.0f s ago and never ran: polling again", job_id, now - due)
            rt.dispatch.poll(job_id, job.poll_seq)


def _pages(rt: Runtime, read: Callable[[int, int], list[str]], key: str, cutoff: float,
           ) -> Iterator[tuple[str, Job | None]]:
    """(id, job or None) for every entry ``read(limit, offset)`` gives from index ``key`` (scores
    up to ``cutoff``), a page at a time. Entries a page's handling leaves in that range are
    stepped over by offset, so each page makes progress however many stale entries stay."""
    offset, budget = 0, SWEEP_BUDGET
    while budget > 0:
        ids = read(min(SWEEP_PAGE, budget), offset)
        if not ids:
            return
        budget -= len(ids)
        for job_id in ids:
            yield job_id, rt.store.get(job_id)
        pipe = rt.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.zscore(key, job_id)
        offset += sum(1 for score in pipe.execute() if score is not None and score <= cutoff)

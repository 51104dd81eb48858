"""Recording a new job and sending its first step: the one way a job comes to exist.

The ingress does it for a person's command or click, and a digest's run does it for the clock.
Both get the same guarantee: a job is either recorded and queued, or failed at once with the
reason, never shown as "queued" to a worker that will not see it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from workers import logcontext
from workers.jobs import Job, new_job_id
from workers.limits import RateLimits
from workers.runtime import Runtime

__all__ = ["TASK_DEADLINE", "new_job", "quietly", "submit"]

log = logging.getLogger(__name__)

#: A one-shot task (a listing, a toggle) that has not ended after this long is failed.
TASK_DEADLINE = 15 * 60


def submit(
    rt: Runtime, *, dedup_key: str | None = None, dedup_window: int = 10, limits: RateLimits | None = None,
    **fields: Any,
) -> tuple[Job | None, str | None]:
    """Record a new job with ``fields`` (its id, times and deadline are set here) and enqueue
    its first step. Returns (the job, None), or (None, the id of the job ``dedup_key`` names,
    whatever its state), or (None, None) if it could not be queued (the job is failed).

    Raises RateLimited (nothing recorded) past ``limits``, and a RedisError when Redis does not
    answer the record itself (nothing recorded either, as far as we know).
    """
    job, earlier = rt.store.create(new_job(rt, **fields), dedup_key=dedup_key, dedup_window=dedup_window,
                                   limits=limits)
    if earlier is not None:
        return None, earlier
    # From here on this request's (or digest run's) lines name the job: `grep` finds where it began.
    logcontext.bind(**logcontext.job_fields(job))
    log.info("job %s recorded: %s", job.id, job.summary)
    try:
        rt.dispatch.start(job.kind, job.id)
    except Exception as exc:
        # If Redis is what failed, this may fail too (bounded by the client's timeout); the
        # sweeper then fails the job later.
        log.error("enqueue failed for %s: %s", job.id, type(exc).__name__)
        quietly(
            "fail the job that was not queued",
            lambda: rt.store.transition(job.id, ["queued"], "failed", error="it could not be queued",
                                        finished_at=rt.clock()),
        )
        return None, None
    return job, None


def new_job(rt: Runtime, **fields: Any) -> Job:
    """A job not recorded yet: a new id, created now, with its kind's deadline."""
    now = rt.clock()
    deadline = rt.settings.adops_export_deadline if fields["kind"] in ("export", "build") else TASK_DEADLINE
    return Job(id=new_job_id(), created_at=now, deadline=now + deadline, **fields)


def quietly(what: str, call: Callable[[], object]) -> None:
    """Clean-up after a failure: its own failure (Redis still down) is logged, never raised."""
    try:
        call()
    except redis.RedisError as exc:
        log.warning("could not %s: %s", what, type(exc).__name__)

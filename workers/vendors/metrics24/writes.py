"""What every 24Metrics filter-group change does around its vendor write: the locks it holds,
the last cancel check before the write, and saying that the write is in effect.

Cancel: right before each vendor write the job's state is checked and ``write`` recorded in one
compare-and-set (:func:`before_write`); a cancelled job changes nothing. Once a write is in
effect the job says so (:func:`applied`), and a cancel that came after it is answered with
"cancelled too late: already applied" (see ``steps.run_task``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from workers.errors import Refused
from workers.jobs import Job
from workers.runtime import Runtime

__all__ = ["INTENT_TTL", "applied", "before_write", "group_lock", "integration_lock", "intent_key"]

#: How long the record of what a job is about to change outlives the job's first try.
INTENT_TTL = 86_400


def before_write(rt: Runtime, job: Job) -> None:
    """The last check before a vendor write: stop, having changed nothing, if the job was
    cancelled. Atomic with recording that a write may follow, so a cancel is either seen here
    or knows it may be too late."""
    if not rt.store.transition(job.id, ["requesting"], write="started"):
        raise Refused("The job was cancelled before anything was changed.")


def applied(rt: Runtime, job: Job) -> None:
    """This job's change is in effect at 24Metrics (just made, or found made by an earlier try)."""
    rt.store.update(job.id, write="applied")


def intent_key(rt: Runtime, job: Job) -> str:
    """Where a job records what it is about to change, before the write: a worker killed right
    after the vendor's answer still leaves the job's rerun able to tell what it changed."""
    return f"{rt.store.prefix}intent:{job.id}"


@contextmanager
def group_lock(rt: Runtime, integration: str, group_id: str) -> Iterator[None]:
    """One group's read-modify-write."""
    with rt.redis.lock(f"{rt.store.prefix}lock:fg:{integration}:{group_id}", timeout=60, blocking_timeout=30):
        yield


@contextmanager
def integration_lock(rt: Runtime, integration: str) -> Iterator[None]:
    """A change of several groups of one integration: one at a time."""
    with rt.redis.lock(f"{rt.store.prefix}lock:fg:{integration}:*", timeout=120, blocking_timeout=60):
        yield

"""What every state-changing task does around its vendor write, whatever the vendor: the last
cancel check before the write, the intent recorded before it, and saying the write is in effect.

Cancel: right before each vendor write the job's state is checked and ``write`` recorded in one
compare-and-set (:func:`before_write`); a cancelled job changes nothing. Once a write is in
effect the job says so (:func:`applied`), and a cancel that came after it is answered with
"cancelled too late: already applied" (see ``steps.run_task``).

Shared by every vendor's switches (filter groups' monitoring, streams' modes) through
:mod:`workers.toggles` and :mod:`workers.bulkchange`; a vendor keeps only its own lock names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from workers.errors import Refused
from workers.jobs import Job
from workers.runtime import Runtime

__all__ = ["INTENT_TTL", "applied", "before_write", "intent_key", "lock"]

#: How long the record of what a job is about to change outlives the job's first try.
INTENT_TTL = 86_400


def before_write(rt: Runtime, job: Job) -> None:
    """The last check before a vendor write: stop, having changed nothing, if the job was
    cancelled. Atomic with recording that a write may follow, so a cancel is either seen here
    or knows it may be too late."""
    if not rt.store.transition(job.id, ["requesting"], write="started"):
        raise Refused("The job was cancelled before anything was changed.")


def applied(rt: Runtime, job: Job) -> None:
    """This job's change is in effect at the vendor (just made, or found made by an earlier try)."""
    rt.store.update(job.id, write="applied")


def intent_key(rt: Runtime, job: Job) -> str:
    """Where a job records what it is about to change, before the write: a worker killed right
    after the vendor's answer still leaves the job's rerun able to tell what it changed."""
    return f"{rt.store.prefix}intent:{job.id}"


@contextmanager
def lock(rt: Runtime, name: str, *, timeout: float = 60, blocking_timeout: float = 30) -> Iterator[None]:
    """A Redis lock under the deployment's prefix: one item's read-modify-write (``name`` says
    which, under the vendor's own words: a group, a stream)."""
    with rt.redis.lock(f"{rt.store.prefix}lock:{name}", timeout=timeout, blocking_timeout=blocking_timeout):
        yield

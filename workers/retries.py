"""Retrying a step after transient vendor trouble: how often, how long between tries, and what
the person reads meanwhile.

A step that meets a :class:`~workers.errors.VendorTransient` is sent again by Dramatiq's
``Retries`` middleware. We set the delay ourselves (the vendor's ``Retry-After``, else
:func:`backoff`) instead of letting Dramatiq pick a jittered one, so the progress message and
``/adops jobs`` can say the real wait: "Acme answered 503; trying again in 20 s, try 3 of 9".
Which try this is comes from the message Dramatiq is running (its ``retries`` option), the same
count ``actors.should_retry`` decides on, so "try n of 9" is never a guess.
"""

from __future__ import annotations

import hashlib
import logging

from dramatiq.errors import Retry
from dramatiq.middleware import CurrentMessage

from workers.delivery import refresh_progress
from workers.errors import VendorProtocolError, VendorRateLimited, VendorTransient
from workers.jobs import Job
from workers.runtime import Runtime
from workers.vendors.spec import Catalogue

__all__ = [
    "MAX_BACKOFF", "MAX_TRIES", "VENDOR_RETRIES", "StepRetry", "backoff", "retries_so_far", "retry_later",
    "what_happened",
]

log = logging.getLogger(__name__)

#: Transient vendor trouble: 8 retries with backoff from 1 s to 60 s is about 3 minutes of patience.
VENDOR_RETRIES = 8
#: Tries in all: the first one and its retries.
MAX_TRIES = VENDOR_RETRIES + 1
MAX_BACKOFF = 60.0
#: Each job's waits are spread by up to this share, so jobs that failed together do not come
#: back together; derived from the job id, so the delay said is the delay used.
SPREAD = 0.25


class StepRetry(Retry):
    """Transient trouble: the step runs again later (``delay`` in ms, or Dramatiq's backoff)."""


def retry_later(rt: Runtime, vendors: Catalogue, job: Job, exc: VendorTransient) -> StepRetry:
    """What a step raises on transient vendor trouble: the retry, with the delay it will wait,
    recorded on the job and shown at once in its progress message (and in ``/adops jobs``)."""
    retries = retries_so_far()
    if retries >= VENDOR_RETRIES:  # the last try: the job is failed with the reason instead
        rt.store.update(job.id, last_error=exc.user_message)
        return StepRetry(exc.user_message)
    delay = exc.retry_after if exc.retry_after else backoff(retries, rt.settings.adops_retry_backoff, job.id)
    note = what_happened(vendors.display(job.vendor), exc)
    log.info("job %s: %s; try %d of %d in %.1f s", job.id, note, retries + 2, MAX_TRIES, delay)
    rt.store.update(job.id, last_error=exc.user_message, retry_note=note, next_try_at=rt.clock() + delay,
                    tries=retries + 2, max_tries=MAX_TRIES)
    fresh = rt.store.get(job.id)
    if fresh is not None and not fresh.terminal:
        refresh_progress(rt, vendors, fresh, force=True)
    return StepRetry(exc.user_message, delay=max(1, int(delay * 1000)))


def retries_so_far() -> int:
    """How often the message being run has been retried already (0 outside a worker)."""
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) if message is not None else 0


def backoff(retries: int, base: float, job_id: str = "") -> float:
    """Seconds before the next try, after ``retries`` retries: ``base`` doubling, at most
    :data:`MAX_BACKOFF`, spread by the job id (pure)."""
    spread = int(hashlib.sha1(f"{job_id}:{retries}".encode()).hexdigest()[:4], 16) / 0xFFFF * SPREAD
    return min(MAX_BACKOFF, base * 2 ** min(retries, 16) * (1 + spread))


#: Without an HTTP status, what went wrong, by the error's ``kind``.
_KINDS = {
    "timeout": "{vendor} did not answer in time",
    "connect": "could not reach {vendor}",
    "broken": "the connection to {vendor} broke off",
    "settle": "waiting to see whether {vendor} made the export asked for earlier",
}


def what_happened(vendor: str, exc: VendorTransient) -> str:
    """A few words on the trouble, for "…; trying again in 20 s" (pure)."""
    if isinstance(exc, VendorRateLimited) or exc.status == 429:
        return f"{vendor} asked us to slow down (429)"
    if exc.status:
        return f"{vendor} answered {exc.status}"
    if exc.kind in _KINDS:
        return _KINDS[exc.kind].format(vendor=vendor)
    if isinstance(exc, VendorProtocolError):
        return f"{vendor} sent an answer we could not read"
    return f"{vendor} had a problem"

"""A Redis lock held as a lease: renewed while its holder works, lapsing soon after it dies.

A fixed lock timeout has to choose between outliving the slowest piece of work done under it (a
Slack call can take ``slack.WORST_CALL_SECONDS``) and freeing quickly when its holder is killed.
A lease does both: a short timeout renewed every third of it for as long as the ``with`` block
runs (on the process's shared timer thread, :mod:`workers.timers`: a lease is taken on every
publish, and a thread of its own each time cost more than the rest of the lock). It can still lapse (a process paused longer than the lease); callers
that must not act on a lapsed lock keep their own fence, and a lapse is logged, not raised.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from workers.timers import TIMERS, Handle, Timers

__all__ = ["LEASE_SECONDS", "lease"]

log = logging.getLogger(__name__)

#: How long a lease lasts unless renewed: how soon a dead holder's lock frees.
LEASE_SECONDS = 15.0


@contextmanager
def lease(client: redis.Redis, key: str, *, wait: float, seconds: float = LEASE_SECONDS,
          timers: Timers = TIMERS) -> Iterator[None]:
    """Hold ``key`` for the ``with`` block, waiting up to ``wait`` seconds for it (LockError)."""
    # Not thread-local: the timer's thread must see the token this thread acquired with.
    lock = client.lock(key, timeout=seconds, blocking_timeout=wait, thread_local=False)
    # Our own token: redis-py's default, uuid1, costs 29 µs a lock here against 2 for this.
    if not lock.acquire(token=secrets.token_hex(16)):
        raise LockError(f"{key} is busy")
    renewal = _Renewal(lock, key, seconds, timers)
    try:
        yield
    finally:
        renewal.stop()
        try:
            lock.release()
        except LockNotOwnedError:
            log.warning("%s lapsed while held (the holder was paused longer than %g s)", key, seconds)


class _Renewal:
    """Renews ``lock`` every third of its timeout until stopped. A renewal that runs after the
    release changes nothing: ``reacquire`` checks the token, which the release removed."""

    def __init__(self, lock: Lock, key: str, seconds: float, timers: Timers) -> None:
        self.lock, self.key, self.every, self.timers = lock, key, seconds / 3, timers
        self.stopped = False
        self.handle: Handle = timers.call_later(self.every, self.renew)

    def renew(self) -> None:
        try:
            self.lock.reacquire()
        except LockNotOwnedError:
            return  # lapsed already; said when the holder releases
        except redis.RedisError as exc:  # a blip: the next one tries again, within the lease
            log.info("%s not renewed this time: %s", self.key, type(exc).__name__)
        if not self.stopped:
            self.handle = self.timers.call_later(self.every, self.renew)

    def stop(self) -> None:
        self.stopped = True
        self.handle.cancel()

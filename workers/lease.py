"""A Redis lock held as a lease: renewed while its holder works, lapsing soon after it dies.

A fixed lock timeout has to choose between outliving the slowest piece of work done under it (a
Slack call can take ``slack.WORST_CALL_SECONDS``) and freeing quickly when its holder is killed.
A lease does both: a short timeout that a helper thread renews every third of it for as long as
the ``with`` block runs. It can still lapse (a process paused longer than the lease); callers
that must not act on a lapsed lock keep their own fence, and a lapse is logged, not raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

__all__ = ["LEASE_SECONDS", "lease"]

log = logging.getLogger(__name__)

#: How long a lease lasts unless renewed: how soon a dead holder's lock frees.
LEASE_SECONDS = 15.0


@contextmanager
def lease(client: redis.Redis, key: str, *, wait: float, seconds: float = LEASE_SECONDS) -> Iterator[None]:
    """Hold ``key`` for the ``with`` block, waiting up to ``wait`` seconds for it (LockError)."""
    # Not thread-local: the renewing thread must see the token this thread acquired with.
    lock = client.lock(key, timeout=seconds, blocking_timeout=wait, thread_local=False)
    if not lock.acquire():
        raise LockError(f"{key} is busy")
    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, done, seconds, key), name=f"lease:{key}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        try:
            lock.release()
        except LockNotOwnedError:
            log.warning("%s lapsed while held (the holder was paused longer than %g s)", key, seconds)


def _renew(lock: Lock, done: threading.Event, seconds: float, key: str) -> None:
    while not done.wait(seconds / 3):
        try:
            lock.reacquire()
        except LockNotOwnedError:
            return  # lapsed already; said when the holder releases
        except redis.RedisError as exc:  # a blip: the next tick tries again, within the lease
            log.info("%s not renewed this time: %s", key, type(exc).__name__)

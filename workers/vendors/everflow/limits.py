"""Everflow's limits, held across every worker thread and process: at most 10 reporting requests
at once and 30 requests a second per network (NOTES.md), with Dramatiq's rate limiters.

The limiters live on a Dramatiq rate-limit backend: the Redis one over the runtime's Redis (the
broker's client, so every worker process of a deployment shares the same counters), or a
process-local one where there is no Redis (the console's in-memory stack, tests).

A busy limiter is waited on briefly (up to :data:`PATIENCE` seconds, polling), because a slot
usually frees within a request's time; past that the request is not sent and
:class:`~workers.errors.VendorTransient` asks for the part to be retried in
:data:`RETRY_AFTER` seconds, so a worker thread is never parked for long on someone else's load.

One more limit is ours, per process: at most :data:`ANSWERS_PER_PROCESS` Everflow answers are
held at once (:meth:`EverflowLimits.answer`), from the request until its rows are written. An
answer is up to 10 000 parsed rows, ~25 MB as Python objects (~40 MB while it is read), and a
worker process runs 8 threads: one answer a thread would be ~200 MB on top of an idle worker's
~70 MB, past the 150 MB an export must stay under (bench/everflow_memory.py). The cap is a plain
semaphore, not Redis: it bounds this process's memory, not the vendor's load (the two limiters
above do that). It needs the worker's ``MALLOC_ARENA_MAX=2`` (bot/cli.py) to show in RSS.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiterBackend, WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from workers.errors import VendorTransient

__all__ = ["ANSWERS_PER_PROCESS", "ANSWER_WAIT", "CONCURRENT", "PATIENCE", "PER_SECOND", "RETRY_AFTER",
           "EverflowLimits", "backend_of_broker"]

CONCURRENT = 10
PER_SECOND = 30
PATIENCE = 2.0
RETRY_AFTER = 2.0
#: A slot held longer than this (a worker killed mid-request) is freed by its TTL.
SLOT_TTL_MS = 120_000
#: Everflow answers one process holds at once (from the request until its rows are written).
#: Measured on a 1M-row export (bench/everflow_memory.py, 2 malloc arenas): 1 keeps the worker
#: at ~135 MB, 2 at ~155 MB (over the 150 MB budget) for ~10 % less time. Parallel windows come
#: from more worker processes (each under the budget), up to the vendor's 10. Setting:
#: EVERFLOW_ANSWERS_PER_PROCESS.
ANSWERS_PER_PROCESS = 1
#: How long a thread waits for one of them before its part is retried later (VendorTransient):
#: several answers' time, so it is rare, yet no thread is parked indefinitely.
ANSWER_WAIT = 60.0


def backend_of_broker(broker: dramatiq.Broker | None = None) -> RateLimiterBackend:
    """The Redis backend on the broker's Redis, or a process-local one for a stub broker."""
    broker = broker if broker is not None else dramatiq.get_broker()
    if isinstance(broker, RedisBroker):
        return RedisBackend(client=broker.client)
    return StubBackend()


class EverflowLimits:
    """``with limits.slot(): send()``: a concurrency slot and a place in this second's 30."""

    def __init__(
        self,
        backend: RateLimiterBackend | Callable[[], RateLimiterBackend],
        *,
        concurrent: int = CONCURRENT,
        per_second: int = PER_SECOND,
        patience: float = PATIENCE,
        key: str = "adops:everflow",
        answers: int = ANSWERS_PER_PROCESS,
        answer_wait: float = ANSWER_WAIT,
    ) -> None:
        self._backend = backend
        self._made: tuple[ConcurrentRateLimiter, WindowRateLimiter] | None = None
        self.concurrent, self.per_second, self.patience, self.key = concurrent, per_second, patience, key
        # One EverflowLimits per client, one client per runtime (Runtime.client): so per process.
        self.answers, self.answer_wait = answers, answer_wait
        self._answers = threading.BoundedSemaphore(answers)
        self._held = threading.local()  # how deep this thread is in answer() (re-entered by the client)
        self._holding = 0  # answers held now (for tests)
        self._count_lock = threading.Lock()
        self.most_held = 0  # the most answers held at once (for tests and benches)

    def _limiters(self) -> tuple[ConcurrentRateLimiter, WindowRateLimiter]:
        # Built at the first request: the broker (and so its Redis) is set up by then.
        if self._made is None:
            backend = self._backend() if callable(self._backend) else self._backend
            self._made = (
                ConcurrentRateLimiter(backend, f"{self.key}:reporting", limit=self.concurrent, ttl=SLOT_TTL_MS),
                WindowRateLimiter(backend, f"{self.key}:per-second", limit=self.per_second, window=1),
            )
        return self._made

    @contextmanager
    def answer(self) -> Iterator[None]:
        """Hold one of this process's :data:`ANSWERS_PER_PROCESS` answers. Re-entrant per thread:
        the builder holds it over a whole fetch (request, flatten, write) and each request inside
        takes it again, so a request made outside a fetch is bounded too."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth = depth
            return
        if not self._answers.acquire(timeout=self.answer_wait):
            raise VendorTransient(
                "Everflow", f"this worker is busy reading Everflow answers (at most {self.answers} at once); "
                "this window is asked again shortly.", retry_after=RETRY_AFTER,
            )
        with self._count_lock:
            self._holding += 1
            self.most_held = max(self.most_held, self._holding)
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._count_lock:
                self._holding -= 1
            self._answers.release()

    @contextmanager
    def slot(self) -> Iterator[None]:
        concurrent, window = self._limiters()
        deadline = time.monotonic() + self.patience
        while True:
            with concurrent.acquire(raise_on_failure=False) as running:
                if running:
                    self._wait_for_second(window, deadline)
                    yield
                    return
            self._pause(deadline, "10 reporting requests are already running")

    def _wait_for_second(self, window: WindowRateLimiter, deadline: float) -> None:
        while True:
            with window.acquire(raise_on_failure=False) as allowed:
                if allowed:
                    return
            self._pause(deadline, "30 requests were sent this second")

    def _pause(self, deadline: float, why: str) -> None:
        if time.monotonic() >= deadline:
            raise VendorTransient(
                "Everflow", f"Everflow's limits are busy ({why}); this window is asked again shortly.",
                retry_after=RETRY_AFTER,
            )
        time.sleep(0.02 + random.random() * 0.05)

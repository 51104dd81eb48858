"""One timer thread per process for the short waits a step sets: renew a lease, show progress.

``threading.Timer`` starts a thread per timer, and a job's steps set two (the message lock's
lease renewal and the "still working" progress of a task), each started and joined on the hot
path; in ``bench/throughput.py`` that was about a tenth of a worker's CPU. Here one thread keeps
the due times in a heap and hands each due call to a pool of reused threads, so a slow call (a
Slack edit showing progress) never delays another (a lease renewal).

A forked child has neither the parent's thread nor its pool, and the parent's timers are not its
own: it starts empty, and the thread and the pool start on first use in the process that uses
them (Dramatiq forks its worker processes).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["TIMERS", "Handle", "Timers"]

log = logging.getLogger(__name__)


class Handle:
    """A call set for later; :meth:`cancel` stops it if it has not started."""

    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """Calls run ``delay`` seconds from when they were set, each on a pooled thread."""

    #: At most this many calls run at once. A worker thread has at most a task's progress edit (a
    #: Slack call of up to ``slack.WORST_CALL_SECONDS``) and two leases timed at any moment, so
    #: this covers every thread of a large worker with all its edits stuck and renewals still due.
    #: The pool starts a thread only when none is idle: a quiet process has one or two.
    THREADS = 64

    def __init__(self, *, threads: int = THREADS, name: str = "adops-timer") -> None:
        self._threads = threads
        self._name = name
        self._order = itertools.count()  # ties keep the order they were set in
        self._forget()
        os.register_at_fork(after_in_child=_calling(weakref.WeakMethod(self._forget)))

    def _forget(self) -> None:
        # A new lock too: the parent's may have been held by another thread at the fork.
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Handle]] = []
        self._started = False

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        handle = Handle(fn)
        with self._cond:
            self._start_here()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), handle))
            if self._heap[0][2] is handle:  # due before whatever the thread waits for
                self._cond.notify()
        return handle

    def _start_here(self) -> None:
        if self._started:
            return
        self._started = True
        pool = ThreadPoolExecutor(self._threads, thread_name_prefix=self._name)
        threading.Thread(target=self._run, args=(pool,), name=self._name, daemon=True).start()

    def _run(self, pool: ThreadPoolExecutor) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            try:
                pool.submit(self._call, handle)
            except RuntimeError:  # the interpreter is shutting down: nothing more will run
                return

    @staticmethod
    def _call(handle: Handle) -> None:
        if handle.cancelled:
            return
        try:
            handle.fn()
        except Exception:  # the timer thread outlives any one call
            log.exception("a timed call failed")


def _calling(ref: weakref.WeakMethod[Callable[[], None]]) -> Callable[[], None]:
    """Call ``ref``'s method while its object lives (fork hooks cannot be unregistered)."""

    def call() -> None:
        method = ref()
        if method is not None:
            method()

    return call


#: The process's timers: one thread however many steps run.
TIMERS = Timers()

"""The process's shared timers (``workers.timers``): calls run when due, in order, on reused
threads; a cancelled one never runs; a slow one holds up no other; a forked child starts empty."""

from __future__ import annotations

import os
import threading
import time

from tests.harness import wait_until
from workers.timers import Timers


def test_calls_run_when_due_in_order_and_a_cancelled_one_never() -> None:
    timers = Timers(threads=2)
    ran: list[str] = []
    start = time.monotonic()
    timers.call_later(0.3, lambda: ran.append("third"))
    timers.call_later(0.1, lambda: ran.append("first"))
    timers.call_later(0.2, lambda: ran.append("second"))
    timers.call_later(0.15, lambda: ran.append("cancelled")).cancel()
    wait_until(lambda: len(ran) == 3, timeout=5, interval=0.01, what="three calls")
    assert ran == ["first", "second", "third"]
    assert time.monotonic() - start >= 0.3  # none ran before it was due
    time.sleep(0.1)
    assert "cancelled" not in ran


def test_a_slow_call_holds_up_no_other_and_a_failing_one_stops_nothing() -> None:
    timers = Timers(threads=4)
    release = threading.Event()
    ran: list[str] = []
    timers.call_later(0.0, lambda: release.wait(10))  # a Slack edit that hangs
    timers.call_later(0.0, lambda: 1 / 0)
    timers.call_later(0.05, lambda: ran.append("renewed"))
    wait_until(lambda: ran == ["renewed"], timeout=5, interval=0.01, what="the call after the slow one")
    release.set()


def test_many_timers_share_a_few_threads() -> None:
    timers = Timers(threads=3)
    before = threading.active_count()
    done = threading.Semaphore(0)
    for _ in range(200):
        timers.call_later(0.01, done.release)
    for _ in range(200):
        assert done.acquire(timeout=5)
    # One timer thread and at most the pool's three, where a thread per timer made 200.
    assert threading.active_count() - before <= 4


def test_a_forked_child_starts_with_no_timers_of_its_parent_and_can_set_its_own() -> None:
    timers = Timers(threads=2)
    ran: list[tuple[str, int]] = []
    timers.call_later(0.0, lambda: ran.append(("warm", os.getpid())))  # thread and pool exist before the fork
    wait_until(lambda: bool(ran), timeout=5, interval=0.01, what="the first call")
    timers.call_later(0.2, lambda: ran.append(("parent's", os.getpid())))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what ran in it
        try:
            timers.call_later(0.05, lambda: ran.append(("child's", os.getpid())))
            time.sleep(0.6)
            os.write(w, repr(sorted(what for what, where in ran if where == os.getpid())).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as out:
        in_child = out.read().decode()
    os.waitpid(pid, 0)
    assert in_child == repr(["child's"]), in_child
    wait_until(lambda: ("parent's", os.getpid()) in ran, timeout=5, interval=0.01, what="the parent's own call")

"""The clock: an APScheduler process that only enqueues.

Two or more clocks may run (a standby on another machine, or behind a deploy); a leader lock in
Redis makes only one of them enqueue. The lock is a lease: the leader renews it every tick, and
when the leader dies it lapses ``ADOPS_CLOCK_LEASE`` seconds after the last renewal and a standby
takes over. A leader that stops cleanly frees it at once.

Each tick the leader sends the digest runs that are due (``workers.digests.ticks``); every
``ADOPS_SWEEP_INTERVAL`` it sends the sweep. What it sends is idempotent, so two clocks that
both believe they lead for a moment (a paused leader, a lapsed lease) cost nothing but work.

APScheduler drives the ticks only. The digests' own schedules are not APScheduler jobs: they live
in Redis, where every clock reads the same due set, so a standby needs no copy of them and an
edit is seen at the next tick with no restart.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from workers.digests.ticks import fire_due
from workers.errors import ConfigError
from workers.heartbeat import beat_clock
from workers.runtime import Runtime

__all__ = ["Clock", "run", "tick_until"]

log = logging.getLogger(__name__)

# Take the lock if it is free, or renew it if this clock holds it. KEYS[1] the lock; ARGV[1]
# this clock's name, ARGV[2] the lease in ms.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# Free the lock only if this clock holds it.
_RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Clock:
    """One clock's duties, each done only while it leads."""

    def __init__(self, rt: Runtime, me: str | None = None) -> None:
        self.rt = rt
        self.me = me or f"{socket.gethostname()}:{os.getpid()}"
        self.key = f"{rt.store.prefix}clock:leader"
        self._lead = rt.redis.register_script(_LEAD)
        self._resign = rt.redis.register_script(_RESIGN)
        self._leading = False
        # A tick running on APScheduler's thread while the clock stops must not renew the lock
        # after it was freed (the standby would wait a whole lease): both hold this guard.
        self._guard = threading.Lock()
        self._stopped = False

    def leads(self) -> bool:
        """Take or renew the leader lock; whether this clock leads now."""
        lease_ms = int(self.rt.settings.adops_clock_lease * 1000)
        with self._guard:
            if self._stopped:
                return False
            leading = bool(self._lead(keys=[self.key], args=[self.me, lease_ms]))
        if leading != self._leading:
            log.info("clock %s %s", self.me, "leads" if leading else "is on standby")
            self._leading = leading
        return leading

    def tick(self) -> None:
        """Send the digest runs due now, if this clock leads."""
        if not self.leads():
            return
        started = time.process_time()
        done = fire_due(self.rt, self.rt.clock())
        # After the tick looked for due digests: the beat's age is how long none were looked for.
        beat_clock(self.rt.redis, self.rt.store.prefix, self.me, self.rt.clock())
        if done.fired or done.missed or done.broken:
            log.info("clock tick: %d digest run(s) sent, %d missed, %d broken; %.1f ms of CPU", done.fired, done.missed,
                     done.broken, (time.process_time() - started) * 1000)

    def sweep(self) -> None:
        if self.leads():
            self.rt.dispatch.sweep()

    def resign(self) -> None:
        """Free the lock for a standby now rather than a lease from now; this clock leads no more."""
        with self._guard:
            self._stopped = True
            if self._resign(keys=[self.key], args=[self.me]):
                log.info("clock %s stepped down", self.me)
            self._leading = False


def tick_until(clock: Clock, stopping: threading.Event) -> None:
    """The clock's duties on a thread (the console's clock), until ``stopping`` is set."""
    settings = clock.rt.settings
    swept = time.monotonic()
    while not stopping.wait(settings.adops_clock_tick):
        try:
            clock.tick()
            if time.monotonic() - swept >= settings.adops_sweep_interval:
                swept = time.monotonic()
                clock.sweep()
        except Exception:  # a bad tick must not stop the clock, as APScheduler's doesn't
            log.exception("clock tick failed")


def run(rt: Runtime) -> None:
    settings = rt.settings
    if settings.adops_clock_lease < 2 * settings.adops_clock_tick:
        raise ConfigError("ADOPS_CLOCK_LEASE must be at least twice ADOPS_CLOCK_TICK, or the leader's lock would "
                          "lapse between two of its own renewals")
    if added := rt.digests.index_paused():
        log.info("counted %d digest(s) paused before paused digests were counted", added)
    clock = Clock(rt)
    scheduler = BlockingScheduler(timezone="UTC")
    now = datetime.now(UTC)
    # coalesce: a clock that was paused catches up with one tick, not a burst; the due set, not
    # APScheduler, remembers which runs are owed.
    scheduler.add_job(clock.tick, "interval", seconds=settings.adops_clock_tick, id="digests", coalesce=True,
                      misfire_grace_time=max(1, int(settings.adops_clock_tick * 5)), max_instances=1,
                      replace_existing=True, next_run_time=now)
    scheduler.add_job(clock.sweep, "interval", seconds=settings.adops_sweep_interval, id="sweep", coalesce=True,
                      misfire_grace_time=settings.adops_sweep_interval, max_instances=1, replace_existing=True,
                      # A clock that (re)starts sweeps at once rather than a minute later.
                      next_run_time=now)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("clock %s started", clock.me)
    try:
        scheduler.start()
    finally:
        try:
            clock.resign()
        except Exception as exc:  # Redis gone: the lease lapses by itself
            log.warning("clock %s could not step down: %s", clock.me, type(exc).__name__)

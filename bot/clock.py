"""The clock: an APScheduler process that only enqueues.

Two clocks may run (a standby behind a deploy); a leader lock in Redis makes only one of them
enqueue each tick. What it enqueues is idempotent anyway, so a lost lock costs nothing but work.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler

from workers.runtime import Runtime

log = logging.getLogger(__name__)

SWEEP_EVERY = 60  # seconds
LEADER_TTL_MS = int(SWEEP_EVERY * 2.5 * 1000)


def is_leader(rt: Runtime, me: str) -> bool:
    key = f"{rt.store.prefix}clock:leader"
    if rt.redis.set(key, me, nx=True, px=LEADER_TTL_MS):
        return True
    holder = rt.redis.get(key)
    if holder is not None and (holder.decode() if isinstance(holder, bytes) else holder) == me:
        rt.redis.pexpire(key, LEADER_TTL_MS)
        return True
    return False


def tick(rt: Runtime, me: str) -> None:
    if is_leader(rt, me):
        rt.dispatch.sweep()


def run(rt: Runtime) -> None:
    me = f"{socket.gethostname()}:{os.getpid()}"
    scheduler = BlockingScheduler(timezone="UTC")
    # coalesce: after a pause, one sweep covers every missed tick; the grace keeps a late tick.
    scheduler.add_job(
        tick, "interval", args=(rt, me), seconds=SWEEP_EVERY, id="sweep", coalesce=True,
        misfire_grace_time=SWEEP_EVERY, max_instances=1, replace_existing=True,
        # A clock that (re)starts sweeps at once rather than a minute later.
        next_run_time=datetime.now(UTC),
    )
    log.info("clock %s started", me)
    scheduler.start()

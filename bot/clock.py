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

def leader_ttl_ms(rt: Runtime) -> int:
    # Two and a half sweeps: a leader that misses one tick keeps the lock; a dead one frees it soon.
    return int(rt.settings.adops_sweep_interval * 2.5 * 1000)


def is_leader(rt: Runtime, me: str) -> bool:
    key = f"{rt.store.prefix}clock:leader"
    if rt.redis.set(key, me, nx=True, px=leader_ttl_ms(rt)):
        return True
    holder = rt.redis.get(key)
    if holder is not None and (holder.decode() if isinstance(holder, bytes) else holder) == me:
        rt.redis.pexpire(key, leader_ttl_ms(rt))
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
        tick, "interval", args=(rt, me), seconds=rt.settings.adops_sweep_interval, id="sweep", coalesce=True,
        misfire_grace_time=rt.settings.adops_sweep_interval, max_instances=1, replace_existing=True,
        # A clock that (re)starts sweeps at once rather than a minute later.
        next_run_time=datetime.now(UTC),
    )
    log.info("clock %s started", me)
    scheduler.start()

"""The baseline of ``bench/exports_inflight.py``: an export actor that holds its worker thread.

The obvious way to write an export job: create it, then ``sleep(5); check`` until it is ready,
then post the outcome, all in one actor run. Each export occupies a thread for the vendor's
whole time-to-ready, so 8 threads move 8 exports per ~30 s. adops's steps (``workers/steps.py``)
instead re-enqueue a delayed poll and free the thread; the bench measures both.

Run by the bench as ``python -m dramatiq bench.sleepy_worker --processes 1 --threads 8
--queues bench_sleepy`` from the repo root, with the same environment as ``bot.cli worker``.
It reuses adops's runtime (job store, Instal adapter, Slack egress, renderer) so the only
difference measured is the waiting strategy.
"""

from __future__ import annotations

import logging
import time

import dramatiq

from workers import render
from workers.boot import boot, load_settings
from workers.logs import setup as setup_logging

setup_logging()
# Booting makes this runtime's broker Dramatiq's global one, which the actor below is declared on.
RT = boot(load_settings())

QUEUE = "bench_sleepy"
ACTOR = "sleepy_export"
POLL_EVERY = 5.0

log = logging.getLogger(__name__)


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0, time_limit=30 * 60_000)
def sleepy_export(job_id: str) -> None:
    rt = RT
    job = rt.store.get(job_id)
    if job is None or job.terminal:
        return
    started = rt.clock()
    rt.store.update(job_id, bench_started_at=started)
    vendor = rt.client(job.vendor)
    rt.store.transition(job_id, ["queued"], "requesting")
    export_id = vendor.create(job.params)
    rt.store.transition(job_id, ["requesting"], "waiting", export_id=export_id)
    polls = 0
    while True:
        time.sleep(POLL_EVERY)  # the point of the baseline: the thread waits with the export
        status = vendor.check(export_id)
        polls += 1
        if status.state == "ready":
            break
        if status.state == "failed":
            rt.store.transition(job_id, ["waiting"], "failed", error=status.reason or "failed", finished_at=rt.clock(), polls=polls)
            return
    result = {"url": status.url, "rows": status.rows}
    rt.store.transition(
        job_id, ["waiting"], "delivered", polls=polls, vendor_state=status.vendor_state,
        result={k: v for k, v in result.items() if v is not None}, finished_at=rt.clock(),
    )
    done = rt.store.get(job_id)
    assert done is not None
    message = render.outcome(done)  # the same outcome message adops posts
    rt.slack.post(done.channel_id, message.text, message.blocks)
    rt.store.update(job_id, outcome_posted=True)

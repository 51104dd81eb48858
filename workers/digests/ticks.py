"""The clock's half of digests: find the runs that are due and send one message for each.

Nothing here calls a vendor or Slack: a due digest costs a few Redis calls and one enqueue, so
a clock ticking every second stays a thin enqueuer however many digests fall due together.

Each due digest's run is sent first and the digest moved on after (compare-and-set on its due
score). A clock that dies between the two leaves the run due, and the next leader sends it
again; the worker's once-only key for (digest, scheduled time) makes that second send a no-op.
So a run is never lost and never made twice.

After an outage (no clock at all, or a failover slower than a run's interval): the runs missed
within ``ADOPS_DIGEST_GRACE`` of now are folded into one run, the latest, which says how many it
stands for; when even the latest is older than that, nothing fires for them (a backlog of
yesterday's digests helps nobody) and the next run says how many were missed, and since when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from workers import logcontext, metrics
from workers.digests.cron import Cron, parse_cron
from workers.digests.store import Digest
from workers.runtime import Runtime

__all__ = ["BATCH", "Tick", "fire_due"]

log = logging.getLogger(__name__)

#: Due digests read per Redis call; a tick keeps reading until none is due.
BATCH = 500
#: Missed runs counted one by one up to this many (a seconds schedule down for a day).
MISSED_CAP = 10_000
#: A digest whose run could not be handled (a stored schedule that no longer reads) is looked
#: at again this much later, not every tick.
BROKEN_RETRY = 300.0


@dataclass
class Tick:
    """What one tick did."""

    fired: int = 0
    missed: int = 0
    broken: int = 0


def fire_due(rt: Runtime, now: float) -> Tick:
    """Send every run due at ``now``; one digest's trouble never stops the others."""
    tick = Tick()
    while True:
        due = rt.digests.due(now, BATCH)
        # One round trip reads the batch and one moves it on (after every send of the batch, so a
        # clock that dies between leaves runs due, never moved on unsent): a thousand digests due
        # together cost two round trips per 500, not two per digest, beside the sends.
        moves: list[tuple[str, float, float, int, float]] = []
        for (digest_id, seen), raw in zip(due, rt.digests.get_many_raw([d for d, _ in due]), strict=True):
            with logcontext.scope(digest_id=digest_id):  # this digest's lines say so (JSON logs)
                try:
                    _one(rt, digest_id, Digest.from_redis(raw) if raw else None, seen, now, tick, moves)
                except Exception:
                    tick.broken += 1
                    metrics.DIGEST_TICKS.labels("broken").inc()
                    log.exception("digest %s: its run at %.0f could not be sent; trying again later", digest_id, seen)
                    moves.append((digest_id, seen, now + BROKEN_RETRY, 0, 0.0))
        rt.digests.advance_many(moves)
        if len(due) < BATCH:
            return tick


def _one(rt: Runtime, digest_id: str, digest: Digest | None, seen: float, now: float, tick: Tick,
         moves: list[tuple[str, float, float, int, float]]) -> None:
    if digest is None or digest.paused:
        rt.digests.unschedule(digest_id)  # removed or paused under the clock's feet
        return
    cron, zone = _cron(digest.cron), ZoneInfo(digest.tz)
    runs = [seen, *cron.between(seen, now, zone, limit=MISSED_CAP)]
    next_at = cron.next_after(now, zone)
    latest = runs[-1]
    if now - latest <= rt.settings.adops_digest_grace:
        rt.dispatch.digest(digest_id, latest, skipped=len(runs) - 1, since=runs[0] if len(runs) > 1 else 0.0)
        tick.fired += 1
        metrics.DIGEST_TICKS.labels("fired").inc()
        moves.append((digest_id, seen, next_at, 0, 0.0))
        return
    log.warning("digest %s: %d run(s) since %.0f were missed by more than ADOPS_DIGEST_GRACE; none is made now",
                digest_id, len(runs), runs[0])
    tick.missed += len(runs)
    metrics.DIGEST_TICKS.labels("missed").inc(len(runs))
    moves.append((digest_id, seen, next_at, len(runs), runs[0]))


@lru_cache(maxsize=4096)
def _cron(text: str) -> Cron:
    # A thousand digests share a handful of schedules: parse each once per process.
    return parse_cron(text)

"""The raw impressions export as a build (``workers.builds``): plan the windows, walk each one.

``plan`` checks retention (3 months) and cuts the range into windows of at most 14 days, exact
to the second in the requested zone; each window is a walk of :mod:`search`. ``fetch`` does one
step of a walk: its rows go to the sink (flattened), the rest of the walk comes back as a
follow-up part. A part's key is its start (wall clock, so keys sort in time order) and how
many times that start was asked before, so a window asked again smaller gets a key of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from workers.builds import Fetched, Part, Plan, RowSink, merge_tally, top
from workers.errors import Refused
from workers.jobs import Job
from workers.mrkdwn import Mrkdwn, md
from workers.render import Rendered, fallback, note, section
from workers.vendors.everflow.client import EverflowClient
from workers.vendors.everflow.rows import column_order, flatten, tally
from workers.vendors.everflow.search import Walk, step
from workers.vendors.everflow.windows import cut_windows, fmt, parse, retention_cut, retention_start, wall
from workers.vendors.everflow.zones import ZONES

__all__ = ["OP", "EverflowImpressions", "part_key"]

OP = "everflow-impressions"
#: Rows flattened at a time: a batch of flat rows beside the answer, not a second copy of it.
BATCH = 500


def part_key(walk: Walk) -> str:
    return f"{fmt(walk.start).replace('-', '').replace(':', '').replace(' ', 'T')}.{walk.empties:03d}"


class EverflowImpressions:
    """:class:`workers.builds.Builder` for ``export everflow impressions``."""

    op = OP
    unit = "impressions"
    part_word = "window"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def plan(self, client: Any, params: dict[str, Any]) -> Plan:
        zone = ZONES[int(params["timezone_id"])]
        start, end = parse(params["start"]), parse(params["end"])
        now = self.clock()
        cut = retention_cut(start, end, now, zone)
        if cut.start > cut.end:
            raise Refused(
                f"Everflow keeps raw impressions for 3 months only: all of {params['start']}..{params['end']} "
                f"({zone}) is older, so there is nothing to export. The oldest you can ask for is "
                f"{fmt(retention_start(now, zone))}."
            )
        note_text = ""
        if cut.cut:
            note_text = (f"Everflow keeps raw impressions for 3 months only, so this export starts at "
                         f"{fmt(cut.start)} ({zone}), not {params['start']}.")
        windows = cut_windows(cut.start, cut.end)
        # One walk first: it learns the traffic and hands what it learnt to the other windows,
        # which then run in parallel (search.step).
        first = Walk(*windows[0], later=tuple(windows[1:]))
        parts = (Part(part_key(first), first.params()),)
        return Plan(parts, note_text, span=cut.end - cut.start + 1)

    def fetch(self, client: EverflowClient, params: dict[str, Any], part: Part, sink: RowSink) -> Fetched:
        zone_id = int(params["timezone_id"])
        filters = list(params.get("filters") or [])

        def ask(first: int, last: int) -> list[dict[str, Any]]:
            return client.impressions(fmt(first), fmt(last), zone_id, filters)

        tz = ZoneInfo(ZONES[zone_id])

        def stamp(row: dict[str, Any]) -> int | None:
            # Everflow's unix_timestamp, as a wall-clock second in the request's zone.
            value = row.get("unix_timestamp")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return None
            return wall(datetime.fromtimestamp(int(value), tz))

        # The answer's rows stay in memory until written: hold one of the process's answers over
        # the whole fetch (limits.ANSWERS_PER_PROCESS), and flatten, write and count them a batch
        # at a time, so a fetch holds one copy of its rows (the answer), not two.
        columns: dict[str, None] = {}
        counts: dict[str, dict[str, int]] = {}
        with client.holding():
            done = step(Walk.of(part.params), ask, stamp)
            for at in range(0, len(done.rows), BATCH):
                flat = [flatten(row) for row in done.rows[at:at + BATCH]]
                for row in flat:
                    columns.update(dict.fromkeys(row))
                    sink.write(row)
                counts = merge_tally(counts, tally(flat))
        then = tuple(Part(part_key(walk), walk.params()) for walk in done.then)
        return Fetched(rows=len(done.rows), then=then, columns=tuple(columns), tally=counts,
                       requests=done.requests, covered=done.covered)

    def columns(self, seen: Sequence[str]) -> list[str]:
        return column_order(seen)

    def file_name(self, job: Job) -> str:
        start = str(job.params.get("start", ""))[:10]
        end = str(job.params.get("end", ""))[:10]
        return f"everflow-impressions-{start}-{end}-{job.id}.csv"

    def render(self, job: Job) -> Rendered:
        result = job.result
        rows = int(result.get("rows", 0))
        zone = ZONES.get(int(job.params.get("timezone_id", 67)), "UTC")
        head = md("*{}*: {:,} impressions, {}..{} ({})", job.summary, rows, job.params.get("start", ""),
                  job.params.get("end", ""), zone)
        counts = result.get("tally") or {}  # merged over the parts by the engine already
        lines = [head]
        for dim, label in (("offer", "Top offers"), ("country", "Top countries")):
            best = top(counts.get(dim, {}))
            if best:
                shown = ", ".join(md("{} {:,}", name, n) for name, n in best)
                lines.append(md("{}: {}", label, Mrkdwn(shown)))
        blocks = [section("\n".join(lines))]
        if result.get("note"):
            blocks.append(note(str(result["note"])))
        return Rendered(fallback("{}: {:,} impressions", job.summary, rows), blocks)

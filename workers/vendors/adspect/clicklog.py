"""``/adops export adspect clicks``: the raw click log as one CSV, built by the bot.

A :class:`~workers.builds.Builder`: the plan checks the columns, countries and modes against
Adspect's collections and the stream names against its streams, then cuts the range into one
part a day (a day of a busy account is a few hundred thousand clicks: a part that fails is
cheap to redo, and days run in parallel). A part asks for its day, ``[midnight, midnight+1d-1s]``
in the zone so no click is in two parts, and writes each row to the sink as its line arrives:
memory does not grow with the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from workers.builds import Fetched, Part, Plan, RowSink, top
from workers.jobs import Job
from workers.render import Rendered, fallback, md, note, section
from workers.vendors.adspect.access import span
from workers.vendors.adspect.client import AdspectClient
from workers.vendors.adspect.collections import Collections
from workers.vendors.adspect.lookup import resolve

__all__ = ["CLICKS", "DEFAULT_COLUMNS", "ClickLog"]

DEFAULT_COLUMNS = ("timestamp", "ip_address", "country_code", "stream_id", "target")
#: Tallied for the result's breakdown when the rows carry them.
_TALLY = {"country_code": "country", "stream_id": "stream"}


class ClickLog:
    op = "adspect_clicks"
    unit = "clicks"
    part_word = "day"

    def plan(self, client: AdspectClient, params: dict[str, Any]) -> Plan:
        checked = Collections(client)  # no Redis here: kept on the adapter for a day
        columns = checked.check("columns", params.get("columns") or DEFAULT_COLUMNS)
        countries = checked.check("country", params.get("countries") or ())
        modes = checked.check("mode", params.get("modes") or ())
        ids = []
        if params.get("streams"):
            streams = client.all_streams()
            ids = [resolve(streams, s).stream_id for s in params["streams"]]
        start, end = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
        parts, day = [], start
        while day <= end:
            a, b = span(day, day, params["tz"])
            parts.append(Part(day.strftime("%Y%m%d"), {"from": a, "to": b, "stream_ids": ids, "columns": columns,
                                                           "countries": countries, "modes": modes}))
            day += timedelta(days=1)
        return Plan(tuple(parts))

    def fetch(self, client: AdspectClient, params: dict[str, Any], part: Part, sink: RowSink) -> Fetched:
        columns = list(part.params["columns"])  # as the plan checked them
        filters = {"date_from": part.params["from"], "date_to": part.params["to"], "time_zone": params["tz"],
                   "stream_id": part.params.get("stream_ids") or None,
                   "country_code": part.params.get("countries") or None, "mode": part.params.get("modes") or None}
        tally: dict[str, dict[str, int]] = {dim: {} for col, dim in _TALLY.items() if col in columns}
        counted = [(tally[dim], columns.index(col)) for col, dim in _TALLY.items() if col in columns]
        rows = 0
        with client.log(columns, filters) as lines:
            for row in lines:
                sink.write(dict(zip(columns, row, strict=False)))
                rows += 1
                for counts, i in counted:
                    key = str(row[i]) if i < len(row) else ""
                    counts[key] = counts.get(key, 0) + 1
        return Fetched(rows=rows, columns=tuple(columns), tally=tally, requests=1)

    def columns(self, seen: Sequence[str]) -> list[str]:
        return list(seen)  # the order asked for, which every part shares

    def file_name(self, job: Job) -> str:
        p = job.params
        span_text = p["start"] if p["start"] == p["end"] else f"{p['start']}..{p['end']}"
        return f"adspect-clicks-{span_text}.csv"

    def render(self, job: Job) -> Rendered:
        r, p = job.result, job.params
        rows = int(r.get("rows") or 0)
        text = md(":white_check_mark: *Adspect click log* {}..{} ({}): *{:,}* clicks", p["start"], p["end"], p["tz"], rows)
        blocks = [section(text)]
        countries = top((r.get("tally") or {}).get("country", {}))
        if countries:
            blocks.append(note(md("top countries: {}", ", ".join(f"{c} {n:,}" for c, n in countries))))
        if r.get("note"):
            blocks.append(note(md("{}", r["note"])))
        return Rendered(fallback("Adspect click log: {} clicks", rows), blocks)


CLICKS = ClickLog()

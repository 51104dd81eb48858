"""``/adops funnel``: Adspect's sales funnel as a readable table, the whole table as CSV when it
is cut, and a trend chart when it is grouped by date.

Every option is checked against Adspect's collections first (cached, see ``collections``), and
stream names are turned into ids; a typo is refused with the nearest valid value before any
report is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from workers.files import job_dir
from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, code_block, fallback, md, note, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.adspect.access import client, collections, span
from workers.vendors.adspect.chart import LINES, draw
from workers.vendors.adspect.lookup import resolve
from workers.vendors.adspect.table import code_table, fmt, heading, label, order, totals, write_csv

__all__ = ["DEFAULT_METRICS", "TASKS", "render", "run"]

DEFAULT_BY = ("stream_id",)
DEFAULT_METRICS = ("clicks", "money_hits", "safe_hits", "quality")
#: Rows a message shows at most, and the characters its table may take (a section holds 3 000).
MOST_ROWS = 20
BUDGET = 2_700
#: Streams the chart draws a line for.
CHART_STREAMS = 5


def run(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    checked = collections(rt)
    by = checked.check("by", p.get("by") or DEFAULT_BY)
    metrics = checked.check("metrics", p.get("metrics") or DEFAULT_METRICS)
    countries = checked.check("country", p.get("countries") or ())
    modes = checked.check("mode", p.get("modes") or ())
    api = client(rt)
    wanted = p.get("streams") or []
    streams = api.all_streams() if wanted or "stream_id" in by else []
    ids = [resolve(streams, s).stream_id for s in wanted]
    names = {s.stream_id: s.name for s in streams}
    start, end = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
    date_from, date_to = span(start, end, p["tz"])
    rows = api.funnel(by, metrics, {"date_from": date_from, "date_to": date_to, "time_zone": p["tz"],
                                    "stream_id": ids or None, "country_code": countries or None,
                                    "mode": modes or None})
    rows = order(by, metrics, rows)
    total = totals(metrics, [r[len(by):] for r in rows])
    header = [heading(d) for d in by] + [heading(m) for m in metrics]
    body = [[label(d, v, names) for d, v in zip(by, r, strict=False)]
            + [fmt(m, v) for m, v in zip(metrics, r[len(by):], strict=True)] for r in rows]
    foot = ["Total"] + [""] * (len(by) - 1) + [fmt(m, v) for m, v in zip(metrics, total, strict=True)]
    table, shown = code_table(header, body, foot, label_columns=len(by), budget=BUDGET, most=MOST_ROWS)
    stem = f"adspect-funnel-{start}..{end}" if start != end else f"adspect-funnel-{start}"
    files: list[dict[str, Any]] = []
    if shown < len(rows):
        path = job_dir(rt.settings, job.id) / f"{stem}.csv"
        csv_header = [*by, *(["stream"] if "stream_id" in by else []), *metrics]
        csv_rows = [[*r[: len(by)], *([names.get(str(r[by.index("stream_id")]), "")] if "stream_id" in by else []),
                     *r[len(by):]] for r in rows]
        csv_rows.append(["Total", *[""] * (len(by) - 1 + ("stream_id" in by)), *total])
        size = write_csv(path, csv_header, csv_rows)
        files.append({"path": str(path), "name": path.name, "rows": len(rows), "bytes": size,
                      "content_type": "text/csv"})
    if "date" in by and rows:
        files.append(_chart(rt, job, stem, by, metrics, rows, names))
    return {"range": f"{start}..{end}" if start != end else str(start), "tz": p["tz"], "by": by, "metrics": metrics,
            "table": table, "rows": len(rows), "shown": shown, "files": files,
            "filters": {"streams": [names.get(i, i) for i in ids], "countries": countries, "modes": modes}}


def _chart(rt: Runtime, job: Job, stem: str, by: Sequence[str], metrics: Sequence[str], rows: list[list[Any]],
           names: dict[str, str]) -> dict[str, Any]:
    d = by.index("date")
    days = sorted({str(r[d]) for r in rows})
    at = {day: i for i, day in enumerate(days)}
    drawn = [m for m in LINES if m in metrics]  # the metrics the chart has a line for, asked for
    series: dict[str, list[float]] = {}
    for m in drawn:
        col, values = len(by) + metrics.index(m), [0.0] * len(days)
        for r in rows:
            values[at[str(r[d])]] += float(r[col] or 0)
        series[m] = values
    per_stream: dict[str, list[float]] = {}
    counted = drawn[0] if drawn else None
    if "stream_id" in by and counted:
        s, col = by.index("stream_id"), len(by) + metrics.index(counted)
        sums: dict[str, list[float]] = {}
        for r in rows:
            sums.setdefault(str(r[s]), [0.0] * len(days))[at[str(r[d])]] += float(r[col] or 0)
        for sid in sorted(sums, key=lambda k: -sum(sums[k]))[:CHART_STREAMS]:
            per_stream[names.get(sid, sid)] = sums[sid]
    path = job_dir(rt.settings, job.id) / f"{stem}.png"
    size = draw(path, days, series, per_stream, f"Adspect funnel {days[0]} – {days[-1]}")
    return {"path": str(path), "name": path.name, "rows": None, "bytes": size, "content_type": "image/png"}


def render(job: Job) -> Rendered:
    r = job.result
    by = ", ".join(heading(b) for b in r["by"])
    f = r.get("filters") or {}
    only = [*f.get("streams", []), *f.get("countries", []), *f.get("modes", [])]
    head = md("*Adspect funnel* · {} ({}) · by {}{}", r["range"], r["tz"], by,
              md(" · only {}", ", ".join(only)) if only else "")
    if not r["rows"]:
        text = md("{}\nNo clicks in this range.", head)
        return Rendered(text, [section(text)])
    blocks = [section(md("{}\n{}", head, code_block(r["table"])))]
    lines: list[Mrkdwn] = []
    if r["shown"] < r["rows"]:
        first = "by date" if r["by"][0] in ("date", "month") else "busiest first"
        lines.append(md("{} of {} rows shown ({})", r["shown"], r["rows"], first))
    for file in r.get("files", []):
        what = "the whole table" if file["content_type"] == "text/csv" else "trend chart"
        lines.append(md("{}: {}", what, code(file["name"])))
    if lines:
        blocks.append(note(*lines))
    return Rendered(fallback("Adspect funnel {}: {} rows", r["range"], r["rows"]), blocks)


TASKS = (Task("ad_funnel", run, render),)

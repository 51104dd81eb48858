"""``/adops fraud``: 24Metrics rejections by reason and by publisher, from the report tables.

The tables are read newest first through cursor pages of at most 100 rows, within a row budget
per table, so a busy integration costs a bounded number of calls. When the budget cuts the walk
the summary says so, how much it saw, and which export gives everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from workers.jobs import Job
from workers.render import Rendered, ellipsize, escape, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import client
from workers.vendors.metrics24.rows import is_rejected, publisher_of, rejection_reason

__all__ = ["ROW_BUDGET", "fraud_message", "summarize"]

#: Rows read per table: 100 pages of 100. Enough for a clear picture; the export has the rest.
ROW_BUDGET = 10_000
TOP = 8


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by rejection reason and by publisher (pure)."""
    total = rejected = 0
    reasons: Counter[str] = Counter()
    by_publisher: Counter[str] = Counter()
    seen_by_publisher: Counter[str] = Counter()
    names: dict[str, str] = {}
    for row in rows:
        total += 1
        publisher, name = publisher_of(row)
        publisher = publisher or "unknown"
        seen_by_publisher[publisher] += 1
        if name:
            names[publisher] = name
        if is_rejected(row):
            rejected += 1
            reasons[rejection_reason(row) or "Unknown"] += 1
            by_publisher[publisher] += 1
    publishers = [
        {"id": pid, "name": names.get(pid), "rejected": count, "seen": seen_by_publisher[pid]}
        for pid, count in by_publisher.most_common(TOP)
    ]
    return {
        "rows": total,
        "rejected": rejected,
        "reasons": [[reason, count] for reason, count in reasons.most_common(TOP)],
        "other_reasons": sum(reasons.values()) - sum(c for _, c in reasons.most_common(TOP)),
        "publishers": publishers,
        "publisher_count": len(by_publisher),
    }


def fraud(rt: Runtime, job: Job) -> dict[str, Any]:
    api = client(rt)
    params = {
        "start_date": job.params["start_date"],
        "end_date": job.params["end_date"],
        "integration": job.params["integration"],
    }
    out: dict[str, Any] = {"start_date": params["start_date"], "end_date": params["end_date"]}
    for table, key in (("click", "clicks"), ("conversion", "conversions")):
        page = api.report_rows(table, params, max_rows=ROW_BUDGET)  # type: ignore[arg-type]
        out[key] = summarize(page.rows) | {"complete": page.complete, "pages": page.pages, "total": page.total}
    return out


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _table(rows: list[tuple[str, str, str]], header: tuple[str, str, str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}"]
    lines += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    return "```\n" + "\n".join(lines) + "\n```"


def _part(title: str, kind: str, s: dict[str, Any], command: str) -> str:
    lines = [f"*{title}*: {s['rows']:,} checked, *{s['rejected']:,} rejected* ({_pct(s['rejected'], s['rows'])})"]
    if not s["complete"]:
        of = f" of {s['total']:,}" if s.get("total") else ""
        lines.append(
            f":warning: Partial: the newest {s['rows']:,}{of} {kind} (the summary reads at most {ROW_BUDGET:,}). "
            f"For all of them: `{command}`"
        )
    if s["rejected"]:
        reasons = [(ellipsize(r, 40), f"{c:,}", _pct(c, s["rejected"])) for r, c in s["reasons"]]
        if s["other_reasons"]:
            reasons.append(("(other reasons)", f"{s['other_reasons']:,}", _pct(s["other_reasons"], s["rejected"])))
        lines.append(_table(reasons, ("reason", "rejected", "share")))
        pubs = [
            (ellipsize(p["id"] + (f" {p['name']}" if p.get("name") else ""), 40), f"{p['rejected']:,}", _pct(p["rejected"], p["seen"]))
            for p in s["publishers"]
        ]
        lines.append(_table(pubs, ("publisher", "rejected", "of theirs")))
    return "\n".join(lines)


def fraud_message(result: dict[str, Any]) -> Rendered:
    span = result["start_date"] if result["start_date"] == result["end_date"] else f"{result['start_date']}..{result['end_date']}"
    head = f":shield: *24Metrics fraud summary* · {span}"
    blocks: list[dict[str, Any]] = [section(head)]
    for title, key, kind in (("Clicks", "clicks", "clicks"), ("Conversions", "conversions", "conversions")):
        command = f"/adops export 24metrics {kind} {span}"
        text = _part(title, kind, result[key], command)
        blocks.append(section(escape(text)))
    c, v = result["clicks"], result["conversions"]
    text = f"24Metrics fraud summary {span}: {c['rejected']:,} clicks and {v['rejected']:,} conversions rejected"
    return Rendered(text=text, blocks=blocks)


TASKS = (Task("fraud", fraud, lambda job: fraud_message(job.result), slow=True),)

"""The funnel as a readable table (pure): numbers formatted, rates as percentages, a totals row,
stream ids as names; cut to fit a message, the whole of it as CSV.

Rates are recomputed for the totals from their parts (money hits over clicks), never averaged;
a rate whose parts were not asked for is totalled as clicks-weighted when clicks were, else "—".
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "COUNTS", "MONEY", "RATES", "code_table", "fmt", "heading", "label", "order", "totals", "write_csv",
]

RATES = ("quality", "cr", "roi")
MONEY = ("cost", "revenue", "profit", "cpc", "cpm", "cpa", "epl", "epc", "epm")
COUNTS = ("clicks", "unique_clicks", "fp_clicks", "money_hits", "unique_money_hits", "safe_hits", "givt", "sivt", "mia",
          "conversions")
#: A rate or a price from its parts: (numerator, denominator, factor).
_PARTS = {"quality": ("money_hits", "clicks", 1), "cr": ("conversions", "clicks", 1), "roi": ("profit", "cost", 1),
          "cpc": ("cost", "clicks", 1), "cpm": ("cost", "clicks", 1000), "cpa": ("cost", "conversions", 1),
          "epl": ("revenue", "conversions", 1), "epc": ("revenue", "clicks", 1), "epm": ("revenue", "clicks", 1000)}
_SUMMED = (*COUNTS, "cost", "revenue", "profit")
HEADINGS = {"stream_id": "stream", "country_code": "country", "sub_id": "sub id", "click_id": "click id",
            "money_hits": "money", "safe_hits": "safe", "unique_clicks": "unique", "fp_clicks": "fingerprinted",
            "unique_money_hits": "unique money", "quality": "quality %", "cr": "CR %", "roi": "ROI %"}
TARGETS = {0: "safe page", 1: "money page", "0": "safe page", "1": "money page"}


def fmt(metric: str, value: Any) -> str:
    """One value as people read it: 1,453 · 51.9% · 12.34; "—" for none."""
    if value is None or value == "":
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    if metric in RATES:
        return f"{value * 100:.1f}%"
    if metric in MONEY:
        return f"{value:,.2f}"
    if metric in COUNTS or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def label(dim: str, value: Any, names: Mapping[str, str]) -> str:
    """A breakdown value as people read it: a stream's name, "money page"."""
    if dim == "stream_id":
        return names.get(str(value), str(value))
    if dim == "target":
        return TARGETS.get(value, str(value))
    return "—" if value in (None, "") else str(value)


def totals(metrics: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The totals row of ``rows`` (metric values only, in ``metrics`` order)."""
    sums = {m: sum(r[i] for r in rows if isinstance(r[i], (int, float))) for i, m in enumerate(metrics) if m in _SUMMED}
    out: list[Any] = []
    for i, m in enumerate(metrics):
        if m in sums:
            out.append(sums[m])
        elif m in _PARTS and _PARTS[m][0] in sums and _PARTS[m][1] in sums:
            top, bottom, factor = _PARTS[m]
            out.append(sums[top] / sums[bottom] * factor if sums[bottom] else 0)
        elif "clicks" in metrics and m in _PARTS:
            c = metrics.index("clicks")
            weight = sum(r[c] for r in rows if isinstance(r[c], (int, float)))
            part = sum(r[i] * r[c] for r in rows if isinstance(r[i], (int, float)) and isinstance(r[c], (int, float)))
            out.append(part / weight if weight else 0)
        else:
            out.append(None)
    return out


def order(by: Sequence[str], metrics: Sequence[str], rows: list[list[Any]]) -> list[list[Any]]:
    """By date (or month) when that is the first breakdown, then (or else) busiest first by the
    first metric; ties by the breakdown values, so the order is stable."""
    first = len(by)
    dated = bool(by) and by[0] in ("date", "month")

    def key(r: list[Any]) -> tuple[Any, ...]:
        busy = -(r[first] if isinstance(r[first], (int, float)) else 0)
        return (str(r[0]) if dated else "", busy, tuple(str(v) for v in r[:first]))

    return sorted(rows, key=key)


def heading(name: str) -> str:
    return HEADINGS.get(name, name.replace("_", " "))


def code_table(header: Sequence[str], body: Sequence[Sequence[str]], total: Sequence[str], *, label_columns: int,
               budget: int, most: int) -> tuple[str, int]:
    """A monospaced table of as many of ``body``'s rows as fit ``budget`` characters (at most
    ``most``), then the totals; labels left, numbers right. The text and how many rows it shows."""
    widths = [min(32, max(len(str(c)) for c in col)) for col in zip(header, *body, total, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            text = cell if len(cell) <= w else cell[: w - 1] + "…"
            parts.append(text.ljust(w) if i < label_columns else text.rjust(w))
        return "  ".join(parts).rstrip()

    head, rule, foot = line(header), "-" * len(line(header)), line(total)
    used = len(head) + len(foot) + 2 * len(rule) + 8
    shown: list[str] = []
    for row in body[:most]:
        text = line(row)
        if used + len(text) + 1 > budget:
            break
        shown.append(text)
        used += len(text) + 1
    return "\n".join([head, rule, *shown, rule, foot]), len(shown)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """The whole table as CSV (raw numbers, no formatting); its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path.stat().st_size

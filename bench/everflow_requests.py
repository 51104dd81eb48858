"""Requests the Everflow search spends on a 40-day dense range, beside the least possible, same run.

The builder runs under the synchronous driver of ``tests/everflow_driver.py`` against the sandbox
mounted in-process (the same search the engine runs, one part at a time). "Least possible" is
computed from the sandbox's own counts of the very same range: for each 14-day window,
``ceil(rows / 10 000)`` requests (an answer holds at most 10 000, and a request spans one window);
the issue's formula (``rows / 10 000`` per window plus one per 14 days) is shown beside it.
Budget: at most 1.5x the least.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import update_results  # noqa: E402
from devkit.sandbox import Sandbox  # noqa: E402
from tests.everflow_driver import build  # noqa: E402
from workers.vendors.everflow import sandbox_data as data  # noqa: E402
from workers.vendors.registry import CATALOGUE  # noqa: E402

WINDOW = 14 * 86400


def least(first: int, last: int, offers: list[int] | None) -> tuple[int, float]:
    strict, issue = 0, 0.0
    for a in range(first, last + 1, WINDOW):
        rows = data.total(7, a, min(a + WINDOW - 1, last), offers)
        strict += max(1, math.ceil(rows / 10_000))
        issue += rows / 10_000 + 1
    return strict, issue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    first = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    last = first + args.days * 86400 - 1
    lines = ["| range | filter | rows | requests | least (ceil per 14-day window) | ratio | issue's formula | ratio | budget 1.5x | s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    sandbox = Sandbox(apps=CATALOGUE.sandbox_apps)
    for label, offers in (("none (all offers)", None), ("offer=883", [883]), ("offer=999 (quiet)", [999])):
        params = {"op": "everflow-impressions", "start": f"{start} 00:00:00", "end": f"{end} 23:59:59",
                  "timezone_id": 67,
                  "filters": [{"resource_type": "offer", "filter_id_value": str(o)} for o in offers or []]}
        began = time.monotonic()
        built = build(sandbox, params, keep=False)
        took = time.monotonic() - began
        rows = data.total(7, first, last, offers)
        strict, issue = least(first, last, offers)
        ok = "holds" if built.requests <= 1.5 * strict else "NO"
        lines.append(f"| {start}..{end} | {label} | {rows:,} | {built.requests} | {strict} | "
                     f"{built.requests / strict:.2f}x | {issue:.1f} | {built.requests / issue:.2f}x | {ok} | {took:.0f} |")
        print(lines[-1], flush=True)
    body = "\n".join([*lines, "", "Sandbox traffic: daily curve, dense days in pairs (3x), offers pausing for days; "
                      "the search runs one part at a time (the engine runs parts in parallel; the count is the same)."])
    if not args.no_write:
        update_results("everflow_requests", "Everflow requests for a 40-day range (`bench/everflow_requests.py`)", body)


if __name__ == "__main__":
    main()

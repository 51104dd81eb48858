"""How long ``Cron.next_after`` takes on the hard schedules (issue 11 asks under 5 ms a call).

It replaces a test that asserted a time: speed is measured here, never in the tests. Every call
is timed in CPU time of this thread (``time.thread_time``: on a busy machine the wall clock mostly
measures who else had the core) on schedules that make the search work (every second, Feb 29,
weekdays only, the last second of the year), across a daylight-saving change in Berlin, beside the
least a call could cost in the same run: converting the same instant to the zone's local time
(``datetime.fromtimestamp(t, zone)``), which every call does at least once.

Run from the repo root: ``.venv/bin/python bench/cron.py [--calls 200]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import update_results  # noqa: E402

from workers.digests.cron import parse_cron  # noqa: E402

BUDGET_MS = 5.0
SCHEDULES = ("*/2 * * * * *", "* * * * * *", "0 0 29 2 *", "0 9 * * MON-FRI", "59 23 31 12 *")
ZONE = ZoneInfo("Europe/Berlin")
#: Two hours before Berlin's clocks went forward in 2027.
START = datetime(2027, 3, 28, tzinfo=ZONE).timestamp() - 7200


def timed(fn: object, calls: int) -> list[float]:
    out = []
    for n in range(calls):
        began = time.thread_time()
        fn(START + n * 997)  # type: ignore[operator]
        out.append((time.thread_time() - began) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per schedule")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    rows = ["| schedule | calls | median ms | p99 ms | max ms | calls over budget |", "|---|---:|---:|---:|---:|---:|"]
    medians, over = [], 0
    for text in SCHEDULES:
        cron = parse_cron(text)
        took = timed(lambda t, c=cron: c.next_after(t, ZONE), args.calls)
        medians.append(statistics.median(took))
        over += sum(t >= BUDGET_MS for t in took)
        q = statistics.quantiles(took, n=100)
        rows.append(f"| `{text}` | {args.calls} | {medians[-1]:.3f} | {q[98]:.3f} | {max(took):.3f} | "
                    f"{sum(t >= BUDGET_MS for t in took)} |")
    base = timed(lambda t: datetime.fromtimestamp(t, ZONE), args.calls)
    rows.append(f"| **baseline**: `datetime.fromtimestamp(t, zone)` | {args.calls} | {statistics.median(base):.4f} | "
                f"{statistics.quantiles(base, n=100)[98]:.4f} | {max(base):.4f} | |")
    verdict = (f"Verdict: {over} of {args.calls * len(SCHEDULES)} calls over the budget of {BUDGET_MS:g} ms "
               f"(the slowest schedule's median {max(medians):.3f} ms): {'holds' if over == 0 else 'MISSED'}.")
    report = "\n".join([
        f"Setup: `Cron.next_after(t, Europe/Berlin)` for {args.calls} instants per schedule, 997 s apart from two hours "
        "before the 2027 spring-forward, one call at a time, CPU time of the calling thread.", "", *rows, "", verdict])
    print(report)
    if not args.no_write:
        update_results("cron", "Next run of a cron schedule (`bench/cron.py`)", report)


if __name__ == "__main__":
    main()

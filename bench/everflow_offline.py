"""Offline check of the Everflow search across seeds and ranges (counts only, no HTTP).

The same ``search.step`` the builder runs, against the sandbox's own generator
(``sandbox_data``): an ask over more than 10 000 rows answers nothing, as Everflow does. Rows
are only their timestamps (the search reads nothing else). The walk is driven in part-key order
like ``tests/everflow_driver.py``; every written row is checked once and windows never overlap.
Used to judge a change over several seeds and ranges, not one; the real bench is
``bench/everflow_requests.py``.
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workers.vendors.everflow import sandbox_data as data  # noqa: E402
from workers.vendors.everflow.builder import part_key  # noqa: E402
from workers.vendors.everflow.search import CAP, Walk, step  # noqa: E402
from workers.vendors.everflow.windows import cut_windows  # noqa: E402

DAY = 86_400
WINDOW = 14 * DAY
#: [range start] when each ask is printed (``--trace``).
TRACE: list[int] = []


def asker(seed: int, offers: list[int] | None, log: list[tuple[int, int]]) -> Any:
    chosen = offers if offers is not None else list(data.OFFERS)

    def ask(first: int, last: int) -> list[dict[str, Any]]:
        assert last - first + 1 <= WINDOW
        log.append((first, last))
        over = data.total(seed, first, last, chosen)
        if TRACE:
            base = TRACE[0]
            print(f"  ask {(first - base) / DAY:6.2f}..{(last + 1 - base) / DAY:6.2f} "
                  f"{(last - first + 1) / 3600:6.1f}h rows {over:6d}{' OVER' if over > CAP else ''}")
        if over > CAP:
            return []
        out = []
        for hour in range(first // 3600, last // 3600 + 1):
            for offer in chosen:
                n, lo, hi = data.span(seed, hour, offer, first, last)
                out.extend({"unix_timestamp": hour * 3600 + i * 3600 // n} for i in range(lo, hi))
        return out

    return ask


def run(seed: int, first: int, last: int, offers: list[int] | None) -> tuple[int, int]:
    """(requests, rows written), checking completeness."""
    log: list[tuple[int, int]] = []
    if TRACE:
        TRACE[:] = [first]
    ask = asker(seed, offers, log)
    windows = cut_windows(first, last)
    start = Walk(*windows[0], later=tuple(windows[1:]))
    todo = [(part_key(start), 0, start)]
    requests, written, spans, n = 0, 0, [], 1
    keys: set[str] = set()
    while todo:
        key, _, walk = heapq.heappop(todo)
        assert key not in keys, key
        keys.add(key)
        before = len(log)
        done = step(walk, ask, lambda r: r["unix_timestamp"])
        assert done.requests == len(log) - before
        requests += done.requests
        if done.rows:
            spans.append(log[before])
        written += len(done.rows)
        for nxt in done.then:
            n += 1
            heapq.heappush(todo, (part_key(nxt), n, nxt))
    spans.sort()
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False)), "windows overlap"
    expected = data.total(seed, first, last, offers)
    assert written == expected, (written, expected)
    return requests, written


def least(seed: int, first: int, last: int, offers: list[int] | None) -> tuple[int, float]:
    strict, issue = 0, 0.0
    for a in range(first, last + 1, WINDOW):
        rows = data.total(seed, a, min(a + WINDOW - 1, last), offers)
        strict += max(1, math.ceil(rows / CAP))
        issue += rows / CAP + 1
    return strict, issue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="7,2,4,11,23")
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--ends", default="20789,20425,20450", help="range end days (days since epoch)")
    parser.add_argument("--filters", default="all,883,882,999")
    parser.add_argument("--trace", action="store_true", help="print every ask")
    args = parser.parse_args()
    if args.trace:
        TRACE.append(0)
    worst: dict[str, float] = {}
    for label in args.filters.split(","):
        offers = None if label == "all" else [int(label)]
        for seed in (int(s) for s in args.seeds.split(",")):
            for end_day in (int(e) for e in args.ends.split(",")):
                last = (end_day + 1) * DAY - 1
                first = last + 1 - args.days * DAY
                requests, rows = run(seed, first, last, offers)
                strict, issue = least(seed, first, last, offers)
                worst[label] = max(worst.get(label, 0), requests / issue, requests / strict)
                print(f"{label:>4} seed {seed:>2} end {end_day} rows {rows:>7} requests {requests:>3} "
                      f"least {strict:>3} ({requests / strict:.2f}x) issue {issue:6.1f} ({requests / issue:.2f}x)",
                      flush=True)
    print("worst ratio:", {k: round(v, 2) for k, v in worst.items()})


if __name__ == "__main__":
    main()

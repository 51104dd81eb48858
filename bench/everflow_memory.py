"""Peak RSS of the worker exporting ~250 000 and ~1 000 000 Everflow impressions to CSV, beside
a load-everything baseline, in the same run.

What runs, each in its own process on loopback (as ``bench/exports_inflight.py``): a private
``redis-server``; the vendor sandbox (``python -m devkit.sandbox``, generating each Everflow answer
on the fly); the fake Slack; the web ingress (``python -m bot.cli web``) and one worker
(``python -m bot.cli worker --processes 1``, its default threads). The export goes through the real
ingress as a signed ``/adops export everflow impressions <range>`` and through the real engine (plan,
parts in parallel, assembly, gzip, delivery). The file is delivered as a signed link only
(``ADOPS_SLACK_UPLOAD_MAX=1``), so the fake Slack never holds it; files go to a temp ``ADOPS_FILES_DIR``.

"The worker" is the Dramatiq worker process that runs the actors (``dramatiq`` forks it from the
process ``bot.cli worker`` becomes): its peak RSS is ``VmHWM`` of ``/proc/<pid>/status``, read
every 0.2 s and once more when the job is done. Each size gets a fresh worker.

The baseline fetches the same range from the same sandbox process with the same builder, one
part after another, keeping every row in a list, then writes the CSV (``ru_maxrss`` of its process).
Budget: flat (the 1M run within 20 % of the 250k run), < 150 MB.

Run from the repo root: ``.venv/bin/python bench/everflow_memory.py``.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SlackProcess, update_results  # noqa: E402
from worker_memory import days_ending_yesterday, in_child, run_sizes, verdict, worker_export  # noqa: E402

from devkit.sandbox import Sandbox  # noqa: E402


def everflow_export(days: int, workdir: Path, redis_url: str, slack: SlackProcess, sandbox_url: str,
                    extra: dict[str, str]) -> dict[str, Any]:
    """One export through a fresh web + worker; the worker process's peak RSS and the job's result."""
    start, end = days_ending_yesterday(days)
    return worker_export(f"export everflow impressions {start}..{end}", str(days), workdir, redis_url, slack,
                         sandbox_url, {"EVERFLOW_API_KEY": Sandbox.TOKEN,
                                       "EVERFLOW_BASE_URL": sandbox_url + "/everflow", **extra})


def _baseline(days: int, sandbox_url: str, out: Any) -> None:
    from dramatiq.rate_limits.backends import StubBackend

    from workers.builds import Part
    from workers.vendors.everflow.builder import EverflowImpressions
    from workers.vendors.everflow.client import EverflowClient
    from workers.vendors.everflow.limits import EverflowLimits

    start, end = days_ending_yesterday(days)
    params = {"op": "everflow-impressions", "start": f"{start} 00:00:00", "end": f"{end} 23:59:59",
              "timezone_id": 67, "filters": []}
    builder = EverflowImpressions()
    began = time.monotonic()
    kept: list[dict[str, Any]] = []

    class Sink:
        def write(self, row: Any) -> None:
            kept.append(dict(row))

    with tempfile.TemporaryDirectory() as tmp, EverflowClient(
        sandbox_url + "/everflow", Sandbox.TOKEN, limits=EverflowLimits(StubBackend())
    ) as client:
        columns: dict[str, None] = {}
        todo: list[tuple[str, Part]] = [(p.key, p) for p in builder.plan(client, params).parts]
        heapq.heapify(todo)
        while todo:
            _, part = heapq.heappop(todo)
            fetched = builder.fetch(client, params, part, Sink())
            columns.update(dict.fromkeys(fetched.columns))
            for nxt in fetched.then:
                heapq.heappush(todo, (nxt.key, nxt))
        path = Path(tmp) / "out.csv"
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=builder.columns(list(columns)))
            writer.writeheader()
            writer.writerows(kept)
        size = path.stat().st_size
        requests = client.requests
    out.send({"rows": len(kept), "requests": requests, "bytes": size,
              "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "seconds": time.monotonic() - began})


def baseline(days: int, sandbox_url: str) -> dict[str, Any]:
    return in_child(_baseline, days, sandbox_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=88, help="days ending yesterday (88 unfiltered: ~1M rows)")
    parser.add_argument("--small", type=int, default=26, help="the smaller run's days (~250 000 rows)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the web and worker processes (to try a knob); repeatable")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    measured = run_sizes(everflow_export, None if args.no_baseline else baseline, small=args.small, days=args.days,
                         env=dict(item.split("=", 1) for item in args.env))
    body = "\n".join([*measured.lines, "", verdict(measured), "", "Setup: private redis-server, the vendor sandbox, "
                      "the fake Slack, the web ingress and one worker (`python -m bot.cli worker --processes 1`, default "
                      "threads), each its own process; the export is a signed `/adops export everflow impressions "
                      "<range>` through the ingress and the engine; the CSV is gzipped and delivered as a signed link "
                      "only (`ADOPS_SLACK_UPLOAD_MAX=1`). Peak RSS of the worker is `VmHWM` of the Dramatiq worker "
                      "process (a fresh one per size); the baseline's is its process's `ru_maxrss`, reading the same "
                      "sandbox process over HTTP."])
    print(body)
    if not args.no_write:
        update_results("everflow_memory", "Everflow 1 000 000-row export, peak RSS of the worker "
                       "(`bench/everflow_memory.py`)", body)


if __name__ == "__main__":
    main()

"""A 1 000 000-row Adspect click log to CSV: peak RSS of the real worker at ~250 000 and ~1 000 000
rows, beside a load-everything baseline in the same run, and rows per second.

What runs, each in its own process on loopback (as ``bench/everflow_memory.py``, whose machinery is
``common.worker_export``): a private ``redis-server``; the vendor sandbox (``python -m devkit.sandbox
--set adspect.clicks_per_day=N``, generating the click log while it sends it); the fake Slack; the web
ingress (``python -m bot.cli web``) and one worker (``python -m bot.cli worker --processes 1``, its
default threads). The export is a signed ``/adops export adspect clicks <range> columns=...`` through
the real ingress and engine (plan: a part a day, parts in parallel, assembly, gzip, delivery as a
signed link only, ``ADOPS_SLACK_UPLOAD_MAX=1``).

"The worker" is the Dramatiq worker process (the child of ``bot.cli worker``): its peak RSS is
``VmHWM``, read every 0.2 s and once more when the job is done; each size gets a fresh worker.

The baseline reads the same days from the same sandbox process, each day's answer whole, parsed
into one list, then writes the CSV (``ru_maxrss`` of its own process). Budget (DESIGN.md): flat
(the 1M run within 20 % of the 250k run), < 150 MB.

Run from the repo root: ``.venv/bin/python bench/adspect_clicklog.py``.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SlackProcess, update_results  # noqa: E402
from worker_memory import days_ending_yesterday, in_child, run_sizes, verdict, worker_export  # noqa: E402

from devkit.sandbox.base import SANDBOX_TOKEN  # noqa: E402

COLUMNS = ["timestamp", "ip_address", "country_code", "stream_id", "click_id", "target", "reasons"]



def adspect_export(days: int, workdir: Path, redis_url: str, slack: SlackProcess, sandbox_url: str,
                   extra: dict[str, str]) -> dict[str, Any]:
    start, end = days_ending_yesterday(days)
    return worker_export(f"export adspect clicks {start}..{end} columns={','.join(COLUMNS)} tz=UTC", f"ad{days}",
                         workdir, redis_url, slack, sandbox_url,
                         {"ADSPECT_API_KEY": SANDBOX_TOKEN, "ADSPECT_BASE_URL": sandbox_url + "/adspect", **extra})


def _baseline(days: int, sandbox_url: str, out: Any) -> None:
    import httpx

    import workers.vendors.registry  # noqa: F401  (what a worker imports)
    from workers.vendors.adspect.clicklog import CLICKS
    from workers.vendors.adspect.client import AdspectClient, query
    from workers.vendors.adspect.models import parse_row

    start, end = days_ending_yesterday(days)
    params = {"start": start.isoformat(), "end": end.isoformat(), "tz": "UTC", "columns": COLUMNS}
    began = time.monotonic()
    everything: list[Any] = []
    requests = 0
    with tempfile.TemporaryDirectory() as tmp, AdspectClient(sandbox_url + "/adspect", SANDBOX_TOKEN,
                                                               timeout=600) as client:
        http = httpx.Client(base_url=client.base_url, auth=(SANDBOX_TOKEN, ""), timeout=600)
        for part in sorted(CLICKS.plan(client, params).parts, key=lambda p: p.key):
            filters = {"date_from": part.params["from"], "date_to": part.params["to"], "time_zone": "UTC",
                       "columns": COLUMNS}
            answer = http.get("reports/log", params=query(filters))
            answer.raise_for_status()
            requests += 1
            everything += [parse_row(line) for line in answer.text.splitlines() if line.strip()]
            del answer
        path = Path(tmp) / "out.csv"
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(everything)
        size = path.stat().st_size
    out.send({"rows": len(everything), "requests": requests, "bytes": size,
              "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "seconds": time.monotonic() - began})


def baseline(days: int, sandbox_url: str) -> dict[str, Any]:
    return in_child(_baseline, days, sandbox_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=125_000, help="clicks a day the sandbox serves")
    parser.add_argument("--days", type=int, default=8, help="days ending yesterday (8 × 125 000: 1M rows)")
    parser.add_argument("--small", type=int, default=2, help="the smaller run's days (~250 000 rows)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the web and worker processes (to try a knob); repeatable")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()
    measured = run_sizes(adspect_export, None if args.no_baseline else baseline, small=args.small, days=args.days,
                         env=dict(item.split("=", 1) for item in args.env), rate=True,
                         sandbox_args=["--set", f"adspect.clicks_per_day={args.per_day}"])
    big = measured.big
    said = f"{verdict(measured)} {big['rows'] / big['seconds']:,.0f} rows/s end to end at {big['rows']:,} rows."
    body = "\n".join([*measured.lines, "", said, "", f"Setup: private redis-server, the vendor sandbox "
                      f"(`python -m devkit.sandbox --set adspect.clicks_per_day={args.per_day}`, the log generated as it "
                      f"is sent), the fake Slack, the web ingress and one worker (`python -m bot.cli worker --processes 1`, "
                      f"default threads), each its own process on the same machine. The export is a signed "
                      f"`/adops export adspect clicks <range> columns=<{len(COLUMNS)} columns> tz=UTC` through the ingress "
                      "and the engine (a part a day, days in parallel); the CSV is gzipped and delivered as a signed link "
                      "only (`ADOPS_SLACK_UPLOAD_MAX=1`). Seconds run from the command to the outcome posted, so rows/s "
                      "include the sandbox generating the rows on the same cores. Peak RSS of the worker is `VmHWM` of the "
                      "Dramatiq worker process (a fresh one per size); the baseline's is its process's `ru_maxrss`, "
                      "reading the same sandbox process over HTTP, a day's answer at a time."])
    print(body)
    if not args.no_write:
        update_results("adspect_clicklog", "Adspect 1 000 000-row click log to CSV, peak RSS of the worker "
                       "(`bench/adspect_clicklog.py`)", body)


if __name__ == "__main__":
    main()

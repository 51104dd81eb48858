"""Peak RSS of a worker-like process exporting ~1 000 000 Everflow impressions to CSV, beside a
load-everything baseline, in the same run.

The engine (``workers.buildsteps``) is not on this branch yet, so the "worker" here is its
equivalent: the synchronous driver's plan/fetch loop writing each part's flat rows to a JSONL
part file as they arrive, then an assembly streaming the part files in key order into one CSV
(``csv.DictWriter``). The baseline fetches the same parts but keeps every row in a list and
writes the CSV at the end. Each runs in its own child process (the sandbox mounted inside it,
generating each answer on the fly); peak RSS is the child's ``ru_maxrss``. Budget: flat, < 150 MB.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import update_results  # noqa: E402


def _export(days: int, streaming: bool, out: Any) -> None:
    from devkit.sandbox import Sandbox
    from tests.everflow_driver import client_for
    from workers.builds import Part
    from workers.vendors.everflow.builder import EverflowImpressions
    from workers.vendors.registry import CATALOGUE

    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    params = {"op": "everflow-impressions", "start": f"{start} 00:00:00", "end": f"{end} 23:59:59",
              "timezone_id": 67, "filters": []}
    builder = EverflowImpressions()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, client_for(Sandbox(apps=CATALOGUE.sandbox_apps)) as client:
        folder = Path(tmp)
        kept: list[dict[str, Any]] = []
        columns: dict[str, None] = {}
        keys: list[str] = []
        todo: list[tuple[str, Part]] = [(p.key, p) for p in builder.plan(client, params).parts]
        heapq.heapify(todo)
        rows = requests = 0
        while todo:
            _, part = heapq.heappop(todo)
            with open(folder / f"{part.key}.jsonl", "w") as fh:
                class Sink:
                    def write(self, row: Any) -> None:
                        if streaming:
                            fh.write(json.dumps(row) + "\n")
                        else:
                            kept.append(dict(row))
                fetched = builder.fetch(client, params, part, Sink())
            keys.append(part.key)
            rows += fetched.rows
            requests += fetched.requests
            columns.update(dict.fromkeys(fetched.columns))
            for nxt in fetched.then:
                heapq.heappush(todo, (nxt.key, nxt))
        order = builder.columns(list(columns))
        with open(folder / "out.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=order)
            writer.writeheader()
            if streaming:
                for key in sorted(keys):
                    with open(folder / f"{key}.jsonl") as part_file:
                        for line in part_file:
                            writer.writerow(json.loads(line))
            else:
                writer.writerows(kept)
        size = (folder / "out.csv").stat().st_size
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.send({"rows": rows, "requests": requests, "bytes": size, "peak_mb": peak_kb / 1024,
              "seconds": time.monotonic() - began})


def run(days: int, streaming: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_export, args=(days, streaming, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=88, help="days ending yesterday (88 unfiltered: ~1M rows)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = ["| process | rows | requests | CSV bytes | peak RSS MB | s |", "|---|---:|---:|---:|---:|---:|"]
    results = {}
    for label, streaming in (("worker-like (rows to part files, streamed into the CSV)", True),
                             ("baseline (every row in memory, then the CSV)", False)):
        r = run(args.days, streaming)
        results[streaming] = r
        lines.append(f"| {label} | {r['rows']:,} | {r['requests']} | {r['bytes']:,} | {r['peak_mb']:.0f} | {r['seconds']:.0f} |")
        print(lines[-1], flush=True)
    ok = "holds" if results[True]["peak_mb"] < 150 else "NO"
    body = "\n".join([*lines, "", f"Budget: worker-like peak RSS < 150 MB and flat: {results[True]['peak_mb']:.0f} MB, {ok}. "
                      "The engine is not merged on this branch: the worker-like process is the synchronous driver plus "
                      "a JSONL-to-CSV assembly equivalent to the engine's; the sandbox runs inside each process."])
    if not args.no_write:
        update_results("everflow_memory", "Everflow 1 000 000-row export, peak RSS (`bench/everflow_memory.py`)", body)


if __name__ == "__main__":
    main()

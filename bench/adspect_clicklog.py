"""A 1 000 000-row Adspect click log to CSV: peak RSS of a worker-like process, streamed, beside
a load-everything baseline in the same run, and rows per second.

The Adspect sandbox serves the log over loopback HTTP from this process (generated as it is
sent). Each measured run is a child process of its own that imports the worker's modules and:

- ``stream``: what the bot does. The click-log builder's plan, then each part (a day) fetched
  with ``VendorHTTP.lines`` and written row by row to a JSONL part file (as the build engine's
  part files are), then the part files streamed into one CSV with ``csv.DictWriter``;
- ``load``: the naive way: each day's whole answer read, parsed into a list, then written.

Peak RSS is the child's own ``ru_maxrss``. The streamed run is also made at 100 000 rows: flat
means the same peak at ten times the rows. Budget (DESIGN.md): flat, under 150 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, update_results

from devkit.sandbox import Sandbox
from devkit.sandbox.base import SANDBOX_TOKEN
from workers.vendors.adspect.sandbox import AdspectApp

BUDGET_MB = 150
COLUMNS = ["timestamp", "ip_address", "country_code", "stream_id", "click_id", "target", "reasons"]


def child(mode: str, base_url: str, rows_per_day: int, days: int, out: Path) -> dict[str, float]:
    """One measured run (in a child process): the rows, the seconds, the peak RSS in MB."""
    import httpx

    import workers.vendors.registry  # noqa: F401
    from workers.builds import Part
    from workers.vendors.adspect.clicklog import CLICKS
    from workers.vendors.adspect.client import AdspectClient, query
    from workers.vendors.adspect.models import parse_row

    end = f"2026-11-{days:02d}"
    params = {"start": "2026-11-01", "end": end, "tz": "UTC", "columns": COLUMNS}
    started = time.monotonic()
    rows = 0
    with AdspectClient(base_url, SANDBOX_TOKEN, timeout=120) as client:
        parts: list[Part] = sorted(CLICKS.plan(client, params).parts, key=lambda p: p.key)
        if mode == "stream":
            files = []
            for part in parts:
                path = out.with_suffix(f".{part.key}.jsonl")
                with path.open("w") as f:

                    class Sink:
                        def write(self, row: dict[str, object], f=f) -> None:  # type: ignore[no-untyped-def]
                            f.write(json.dumps(row) + "\n")

                    rows += CLICKS.fetch(client, params, part, Sink()).rows
                files.append(path)
            with out.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=CLICKS.columns(COLUMNS))
                writer.writeheader()
                for path in files:
                    with path.open() as part_file:
                        for line in part_file:
                            writer.writerow(json.loads(line))
                    path.unlink()
        else:
            everything = []
            http = httpx.Client(base_url=client.base_url, auth=(SANDBOX_TOKEN, ""), timeout=120)
            for part in parts:
                filters = {"date_from": part.params["from"], "date_to": part.params["to"], "time_zone": "UTC",
                           "columns": COLUMNS}
                answer = http.get("reports/log", params=query(filters))
                everything += [parse_row(line) for line in answer.text.splitlines() if line.strip()]
            rows = len(everything)
            with out.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(COLUMNS)
                writer.writerows(everything)
    seconds = time.monotonic() - started
    return {"rows": rows, "seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "bytes": out.stat().st_size}


def run(mode: str, base_url: str, rows_per_day: int, days: int, work: Path) -> dict[str, float]:
    out = work / f"{mode}-{rows_per_day * days}.csv"
    proc = subprocess.run([sys.executable, __file__, "--child", mode, base_url, str(rows_per_day), str(days), str(out)],
                          cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, base_url, per_day, days, out = sys.argv[2:7]
        print(json.dumps(child(mode, base_url, int(per_day), int(days), Path(out))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()
    days = 2
    per_day = args.rows // days

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        n = f"{args.rows:,}".replace(",", " ")
        for label, rows_per_day, mode in (("streamed, 100 000 rows", per_day // 10, "stream"),
                                          (f"streamed, {n} rows", per_day, "stream"),
                                          (f"load everything, {n} rows", per_day, "load")):
            app = type("SizedLog", (AdspectApp,), {"clicks_per_day": rows_per_day})
            with Sandbox(apps=(app,)) as box:
                results[label] = run(mode, box.base_url("adspect"), rows_per_day, days, Path(tmp))
            r = results[label]
            print(f"{label}: {r['rows']:,} rows in {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB", flush=True)

    small, big, load = results.values()
    rows = "\n".join(
        f"| {label} | {r['rows']:,} | {r['bytes'] / 1e6:.0f} MB | {r['seconds']:.1f} s | {r['rows'] / r['seconds']:,.0f} |"
        f" {r['peak_mb']:.0f} MB |" for label, r in results.items())
    flat = big["peak_mb"] - small["peak_mb"]
    body = f"""
Setup: the Adspect sandbox serves the click log over loopback HTTP from the bench process, generating rows as it
sends them ({len(COLUMNS)} columns, 2 days, one request a day as the builder plans it). Each run is a child process
importing the worker's modules; peak RSS is its own `ru_maxrss`. *Streamed* is the bot's way: the builder's
`fetch` writes each row as its line arrives to a JSONL part file, then the part files are streamed into the CSV
(as the build engine assembles them). *Load everything* reads each day's answer whole, parses it into a list, then
writes the CSV. Rows per second include the sandbox generating them on the same 2 cores, and for the streamed
runs the second pass through the part files (which the load-everything run skips, so it is faster when it fits in
memory). The streamed floor is the modules a worker imports (matplotlib among them, for the funnel's chart).

| run | rows | CSV | time | rows/s | peak RSS |
|---|---:|---:|---:|---:|---:|
{rows}

| budget | measured | holds |
|---|---|---|
| streamed peak RSS < {BUDGET_MB} MB | {big['peak_mb']:.0f} MB | {'yes' if big['peak_mb'] < BUDGET_MB else 'NO'} |
| flat in the row count (10× the rows) | {flat:+.1f} MB from 100 000 to {big['rows']:,} rows | {'yes' if flat < 10 else 'NO'} |
| load everything, same run, for scale | {load['peak_mb']:.0f} MB ({load['peak_mb'] / big['peak_mb']:.1f}× streamed) | — |
"""
    print(body)
    if not args.no_write:
        update_results("adspect_clicklog", "Adspect click log to CSV (`bench/adspect_clicklog.py`)", body)


if __name__ == "__main__":
    main()

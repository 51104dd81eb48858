"""The real worker's peak RSS while it builds a file: what the memory benches share.

``worker_export`` runs one export through a fresh web ingress and ``bot.cli worker`` and reads
the Dramatiq worker child's ``VmHWM``; ``run_sizes`` runs it at two sizes (flatness) beside a
load-everything baseline on the same sandbox process, and ``verdict`` says whether the budget
holds (``bench/everflow_memory.py``, ``bench/adspect_clicklog.py``).
"""

from __future__ import annotations

import json
import multiprocessing
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
from common import (
    RedisServer,
    SlackProcess,
    base_env,
    command_body,
    free_port,
    signed_headers,
    spawn,
    start_sandbox,
    stop,
    wait_healthy,
    wait_worker_ready,
)

__all__ = ["BUDGET_MB", "Measured", "days_ending_yesterday", "in_child", "run_sizes", "verdict", "worker_export"]

BUDGET_MB = 150
#: The larger run's peak within this share of the smaller run's counts as flat.
FLAT = 1.2

JOB_ID = re.compile(r"J[0-9A-Z]{8}")


def _group(pgid: int) -> list[int]:
    """Live pids of process group ``pgid``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def _hwm_mb(pid: int) -> float:
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return 0.0
    return int(found.group(1)) / 1024 if found else 0.0


def worker_export(command: str, tag: str, workdir: Path, redis_url: str, slack: SlackProcess, sandbox_url: str,
                  env: dict[str, str]) -> dict[str, Any]:
    """One ``/adops <command>`` export through a fresh web ingress + ``bot.cli worker --processes 1``.

    The file is delivered as a signed link only (``ADOPS_SLACK_UPLOAD_MAX=1``) into a temp files dir.
    Answers the job's result beside the Dramatiq worker child's peak RSS (``VmHWM``, read every 0.2 s
    and once the outcome is posted), the sandbox requests it cost and the seconds from the command.
    ``env`` adds the vendor's settings (base URL, key) and any knob being tried.
    """
    files = workdir / f"files-{tag}"
    files.mkdir()
    env = base_env(redis_url, slack.api_url, **{
        "ADOPS_FILES_DIR": str(files), "ADOPS_SLACK_UPLOAD_MAX": "1",
        "ADOPS_PUBLIC_URL": "http://127.0.0.1:9", "ADOPS_LINK_SECRET": "bench-secret-0123456789",
        "ADOPS_EXPORT_DEADLINE": "3600", **env,
    })
    web_port = free_port()
    web_log, worker_log = workdir / f"web-{tag}.log", workdir / f"worker-{tag}.log"
    web = spawn(["-m", "bot.cli", "web", "--host", "127.0.0.1", "--port", str(web_port), "--workers", "1"], env, web_log)
    worker = spawn(["-m", "bot.cli", "worker", "--processes", "1"], env, worker_log)
    try:
        wait_healthy(f"http://127.0.0.1:{web_port}/healthz", web, web_log)
        wait_worker_ready(worker, worker_log)
        requests0 = sum(httpx.get(sandbox_url + "/_sandbox/stats").json().values())
        body = command_body(command, user=f"UMEM{tag.upper()}")
        began = time.monotonic()
        answer = httpx.post(f"http://127.0.0.1:{web_port}/slack/events", content=body, headers=signed_headers(body))
        found = JOB_ID.search(answer.text)
        if answer.status_code != 200 or not found:
            raise SystemExit(f"the ingress did not queue the export: {answer.status_code} {answer.text[:500]}")
        key = f"adops:job:{found.group(0)}"
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        peaks: dict[int, float] = {}
        when = "?"  # the job's state when the worker's peak last grew: which step costs the memory
        while True:
            job = client.hgetall(key)
            busiest = max((mb for pid, mb in peaks.items() if pid != worker.pid), default=0.0)
            for pid in _group(worker.pid):
                hwm = _hwm_mb(pid)
                if pid != worker.pid and hwm > busiest:
                    when = job.get("state", "?")
                peaks[pid] = max(peaks.get(pid, 0.0), hwm)
            if job.get("outcome_posted") == "1":
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited:\n{worker_log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() - began > 1800:
                raise SystemExit(f"no outcome after 30 min: {job}")
            time.sleep(0.2)
        seconds = time.monotonic() - began
        for pid in _group(worker.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), _hwm_mb(pid))
        if job.get("state") != "delivered":
            raise SystemExit(f"the export was not delivered: {job}")
        result = json.loads(job["result"])
        requests = sum(httpx.get(sandbox_url + "/_sandbox/stats").json().values()) - requests0
    finally:
        stop(worker, 30)
        stop(web)
    # The process `bot.cli worker` became (the dramatiq parent) only watches; the busiest child works.
    children = {pid: mb for pid, mb in peaks.items() if pid != worker.pid}
    return {"rows": result["rows"], "requests": requests, "bytes": result["file"]["bytes"],
            "peak_mb": max(children.values()), "parent_mb": peaks.get(worker.pid, 0.0), "seconds": seconds,
            "file": result["file"]["name"], "when": when}


def days_ending_yesterday(days: int) -> tuple[date, date]:
    """The first and last day of ``days`` days ending yesterday (a range every vendor keeps)."""
    end = date.today() - timedelta(days=1)
    return end - timedelta(days=days - 1), end


def in_child(target: Callable[..., None], *args: Any) -> dict[str, Any]:
    """Run ``target(*args, conn)`` in a fresh (spawned) process and return what it sends on
    ``conn``: a baseline's own peak RSS is then its process's alone."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return dict(result)


#: Exports ``days`` days through a fresh worker: (days, workdir, redis url, Slack, sandbox url, env).
Export = Callable[[int, Path, str, SlackProcess, str, dict[str, str]], dict[str, Any]]


@dataclass
class Measured:
    lines: list[str]
    small: dict[str, Any]
    big: dict[str, Any]
    baseline: dict[str, Any] = field(default_factory=dict)


def run_sizes(export: Export, baseline: Callable[[int, str], dict[str, Any]] | None, *, small: int, days: int,
              env: dict[str, str], sandbox_args: Sequence[str] = (), rate: bool = False) -> Measured:
    """The worker at ``small`` and ``days`` days (a fresh one each), then the baseline at ``days``,
    all on one sandbox process; the table's rows (with rows/s when ``rate``)."""
    head = "| process | days | rows | requests | CSV bytes | peak RSS MB | s |" + (" rows/s |" if rate else "")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if rate else "")]

    def row(label: str, d: int, r: dict[str, Any], peak: str) -> str:
        per_s = f" {r['rows'] / r['seconds']:,.0f} |" if rate else ""
        return (f"| {label} | {d} | {r['rows']:,} | {r['requests']} | {r['bytes']:,} | {peak} "
                f"| {r['seconds']:.0f} |{per_s}")

    results: list[dict[str, Any]] = []
    base: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir)
        slack = SlackProcess()
        sandbox = None
        try:
            sandbox, sandbox_url = start_sandbox(3.0, workdir / "sandbox.log", list(sandbox_args))
            for db, d in ((1, small), (2, days)):
                r = export(d, workdir, redis_server.url(db), slack, sandbox_url, env)
                results.append(r)
                lines.append(row(f"the worker (`bot.cli worker`'s Dramatiq worker process; file `{r['file']}`)", d, r,
                                 f"**{r['peak_mb']:.0f}**"))
                print(lines[-1], f"(dramatiq parent {r['parent_mb']:.0f} MB; peak last grew while {r['when']})",
                      flush=True)
            if baseline is not None:
                base = baseline(days, sandbox_url)
                lines.append(row("baseline (every row in memory, then the CSV)", days, base, f"{base['peak_mb']:.0f}"))
                print(lines[-1], flush=True)
        finally:
            stop(sandbox)
            slack.stop()
            redis_server.stop()
    return Measured(lines, results[0], results[1], base)


def verdict(m: Measured) -> str:
    """Whether the worker's peak is flat and under the budget, in one sentence (and the baseline's)."""
    flat = m.big["peak_mb"] <= m.small["peak_mb"] * FLAT
    ok = "holds" if flat and m.big["peak_mb"] < BUDGET_MB else "NOT MET"
    said = (f"Budget: the worker's peak RSS flat and < {BUDGET_MB} MB: {m.small['peak_mb']:.0f} MB at "
            f"{m.small['rows']:,} rows, {m.big['peak_mb']:.0f} MB at {m.big['rows']:,} rows ({ok}; "
            f"{'flat' if flat else 'NOT flat'}).")
    if m.baseline:
        said += f" Loading everything takes {m.baseline['peak_mb']:.0f} MB."
    return said

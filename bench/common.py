"""What both benchmarks share: the processes they start, signed requests, and RESULTS.md.

The processes are the production ones (``python -m bot.cli web|worker``), started the way
``tests/harness.py`` starts them: a private ``redis-server``, loopback ports only, each process
in its own process group and stopped with it, whatever happens to the bench.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/<script>.py`: sys.path[0] is bench/
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import redis  # noqa: E402

from devkit.slack import signing  # noqa: E402
from tests.harness import BOT_TOKEN, SIGNING_SECRET, RedisServer, free_port, wait_until  # noqa: E402

__all__ = [
    "BOT_TOKEN",
    "REPO",
    "SIGNING_SECRET",
    "RedisServer",
    "SlackProcess",
    "base_env",
    "command_body",
    "free_port",
    "group_cpu_seconds",
    "kill",
    "machine",
    "percentile",
    "signed_headers",
    "spawn",
    "stop",
    "update_results",
    "wait_until",
    "wait_worker_ready",
    "worker_export",
]

RESULTS = REPO / "bench" / "RESULTS.md"
#: Taken when the bench starts: what else was keeping the machine busy.
LOAD_AT_START = os.getloadavg()


# -- processes ----------------------------------------------------------------------------------


def base_env(redis_url: str, slack_api_url: str, sandbox_url: str = "http://127.0.0.1:9/instal", **extra: str) -> dict[str, str]:
    """The environment a deployment gives every process (as ``tests.harness.Stack`` does)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        "REDIS_URL": redis_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "INSTAL_TOKEN": "sandbox-token",
        "INSTAL_BASE_URL": sandbox_url,
        "LOG_LEVEL": "INFO",  # what a deployment runs with
        # The benches send thousands of jobs a minute from one channel: the limits stay on (their
        # check is part of the job-creating Lua call being measured) but never refuse.
        "ADOPS_RATE_PER_USER": "10000",
        "ADOPS_RATE_PER_CHANNEL": "100000",
        **extra,
    }


def spawn(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python <args>`` from the repo root in its own process group, output to ``log``."""
    out = open(log, "wb")  # noqa: SIM115 - the child owns it for its whole life
    return subprocess.Popen(
        [sys.executable, *args], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group (gunicorn and dramatiq stop their children), SIGKILL if slow."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group: no graceful shutdown (a sleeping worker would be waited out)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(10)


_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid`` (a gunicorn
    master and its workers, a dramatiq parent and its worker process)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the command: state ppid pgrp ... utime(12) stime(13), counted from state as 0
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=timeout, interval=0.2, what=url)


def wait_worker_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Wait for a Dramatiq worker (``bot.cli worker``) to say it is consuming, or fail with its log."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        return "ready for action" in log.read_text(errors="replace")

    wait_until(ready, timeout=timeout, interval=0.2, what=f"the worker to boot ({log.name})")


# -- the fake Slack in a process of its own ---------------------------------------------------


# -- the real worker's peak RSS (bench/everflow_memory.py, bench/adspect_clicklog.py) --------------------

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


def _serve_slack(conn: Any, bot_token: str) -> None:
    """Child process: a LocalSlack that counts every call (its call log keeps only the last
    few thousand) and answers ``counts``/``stop`` on the pipe."""
    from devkit.slack import LocalSlack

    class CountingSlack(LocalSlack):
        counts: Counter[str] = Counter()

        def _record(self, method: str, params: dict[str, Any], error: str | None) -> None:
            super()._record(method, params, error)
            self.counts[method if error is None else f"{method}!{error}"] += 1

    with CountingSlack(bot_token=bot_token) as slack:
        conn.send(slack.api_url)
        while True:
            command = conn.recv()
            if command == "counts":
                with slack._lock:
                    conn.send(dict(slack.counts))
            elif command == "stop":
                break


class SlackProcess:
    """The fake Slack, out of the bench process so the bench's own GIL never slows it down."""

    def __init__(self, bot_token: str = BOT_TOKEN) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_slack, args=(child, bot_token), daemon=True, name="fake-slack")
        self._proc.start()
        if not self._conn.poll(30):
            raise RuntimeError("the fake Slack did not start")
        self.api_url: str = self._conn.recv()

    @property
    def pid(self) -> int:
        return int(self._proc.pid or 0)

    def counts(self) -> dict[str, int]:
        self._conn.send("counts")
        return dict(self._conn.recv())

    def stop(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send("stop")
            except OSError:
                pass
            self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


@contextmanager
def fake_slack() -> Iterator[SlackProcess]:
    slack = SlackProcess()
    try:
        yield slack
    finally:
        slack.stop()


# -- requests as Slack sends them -----------------------------------------------------------------


def command_body(text: str, *, user: str, channel: str = "CBENCH", response_url: str = "") -> str:
    return urlencode({
        "token": "legacy", "team_id": "T0LOCAL", "team_domain": "bench", "channel_id": channel,
        "channel_name": "bench", "user_id": user, "user_name": user.lower(), "command": "/adops",
        "text": text, "api_app_id": "A0ADOPS", "response_url": response_url, "trigger_id": "1.2.3",
    })


def signed_headers(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """A form POST's headers, signed as Slack signs them (``devkit.slack.signing``)."""
    return signing.signed_headers(secret, body, timestamp=timestamp)


# -- numbers and the results file -------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil without floats drifting
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in LOAD_AT_START)
    return (
        f"nproc {os.cpu_count()}, {cpu or platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average before the run {load}"
    )


def command_line() -> str:
    return " ".join([".venv/bin/python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def update_results(name: str, title: str, body: str) -> None:
    """Rewrite this bench's section of RESULTS.md (between its markers), keeping the others."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = (
        f"{start}\n## {title}\n\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {machine()}\n"
        f"- command: `{command_line()}`\n\n"
        f"{body.strip()}\n{end}"
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in `bench/`; see `bench/README.md`.\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text if text.endswith("\n") else text + "\n")


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

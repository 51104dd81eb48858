"""What both benchmarks share: the processes they start, signed requests, and RESULTS.md.

The processes are the production ones (``python -m bot.cli web|worker``), started the way
``tests/harness.py`` starts them: a private ``redis-server``, loopback ports only, each process
in its own process group and stopped with it, whatever happens to the bench.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/<script>.py`: sys.path[0] is bench/
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

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
    "pid_cpu_seconds",
    "signed_headers",
    "spawn",
    "start_sandbox",
    "stop",
    "update_results",
    "wait_healthy",
    "wait_until",
    "wait_worker_ready",
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


def _stat(path: Path) -> list[str] | None:
    """A ``/proc/<pid>/stat``'s fields after the command, counted from the state as 0: state ppid
    pgrp ... utime(11) stime(12); None for a process gone."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid`` (a gunicorn
    master and its workers, a dramatiq parent and its worker process)."""
    total = 0
    for path in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(path)
        if fields is not None and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def pid_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    fields = _stat(Path(f"/proc/{pid}/stat"))
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICKS


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=timeout, interval=0.2, what=url)


def start_sandbox(ready_after: float, log: Path, extra: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m devkit.sandbox`` on a free port (``extra``: more arguments, e.g. ``--set ...``)."""
    port = free_port()
    proc = spawn(["-m", "devkit.sandbox", "--port", str(port), "--ready-after", f"{ready_after:g}", *extra],
                 {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}, log)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/_sandbox/stats", proc, log)
    return proc, url


def wait_worker_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Wait for a Dramatiq worker (``bot.cli worker``) to say it is consuming, or fail with its log."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        return "ready for action" in log.read_text(errors="replace")

    wait_until(ready, timeout=timeout, interval=0.2, what=f"the worker to boot ({log.name})")


# -- the fake Slack in a process of its own ---------------------------------------------------


def _serve_slack(conn: Any, bot_token: str, keep: tuple[str, ...] = ()) -> None:
    """Child process: a LocalSlack that counts every call (its call log keeps only the last
    few thousand), keeps every call of the methods in ``keep`` (with its time and params), and
    answers ``counts``/``("calls", method)``/``stop`` on the pipe."""
    import time

    from devkit.slack import Call, LocalSlack

    class CountingSlack(LocalSlack):
        counts: Counter[str] = Counter()
        kept: list[Call] = []

        def _record(self, method: str, params: dict[str, Any], error: str | None) -> None:
            super()._record(method, params, error)
            self.counts[method if error is None else f"{method}!{error}"] += 1
            if method in keep:
                self.kept.append(Call(method, params, time.time(), error is None, error))

    with CountingSlack(bot_token=bot_token) as slack:
        conn.send(slack.api_url)
        while True:
            command = conn.recv()
            if command == "counts":
                with slack._lock:
                    conn.send(dict(slack.counts))
            elif isinstance(command, tuple) and command[0] == "calls":
                with slack._lock:
                    conn.send([c for c in slack.kept if c.method == command[1]])
            elif command == "stop":
                break


class SlackProcess:
    """The fake Slack, out of the bench process so the bench's own GIL never slows it down."""

    def __init__(self, bot_token: str = BOT_TOKEN, keep: tuple[str, ...] = ()) -> None:
        """``keep``: methods whose every call :meth:`calls` returns (the fake's own log is bounded)."""
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_slack, args=(child, bot_token, keep), daemon=True, name="fake-slack")
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

    def calls(self, method: str) -> list[Any]:
        """Every call of ``method`` (one of ``keep``) so far, oldest first (``devkit.slack.Call``)."""
        self._conn.send(("calls", method))
        return list(self._conn.recv())

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


"""Real processes for the tests: a private Redis, the web server and Dramatiq workers.

Everything binds to 127.0.0.1 on free ports; every process belongs to the fixture that started
it and is stopped (with its process group) in teardown, also when the test failed.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import redis

from devkit.sandbox import Sandbox
from devkit.slack.signing import signed_headers
from workers.actors import QUEUES
from workers.vendors.registry import CATALOGUE

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.1,
               what: str | Callable[[], str] = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout}s waiting for {described} (last value: {last!r})")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make test` (it installs it) or apt-get install redis-server")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--databases", "64"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port)
        wait_until(lambda: _pings(client), timeout=10, what="the private redis-server")

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        _stop(self.proc)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _stop_all(procs: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Stop several processes together: each is sent SIGTERM before any is waited for, so their
    graceful shutdowns (a second or two each) overlap instead of adding up."""
    live = [proc for proc in procs if proc.poll() is None]
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _stop(proc, signal.SIGKILL, 5)


def deployment_env(redis_url: str, slack_api_url: str, sandbox: Sandbox, **env: str) -> dict[str, str]:
    """The environment a deployment would give the processes, every vendor on the sandbox."""
    return {
        "REDIS_URL": redis_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        **CATALOGUE.sandbox_env({}, sandbox.base_url, sandbox.TOKEN),
        "ADOPS_ADMINS": "UADMIN,UADMIN2",
        "ADOPS_PROGRESS_INTERVAL": "0.5",
        "ADOPS_VENDOR_TIMEOUT": "3",
        # Quicker than production's timing, so a test waits for what happens, not for the clock:
        # the sandbox's exports are ready after 0.5 s (seen at the first look, not 3 s later), and
        # transient vendor trouble is retried after 0.2 s, 0.4 s, ... rather than 1 s, 2 s, ...
        # A test about the timing itself sets its own (test_visible_retries.py, test_schedule.py).
        "ADOPS_FIRST_POLL": "0.5",
        "ADOPS_RETRY_BACKOFF": "0.2",
        # Each deployment its own files folder, as each has its own Redis: another's sweep must
        # never meet its build's parts.
        "ADOPS_FILES_DIR": tempfile.mkdtemp(prefix="adops-files-"),
        **env,
    }


def _trigger_id() -> str:
    # Slack gives every request its own trigger_id, so two identical commands are two different
    # signed bodies; a fixed one would make the second look like a replay of the first.
    return f"{time.time_ns()}.{next(_triggers)}"


_triggers = itertools.count(1)


class Requests:
    """Requests as Slack sends them, and looks at the job store and the queue; shared by the
    stack of real processes and the in-process one."""

    http: httpx.Client
    url: str
    redis: redis.Redis

    def logs(self) -> str:
        raise NotImplementedError

    # -- requests as Slack sends them -------------------------------------------------------
    def signed_post(self, body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                    content_type: str = "application/x-www-form-urlencoded") -> httpx.Response:
        headers = signed_headers(secret, body, timestamp=timestamp, content_type=content_type)
        return self.http.post(self.url + "/slack/events", content=body.encode(), headers=headers)

    def command(self, text: str, *, user: str = "UALICE", channel: str = "CGENERAL", response_url: str = "",
                **kw: Any) -> httpx.Response:
        form = {
            "token": "legacy", "team_id": "T0LOCAL", "team_domain": "test", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/adops",
            "text": text, "api_app_id": "A0ADOPS", "response_url": response_url, "trigger_id": _trigger_id(),
        }
        return self.signed_post(urlencode(form), **kw)

    def click(self, action_id: str, value: str, *, user: str = "UALICE", channel: str = "CGENERAL",
              message_ts: str = "1.0", response_url: str = "", action_ts: str | None = None,
              blocks: list[dict[str, Any]] | None = None) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": "T0LOCAL", "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0LOCAL"},
            "api_app_id": "A0ADOPS",
            "channel": {"id": channel, "name": "general"},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts, "blocks": blocks or []},
            "response_url": response_url,
            "trigger_id": _trigger_id(),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "text": {"type": "plain_text", "text": "x"}, "action_ts": action_ts or f"{time.time():.6f}"}],
        }
        return self.signed_post(urlencode({"payload": json.dumps(payload)}))

    def broker_idle(self) -> bool:
        """No message queued, delayed or in a worker's hands, on any queue: each keeps its body
        in ``<queue>.msgs`` until it is acked."""
        return self.messages_left() == 0

    def messages_left(self, queues: tuple[str, ...] = QUEUES) -> int:
        """Messages of ``queues`` (and their delay queues) not acked yet."""
        return sum(self.redis.hlen(f"dramatiq:{q}.msgs") + self.redis.hlen(f"dramatiq:{q}.DQ.msgs") for q in queues)

    def wait_idle(self, timeout: float = 30.0) -> None:
        wait_until(self.broker_idle, timeout=timeout, what="every queued and delayed message to be processed")

    def job(self, job_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(f"adops:job:{job_id}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def wait_job(self, job_id: str, states: tuple[str, ...], timeout: float = 30.0) -> dict[str, str]:
        def reached() -> dict[str, str] | None:
            job = self.job(job_id)
            if job.get("state") in states:
                return job
            if job.get("state") in ("delivered", "failed", "cancelled"):
                raise AssertionError(f"job {job_id} ended {job['state']} instead of {states}: {job}\n{self.logs()[-3000:]}")
            return None

        return wait_until(
            reached,
            timeout=timeout,
            what=lambda: f"job {job_id} to reach {states} (now {self.job(job_id)}; logs:\n{self.logs()[-3000:]})",
        )


class Stack(Requests):
    """The production processes (web + worker) against a private Redis db, a fake Slack and
    the vendor sandbox, with the environment a deployment would give them."""

    def __init__(self, redis_url: str, slack_api_url: str, sandbox: Sandbox, logdir: Path, **env: str) -> None:
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.redis.flushdb()
        self.logdir = logdir
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "LOG_LEVEL": "INFO",
            # Each stack's own metrics files: a shared default would mix the counts of parallel tests.
            "PROMETHEUS_MULTIPROC_DIR": str(logdir / "metrics"),
            **deployment_env(redis_url, slack_api_url, sandbox, **env),
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen[bytes] | None = None
        #: Every web process started, the first (``web``, on ``port``) and any more on ports of their own.
        self.webs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.clocks: list[subprocess.Popen[bytes]] = []
        self.http = httpx.Client(timeout=10)

    def _spawn(self, name: str, *args: str, module: str = "bot.cli") -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}-{len(self.workers) + len(self.clocks)}-{int(time.time() * 1000)}.log", "wb")
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> Stack:
        self.start_web()
        self.start_worker()
        return self

    def start_web(self, port: int | None = None, workers: int = 1) -> subprocess.Popen[bytes]:
        """``adops web`` on the stack's port, or on ``port`` (another web of the same deployment,
        as a second machine behind a load balancer runs one)."""
        port = self.port if port is None else port
        proc = self._spawn("web", "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                           "--threads", "8")
        self.webs.append(proc)
        if port == self.port:
            self.web = proc
        wait_until(lambda: self._healthy(f"http://127.0.0.1:{port}"), timeout=30, what="the web process /healthz")
        return proc

    def _healthy(self, url: str | None = None) -> bool:
        try:
            return self.http.get((url or self.url) + "/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, threads: int = 4, *, entry: str = "", queues: tuple[str, ...] = QUEUES) -> subprocess.Popen[bytes]:
        """``adops worker`` on ``queues`` (default all); or, with ``entry``, Dramatiq itself on that
        module (a catalogue with a throwaway vendor, as ``adops worker`` runs it on ``workers.entry``)."""
        if entry:
            proc = self._spawn("worker", entry, "--processes", "1", "--threads", str(threads), "--queues", *queues,
                               module="dramatiq")
        else:
            proc = self._spawn("worker", "worker", "--threads", str(threads), "--queues", ",".join(queues))
        self.workers.append(proc)
        return proc

    def start_clock(self) -> subprocess.Popen[bytes]:
        """``adops clock``; several may run, as a deployment with a standby runs them."""
        proc = self._spawn("clock", "clock")
        self.clocks.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker's whole process group: no shutdown, no acks, no requeue."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        # The client first: gunicorn's graceful stop waits for its open keep-alive connection.
        self.http.close()
        _stop_all([*self.clocks, *self.workers, *self.webs])
        self.redis.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.logdir.glob("*.log")))

"""The console's stack for flow tests: one process, real parts.

The real Bolt app behind Bolt's WSGI adapter (mounted with ``httpx.WSGITransport``), the real
actors on a real Dramatiq Redis broker and a ``dramatiq.Worker`` thread, the real job store on
the private ``redis-server`` (real Lua), the fake Slack and the vendor sandbox on loopback. What
it leaves out are the process boundaries; the few tests about those (SIGKILL, Socket Mode, the
Procfile) use :class:`tests.harness.Stack`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import redis
from dramatiq import Worker

from bot import web
from devkit.sandbox import Sandbox
from tests.harness import Requests, deployment_env
from workers.boot import boot, load_settings
from workers.logs import RedactSecrets
from workers.runtime import Runtime
from workers.vendors.registry import CATALOGUE
from workers.vendors.spec import Catalogue


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.addFilter(RedactSecrets())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class InProcessStack(Requests):
    """Web + worker of one deployment, in this process, against a private Redis database."""

    def __init__(self, redis_url: str, slack_api_url: str, sandbox: Sandbox, *, vendors: Catalogue = CATALOGUE,
                 **env: str) -> None:
        self.redis = redis.Redis.from_url(redis_url)
        self.redis.flushdb()
        self.env = deployment_env(redis_url, slack_api_url, sandbox, **env)
        self.vendors = vendors
        self.url = ""
        self._captured = _Captured()
        self.rt: Runtime | None = None
        self.worker: Worker | None = None
        self._level = logging.WARNING

    def start(self, *, worker: bool = True) -> InProcessStack:
        """Boot the web side and (unless ``worker`` is False: a worker process of its own runs
        the jobs) a worker thread."""
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self._captured)
        root.setLevel(logging.INFO)  # what the processes log at (LOG_LEVEL)
        self.rt = boot(load_settings(self.env, self.vendors), self.vendors, redis_client=self.redis)
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=web.build(self.rt, self.vendors)), base_url="http://adops.test", timeout=10
        )
        if worker:
            self.start_worker()
        return self

    def start_worker(self, threads: int = 4) -> Any:
        assert self.rt is not None, "start() first"
        # A short idle wake-up keeps delayed polls prompt in tests; production keeps Dramatiq's.
        self.worker = Worker(self.rt.broker, worker_threads=threads, worker_timeout=100)
        self.worker.start()
        return self.worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=5_000)
        if self.rt is not None:
            self.rt.broker.close()
            self.http.close()
        root = logging.getLogger()
        root.removeHandler(self._captured)
        root.setLevel(self._level)
        self.redis.close()

    def logs(self) -> str:
        return "\n".join(self._captured.lines[-400:])

"""Heartbeats: each worker process and the leading clock write when they last were alive, so
``/healthz`` and ``adops status`` can say a worker died or the clock stopped sending digests.

A worker's beat is ``{prefix}worker:heartbeat:<host:pid>`` -> ``{"at", "who", "queues"}``,
written by a thread every ``ADOPS_HEARTBEAT_INTERVAL`` seconds and living three of them: a
process that dies (even SIGKILLed) drops out by itself. The clock's is one key,
``{prefix}clock:heartbeat`` -> ``{"at", "who"}``, written by the leader after each tick that
looked for due digests; its age is how long digests have gone unsent.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

import dramatiq
import redis
from dramatiq import Middleware

__all__ = ["WorkerHeartbeat", "beat_clock", "clock_key", "worker_index", "worker_prefix"]

log = logging.getLogger(__name__)

#: The clock's beat outlives any outage worth reporting; its age, not its absence, is the news.
CLOCK_BEAT_TTL = 7 * 86_400


def clock_key(prefix: str) -> str:
    return f"{prefix}clock:heartbeat"


def worker_prefix(prefix: str) -> str:
    return f"{prefix}worker:heartbeat:"


def worker_index(prefix: str) -> str:
    """Who beat when, so a reader finds the workers without a scan of the keyspace."""
    return f"{prefix}worker:heartbeats"


def beat_clock(client: redis.Redis, prefix: str, who: str, now: float) -> None:
    client.set(clock_key(prefix), json.dumps({"at": now, "who": who}), ex=CLOCK_BEAT_TTL)


class WorkerHeartbeat(Middleware):
    """A thread per worker process that writes its beat; started when the worker boots, and the
    beat removed when it shuts down cleanly."""

    def __init__(self, client: redis.Redis, prefix: str, interval: float, queues: tuple[str, ...] = ()) -> None:
        self.client = client
        self.prefix = prefix
        self.who = ""
        self.interval = interval
        self.queues = queues
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        now = time.time()
        value = json.dumps({"at": now, "who": self.who, "queues": list(self.queues), "interval": self.interval})
        pipe = self.client.pipeline(transaction=False)
        pipe.set(worker_prefix(self.prefix) + self.who, value, px=int(self.interval * 3000))
        pipe.zadd(worker_index(self.prefix), {self.who: now})
        # The index forgets workers silent for a day; a reader keeps only those whose key lives.
        pipe.zremrangebyscore(worker_index(self.prefix), "-inf", now - 86_400)
        pipe.execute()

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # Redis away: the beat lapses, which is the truth
                log.warning("worker heartbeat not written: %s", type(exc).__name__)
            if self._stop.wait(self.interval):
                return

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Read here, not at import: Dramatiq forks its worker processes, and the key names this one.
        self.who = f"{socket.gethostname()}:{os.getpid()}"
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="adops-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            self.client.delete(worker_prefix(self.prefix) + self.who)
            self.client.zrem(worker_index(self.prefix), self.who)
        except Exception:  # shutting down with Redis away: the TTL removes it
            pass

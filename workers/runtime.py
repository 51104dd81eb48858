"""The process's runtime: settings, Redis, broker, job store, Slack egress, vendor clients and the
dispatch to the queue, built once at start-up by :func:`workers.boot.boot` and passed in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import fakeredis
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from workers.dispatch import Dispatch, Unbound
from workers.jobs import JobStore
from workers.settings import Settings
from workers.slack import SlackEgress

__all__ = ["Runtime", "make_broker", "make_redis"]


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    broker: dramatiq.Broker
    store: JobStore
    slack: SlackEgress
    #: Builds vendor ``name``'s adapter (raises NotConfigured naming the key when it is unset).
    build_client: Callable[[str], Any]
    clock: Callable[[], float] = time.time
    dispatch: Dispatch = field(default_factory=Unbound)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, vendor: str) -> Any:
        """Vendor ``vendor``'s adapter, built once per runtime (pooled connections, shared by threads)."""
        with self._lock:
            if vendor not in self._clients:
                self._clients[vendor] = self.build_client(vendor)
            return self._clients[vendor]


def make_redis(settings: Settings) -> redis.Redis:
    if settings.redis_url is None:
        # One in-memory server per runtime: the console's ingress, worker and clock share it.
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return redis.Redis.from_url(settings.redis_url, health_check_interval=30, socket_timeout=10, socket_connect_timeout=5)


def make_broker(settings: Settings, client: redis.Redis) -> dramatiq.Broker:
    if settings.redis_url is None:
        # A failing actor must not stop the console's worker thread: it reports like production.
        return StubBroker(fail_fast_default=False)
    return RedisBroker(
        client=client,
        heartbeat_timeout=settings.adops_broker_heartbeat_ms,
        maintenance_chance=settings.adops_broker_maintenance_chance,
    )

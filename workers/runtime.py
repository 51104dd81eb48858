"""The process's wiring: settings, Redis, broker, job store, Slack egress and vendor adapters.

Each process boots once (:func:`boot`) with the settings it read at start-up, before the actors
are declared: Dramatiq binds actors to the global broker when their module is imported. Actors
then reach the shared pieces through :func:`current`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from workers.jobs import JobStore
from workers.settings import ConfigError, Settings
from workers.slack import SlackEgress
from workers.vendors.exports import ExportAdapter

if TYPE_CHECKING:
    from workers.vendors.metrics24.client import Metrics24Client

__all__ = ["NotConfigured", "Runtime", "boot", "current"]


class NotConfigured(ConfigError):
    """A vendor is used whose key is not set; the message names the variable."""


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    broker: dramatiq.Broker
    store: JobStore
    slack: SlackEgress
    clock: Callable[[], float] = time.time
    _adapters: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def exporter(self, vendor: str) -> ExportAdapter:
        """The export adapter for ``vendor``, built once per process (pooled connections)."""
        with self._lock:
            if vendor not in self._adapters:
                self._adapters[vendor] = _build_exporter(self.settings, vendor)
            return self._adapters[vendor]

    def metrics24(self) -> Metrics24Client:
        """The 24Metrics client (filter groups, reports, lookups; also its export adapter)."""
        return self.exporter("24metrics")  # type: ignore[return-value]

    def vendor_configured(self, vendor: str) -> str | None:
        """None when usable, else the name of the variable to set."""
        variable = VENDOR_KEYS[vendor]
        return None if getattr(self.settings, variable.lower()) is not None else variable


VENDOR_KEYS = {
    "instal": "INSTAL_TOKEN",
    "24metrics": "METRICS24_API_KEY",
    "everflow": "EVERFLOW_API_KEY",
    "adspect": "ADSPECT_API_KEY",
}


def _build_exporter(settings: Settings, vendor: str) -> ExportAdapter:
    if vendor == "instal":
        from workers.vendors.instal.client import InstalClient

        if settings.instal_token is None:
            raise NotConfigured("Instal is not configured: set INSTAL_TOKEN")
        return InstalClient(str(settings.instal_base_url), settings.instal_token, timeout=settings.adops_vendor_timeout)
    if vendor == "24metrics":
        from workers.vendors.metrics24.client import Metrics24Client

        if settings.metrics24_api_key is None:
            raise NotConfigured("24Metrics is not configured: set METRICS24_API_KEY")
        return Metrics24Client(
            str(settings.metrics24_base_url),
            settings.metrics24_api_key,
            integration_id=settings.metrics24_integration_id,
            organization_id=settings.metrics24_organization_id,
            timeout=settings.adops_vendor_timeout,
        )
    raise NotConfigured(f"no export adapter for {vendor}")


def make_redis(settings: Settings) -> redis.Redis:
    if settings.redis_url is None:
        import fakeredis

        # One in-memory server per process: the console's ingress, worker and clock share it.
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


_current: Runtime | None = None


def boot(settings: Settings, *, slack_client: Any = None, redis_client: redis.Redis | None = None) -> Runtime:
    """Build this process's runtime and make its broker Dramatiq's global one."""
    global _current
    client = redis_client if redis_client is not None else make_redis(settings)
    broker = make_broker(settings, client)
    dramatiq.set_broker(broker)
    if "workers.actors" in sys.modules:
        sys.modules["workers.actors"].rebind(broker)
    _current = Runtime(
        settings=settings,
        redis=client,
        broker=broker,
        store=JobStore(client),
        slack=SlackEgress(settings, client=slack_client),
    )
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("workers.runtime.boot() has not run in this process")
    return _current

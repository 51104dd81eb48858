"""The process's runtime: settings, Redis, broker, job store, Slack egress, vendor clients and the
dispatch to the queue, built once at start-up by :func:`workers.boot.boot` and passed in.
"""

from __future__ import annotations

import logging
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
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.digests.store import DigestStore
from workers.dispatch import Dispatch, Unbound
from workers.errors import ConfigError
from workers.jobs import JobStore
from workers.settings import Settings
from workers.slack import SlackEgress
from workers.storage import LocalStore, Store

__all__ = ["INGRESS_TIMEOUT", "Runtime", "check_redis", "make_broker", "make_redis"]

log = logging.getLogger(__name__)

#: Seconds one Redis call may take on the path that answers Slack. The ack path makes at most
#: three calls that can time out in a row (record, enqueue, undo the record), so it answers well
#: inside Slack's 3 s even when Redis accepts connections and never replies.
INGRESS_TIMEOUT = 0.5
#: Eviction policies that may drop keys with a TTL (volatile-*) or any key (allkeys-*).
_EVICTING = ("volatile-", "allkeys-")


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
    #: Where finished files are kept for their links (workers.storage), chosen once at boot.
    storage: Store = field(default_factory=LocalStore)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Scheduled digests, on the job store's Redis and prefix.
    digests: DigestStore = field(init=False)

    def __post_init__(self) -> None:
        self.digests = DigestStore(self.store.redis, self.store.prefix)

    def client(self, vendor: str) -> Any:
        """Vendor ``vendor``'s adapter, built once per runtime (pooled connections, shared by threads)."""
        with self._lock:
            if vendor not in self._clients:
                self._clients[vendor] = self.build_client(vendor)
            return self._clients[vendor]


def make_redis(settings: Settings, *, ingress: bool = False) -> redis.Redis:
    """This process's Redis client. ``ingress`` is for the processes that answer Slack (web,
    socket): Slack gives up after 3 s, so one stuck call must fail within :data:`INGRESS_TIMEOUT`
    and is not retried; the ack then says nothing was queued. Workers and the clock wait longer:
    nobody is waiting on them, and a retried step costs more than a slow one."""
    if settings.redis_url is None:
        # One in-memory server per runtime: the console's ingress, worker and clock share it.
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    url = settings.redis_url.get_secret_value()
    if ingress:
        # Explicitly no retries: a library default that retries would multiply the timeout.
        return redis.Redis.from_url(
            url, health_check_interval=30, socket_timeout=INGRESS_TIMEOUT, socket_connect_timeout=INGRESS_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
    return redis.Redis.from_url(url, health_check_interval=30, socket_timeout=10, socket_connect_timeout=5)


def make_broker(settings: Settings, client: redis.Redis) -> dramatiq.Broker:
    if settings.redis_url is None:
        # A failing actor must not stop the console's worker thread: it reports like production.
        return StubBroker(fail_fast_default=False)
    return RedisBroker(
        client=client,
        heartbeat_timeout=settings.adops_broker_heartbeat_ms,
        maintenance_chance=settings.adops_broker_maintenance_chance,
    )


def check_redis(client: redis.Redis) -> None:
    """Refuse to start on a Redis that may evict our keys; warn when it would lose them on restart.

    Jobs, locks and once-only markers carry TTLs: under a ``volatile-*`` or ``allkeys-*`` policy
    Redis may drop them when memory is short, and a dropped lock or marker means a toggle applied
    twice or a job that vanishes. Managed Redis often forbids ``CONFIG``: that is logged, not fatal.
    """
    try:
        policy = _config(client, "maxmemory-policy")
        appendonly = _config(client, "appendonly")
    except redis.ResponseError as exc:  # NOPERM (ACL), or CONFIG renamed/disabled by the provider
        log.warning(
            "Redis did not allow CONFIG GET (%s), so its eviction policy and persistence were not checked; "
            "make sure maxmemory-policy is noeviction and appendonly is yes", type(exc).__name__,
        )
        return
    if policy.startswith(_EVICTING):
        raise ConfigError(
            f"Redis maxmemory-policy is {policy}, which may evict jobs, locks and once-only markers "
            "(they carry TTLs); set it to noeviction"
        )
    if appendonly != "yes":
        log.warning(
            "Redis has AOF off (appendonly %s): if Redis restarts, queued jobs and jobs in flight are lost; "
            "set appendonly yes", appendonly or "unset",
        )


def _config(client: redis.Redis, name: str) -> str:
    # One name per call: Redis before 7 takes only one pattern.
    for key, value in client.config_get(name).items():
        if (key.decode() if isinstance(key, bytes) else key) == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""

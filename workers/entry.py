"""What ``dramatiq`` imports in each worker process: boot from the environment, which declares
the actors on that process's broker."""

from __future__ import annotations

import logging

from workers.actors import QUEUE
from workers.boot import boot, load_settings
from workers.errors import ConfigError
from workers.heartbeat import WorkerHeartbeat
from workers.logs import setup as setup_logging

_settings = load_settings()
setup_logging(fmt=_settings.adops_log_format)
if _settings.embedded:
    raise ConfigError("REDIS_URL is required for `adops worker` (the console runs its own worker)")
_rt = boot(_settings)
# Each worker process says it is alive (``adops status``, /healthz), from the thread it starts at boot.
_rt.broker.add_middleware(WorkerHeartbeat(_rt.redis, _rt.store.prefix, _settings.adops_heartbeat_interval, (QUEUE,)))

logging.getLogger(__name__).info("worker booted")

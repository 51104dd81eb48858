"""What ``dramatiq`` imports in each worker process: boot from the environment, which declares
the actors on that process's broker."""

from __future__ import annotations

import logging

from workers.boot import boot, load_settings
from workers.errors import ConfigError
from workers.logs import setup as setup_logging

setup_logging()
_settings = load_settings()
if _settings.embedded:
    raise ConfigError("REDIS_URL is required for `adops worker` (the console runs its own worker)")
boot(_settings)

logging.getLogger(__name__).info("worker booted")

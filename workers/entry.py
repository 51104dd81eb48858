"""What ``dramatiq`` imports in each worker process: boot from the environment, then declare
the actors against that broker."""

from __future__ import annotations

import logging

from workers import runtime, settings
from workers.logs import setup as setup_logging

setup_logging()
_settings = settings.load()
if _settings.embedded:
    raise settings.ConfigError("REDIS_URL is required for `adops worker` (the console runs its own worker)")
runtime.boot(_settings)

from workers import actors  # noqa: E402,F401  (declares the actors on the broker booted above)

logging.getLogger(__name__).info("worker booted")

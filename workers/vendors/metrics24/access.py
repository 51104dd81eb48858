"""The 24Metrics adapter of a runtime, typed: what every 24Metrics task calls first."""

from __future__ import annotations

from workers.runtime import Runtime
from workers.vendors.metrics24.client import Metrics24Client

__all__ = ["NAME", "client"]

#: The vendor's registry name (``job.vendor``).
NAME = "24metrics"


def client(rt: Runtime) -> Metrics24Client:
    adapter: Metrics24Client = rt.client(NAME)
    return adapter

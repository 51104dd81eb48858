"""The locks of 24Metrics filter-group changes. The write guard they share with every vendor's
switches (cancel check, intent, applied) is :mod:`workers.writes`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from workers.runtime import Runtime
from workers.writes import INTENT_TTL, applied, before_write, intent_key, lock

__all__ = ["INTENT_TTL", "applied", "before_write", "group_lock", "intent_key"]


@contextmanager
def group_lock(rt: Runtime, integration: str, group_id: str) -> Iterator[None]:
    """One group's read-modify-write."""
    with lock(rt, f"fg:{integration}:{group_id}"):
        yield

"""Limits on new jobs: how many a person and a channel may start in a window, and the refusal.

The job store enforces them in the same Lua call that records a job (``JobStore.create``); the
ingress turns a :class:`RateLimited` into words for the person.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateLimits"]


@dataclass(frozen=True)
class RateLimits:
    """How many jobs one person and one channel may create within ``window`` seconds."""

    per_user: int
    per_channel: int
    window: float = 60.0

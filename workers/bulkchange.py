"""Changes of several items at once, whatever the vendor: ask first, apply once.

The command's job (the prompt) only reads and lists what would change; its message carries a
button whose confirm dialog says how many items change and what that does. The click's job
applies exactly what the prompt listed, under one lock, and records its outcome under the
change's id, so every later click of the same button shows that same outcome and writes nothing.
The outcome's audit entry keeps every item with its state before (the vendor's ``detail``), so
the change can be undone from the audit. Shared by every vendor whose items change in bulk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from workers.errors import Refused
from workers.jobs import Job
from workers.runtime import Runtime
from workers.writes import lock

__all__ = ["DONE_TTL", "EXPIRED", "apply_once", "asked"]

#: How long an applied change's outcome is kept for later clicks of the same button.
DONE_TTL = 30 * 86_400
EXPIRED = ("This question has expired or is not one adops asked; nothing was changed. "
           "Run the command again for a fresh one.")


def asked(rt: Runtime, prompt_id: str, ops: Iterable[str], scope: Mapping[str, Any] | None = None) -> Job:
    """The prompt job a click answers: one of ``ops``, delivered, and asked about the same
    ``scope`` (params that must match, e.g. the integration); refused otherwise."""
    job = rt.store.get(str(prompt_id or ""))
    if (job is None or job.params.get("op") not in tuple(ops) or job.state != "delivered"
            or any(job.params.get(k) != v for k, v in (scope or {}).items())):
        raise Refused(EXPIRED)
    return job


def apply_once(rt: Runtime, lock_name: str, done: str, apply: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``apply`` under the lock unless the change was applied already (its outcome is kept
    under ``{prefix}{done}``); the outcome either way (the first one's, for every later click)."""
    done_key = f"{rt.store.prefix}{done}"
    with lock(rt, lock_name, timeout=120, blocking_timeout=60):
        earlier = rt.redis.get(done_key)
        if earlier is not None:
            return dict(json.loads(earlier))
        result = apply()
        rt.redis.set(done_key, json.dumps(result), ex=DONE_TTL)
    return result

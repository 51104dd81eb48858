"""The audit trail: who changed what, when, from what to what.

Entries go to a Redis stream (the record) and, when ``ADOPS_AUDIT_CHANNEL`` is set, to that
channel (the place people look). The stream entry is written by whoever makes the change; the
channel post is a job of its own so a Slack hiccup never undoes or delays the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from workers.jobs import Job
from workers.runtime import Runtime

__all__ = ["AuditEntry", "read", "record", "record_and_copy", "record_for_job"]

STREAM_MAXLEN = 100_000


@dataclass(frozen=True)
class AuditEntry:
    id: str
    who: str
    what: str
    target: str
    before: str
    after: str
    when: float


def stream_key(prefix: str) -> str:
    return f"{prefix}audit"


def record(
    client: redis.Redis, prefix: str, *, who: str, what: str, target: str, before: str, after: str, when: float
) -> str:
    entry_id = client.xadd(
        stream_key(prefix),
        {"who": who, "what": what, "target": target, "before": before, "after": after, "when": repr(when)},
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def read(client: redis.Redis, prefix: str, *, count: int = 100, entry_id: str | None = None) -> list[AuditEntry]:
    """Newest first; or just the one entry when ``entry_id`` is given."""
    key = stream_key(prefix)
    rows = client.xrange(key, entry_id, entry_id) if entry_id else client.xrevrange(key, count=count)
    entries = []
    for raw_id, fields in rows:
        f = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in fields.items()}
        entries.append(
            AuditEntry(
                id=raw_id.decode() if isinstance(raw_id, bytes) else raw_id,
                who=f["who"],
                what=f["what"],
                target=f["target"],
                before=f["before"],
                after=f["after"],
                when=float(f["when"]),
            )
        )
    return entries


def record_and_copy(rt: Runtime, *, who: str, what: str, target: str, before: str, after: str) -> str:
    """Write the entry, and have a job of its own copy it to ADOPS_AUDIT_CHANNEL when set."""
    entry = record(rt.redis, rt.store.prefix, who=who, what=what, target=target, before=before, after=after,
                   when=rt.clock())
    if rt.settings.adops_audit_channel:
        rt.dispatch.audit_copy(entry)
    return entry


def record_for_job(rt: Runtime, job: Job, *, what: str, target: str, before: str, after: str) -> None:
    """The audit entry of a job's change, written once however often the job's step runs."""
    if rt.store.claim(f"audit:{job.id}", 30 * 86_400):
        record_and_copy(rt, who=job.user_id, what=what, target=target, before=before, after=after)

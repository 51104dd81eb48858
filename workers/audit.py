"""The audit trail: who changed what, when, from what to what.

Entries go to a Redis stream (the record) and, when ``ADOPS_AUDIT_CHANNEL`` is set, to that
channel (the place people look). The stream entry is written by whoever makes the change; the
channel post is a job of its own so a Slack hiccup never undoes or delays the change itself.

A job's entry is written once however often its step runs: one Lua script adds the entry and
records its id under the job's once-key, only if that key is absent. Nothing can come between
the claim and the write, so a rerun after any failure neither loses the entry nor adds a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis

from workers.jobs import Job
from workers.runtime import Runtime

__all__ = ["AuditEntry", "is_entry_id", "read", "record", "record_and_copy", "record_for_job"]

STREAM_MAXLEN = 100_000
#: How long a job's once-key (holding its entry's id) is kept.
ONCE_TTL = 30 * 86_400

# KEYS[1] the once-key, KEYS[2] the stream; ARGV[1] maxlen, ARGV[2] once-key TTL, then the
# entry's field/value pairs. Returns {entry id, 1} when written now, {entry id, 0} when it was
# written before.
_RECORD_ONCE = """
local written = redis.call('GET', KEYS[1])
if written then return {written, 0} end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
return {id, 1}
"""


@dataclass(frozen=True)
class AuditEntry:
    id: str
    who: str
    what: str
    target: str
    before: str
    after: str
    when: float
    #: Machine-readable detail of the change (JSON), e.g. every group a bulk change touched and
    #: its mode before, so the change can be undone exactly; "" for most entries.
    detail: str = ""


#: A stream entry id; a once-key written before ids were kept there holds "1".
_ENTRY_ID = re.compile(r"\d+-\d+")


def is_entry_id(text: str) -> bool:
    """Whether ``text`` has the shape of an entry's id (what people are shown and type back)."""
    return bool(_ENTRY_ID.fullmatch(text))


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
                detail=f.get("detail", ""),
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


def record_for_job(
    rt: Runtime, job: Job, *, what: str, target: str, before: str, after: str, detail: str = ""
) -> str:
    """The audit entry of a job's change, written once however often the job's step runs; its id."""
    fields = {"who": job.user_id, "what": what, "target": target, "before": before, "after": after,
              "when": repr(rt.clock())}
    if detail:
        fields["detail"] = detail
    script = rt.redis.register_script(_RECORD_ONCE)
    raw_id, _ = script(keys=[f"{rt.store.prefix}once:audit:{job.id}", stream_key(rt.store.prefix)],
                       args=[STREAM_MAXLEN, ONCE_TTL, *(item for pair in fields.items() for item in pair)])
    entry = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
    # Sent on a rerun too: a failure right after the script would otherwise lose the channel's
    # copy, and audit_post copies each entry once.
    if rt.settings.adops_audit_channel and _ENTRY_ID.fullmatch(entry):
        rt.dispatch.audit_copy(entry)
    return entry

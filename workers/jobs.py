"""The job store: one Redis hash per job, with atomic state transitions.

A job is what a person asked for (an export, a summary) from the moment the ingress accepts it
until its outcome is in the channel. Only its id crosses the queue; everything else lives here,
so a step that runs twice reads the same record and decides the same thing.

States::

    queued ──► requesting ──► waiting ──► delivered
       └───────────┴─────────────┴──────► failed | cancelled

Every change of state is a compare-and-set in a Lua script: a step only moves a job out of the
states it expects, so a redelivered or racing message finds the move already made and does
nothing. ``poll_seq`` does the same for the chain of delayed polls: a poll message carries the
sequence number it was sent with and is dropped if the job has moved past it, which collapses
the duplicates an at-least-once broker can produce.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "Job",
    "JobStore",
    "State",
    "new_job_id",
]

State = Literal["queued", "requesting", "waiting", "delivered", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"delivered", "failed", "cancelled"})
ACTIVE: frozenset[str] = frozenset({"queued", "requesting", "waiting"})

#: Crockford's base32 without I, L, O, U: ids are read aloud and typed back from phones.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
JOB_TTL = 30 * 86_400
USER_INDEX_LIMIT = 200
ALL_INDEX_LIMIT = 2_000


def new_job_id() -> str:
    return "J" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


class Job(BaseModel):
    """One request from a person, as stored. Only JSON primitives and small dicts."""

    id: str
    kind: str  # "export"
    vendor: str  # the registry name of the vendor it asks
    command: str  # the normalized command text, as the user would type it again
    summary: str  # what it is, in a few words: "<Vendor> export 2026-11-01..2026-11-07, daily"
    params: dict[str, Any] = Field(default_factory=dict)  # what the vendor adapter needs
    user_id: str
    channel_id: str
    team_id: str = ""
    response_url: str = ""
    state: State = "queued"
    created_at: float
    updated_at: float = 0.0
    deadline: float
    # vendor side
    export_id: str = ""
    requested_at: float = 0.0  # when the vendor export was created: polls are due from then
    vendor_state: str = ""
    polls: int = 0
    poll_seq: int = 0
    result: dict[str, Any] = Field(default_factory=dict)  # url, rows, expires_at, note
    error: str = ""
    last_error: str = ""  # latest transient problem, shown if retries run out
    # Slack side
    via: Literal["", "channel", "response_url", "dm"] = ""
    message_channel: str = ""
    message_ts: str = ""
    response_url_uses: int = 0
    last_render: str = ""  # digest of what the progress message shows now
    last_render_at: float = 0.0
    outcome_posted: bool = False
    finished_by: str = ""  # who cancelled
    finished_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_redis(self, *, sparse: bool = False) -> dict[str, str]:
        """Fields as Redis strings; ``sparse`` leaves out those still at their default (a new
        job is mostly defaults, and the ack path pays for every argument it sends)."""
        out: dict[str, str] = {}
        dumped = self.model_dump(exclude_defaults=sparse) if sparse else self.model_dump()
        if sparse:
            dumped["state"] = self.state  # the Lua guards read it
        for name, value in dumped.items():
            if isinstance(value, dict):
                out[name] = json.dumps(value, separators=(",", ":"), default=str)
            elif isinstance(value, bool):
                out[name] = "1" if value else "0"
            else:
                out[name] = str(value)
        return out

    @classmethod
    def from_redis(cls, raw: Mapping[bytes | str, bytes | str]) -> Job:
        data: dict[str, Any] = {}
        for key, value in raw.items():
            k = key.decode() if isinstance(key, bytes) else key
            v = value.decode() if isinstance(value, bytes) else value
            if k not in cls.model_fields:
                continue
            annotation = cls.model_fields[k].annotation
            if annotation is bool:
                data[k] = v == "1"
            elif k in ("params", "result"):
                data[k] = json.loads(v) if v else {}
            else:
                data[k] = v
        return cls.model_validate(data)


# Sets fields only while the job is in one of the expected states. KEYS[1] job hash;
# ARGV[1] JSON list of allowed states ([] = any), ARGV[2] JSON object of fields to set.
# Returns the state found (so callers can tell "already done" from "never existed").
_TRANSITION = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
local allowed = cjson.decode(ARGV[1])
local ok = (#allowed == 0)
for _, s in ipairs(allowed) do if s == state then ok = true end end
if not ok then return state end
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
return 'OK:' .. state
"""

# Creates a job: hash, TTL, recency indexes, deadline index; with a 5th key, refuses when that
# key names a job that is still active (returns its id). ARGV: id, created_at, deadline, ttl,
# user index limit, global index limit, dedup window, key prefix, then field/value pairs.
_CREATE = """
local active = {%s}
if KEYS[5] then
  local previous = redis.call('GET', KEYS[5])
  if previous then
    local state = redis.call('HGET', ARGV[8] .. 'job:' .. previous, 'state')
    if state and active[state] then
      return previous
    end
  end
  redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[7])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return false
""" % ", ".join(f"{state} = true" for state in sorted(ACTIVE))

# Moves the poll chain from ARGV[1] to ARGV[1]+1 and counts the poll, unless something else has
# moved it already or the job is no longer waiting.
_ADVANCE_POLL = """
if redis.call('HGET', KEYS[1], 'state') ~= 'waiting' then return 0 end
if (redis.call('HGET', KEYS[1], 'poll_seq') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'poll_seq', tostring(tonumber(ARGV[1]) + 1),
           'polls', tostring(tonumber(redis.call('HGET', KEYS[1], 'polls') or '0') + 1),
           'vendor_state', ARGV[2], 'updated_at', ARGV[3])
return 1
"""


class JobStore:
    """Jobs in Redis under ``{prefix}job:{id}``, with per-user and global recency indexes."""

    def __init__(self, client: redis.Redis, prefix: str = "adops:") -> None:
        self.redis = client
        self.prefix = prefix
        self._transition = client.register_script(_TRANSITION)
        self._advance_poll = client.register_script(_ADVANCE_POLL)
        self._create = client.register_script(_CREATE)

    # -- keys -------------------------------------------------------------------------------
    def key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def _user_index(self, user_id: str) -> str:
        return f"{self.prefix}jobs:user:{user_id}"

    @property
    def _all_index(self) -> str:
        return f"{self.prefix}jobs:all"

    @property
    def _open_index(self) -> str:
        # Active jobs scored by deadline: the sweeper finds the overdue ones without a scan.
        return f"{self.prefix}jobs:open"

    # -- reads ------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        raw = self.redis.hgetall(self.key(job_id))
        return Job.from_redis(raw) if raw else None

    def recent(self, user_id: str | None = None, limit: int = 10) -> list[Job]:
        index = self._user_index(user_id) if user_id else self._all_index
        ids = [i.decode() if isinstance(i, bytes) else i for i in self.redis.zrevrange(index, 0, limit - 1)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self.key(job_id))
        return [Job.from_redis(raw) for raw in pipe.execute() if raw]

    def overdue(self, now: float, limit: int = 100) -> list[str]:
        ids = self.redis.zrangebyscore(self._open_index, "-inf", now, start=0, num=limit)
        return [i.decode() if isinstance(i, bytes) else i for i in ids]

    # -- writes -----------------------------------------------------------------------------
    def create(self, job: Job, *, dedup_key: str | None = None, dedup_window: int = 10) -> tuple[Job, str | None]:
        """Record a new job in one round trip.

        With ``dedup_key``: if that key names a job that is still active, nothing is written and
        that job's id is returned second (a double submit); otherwise the key is set to this job
        for ``dedup_window`` seconds.
        """
        job = job.model_copy(update={"updated_at": job.created_at})
        fields = [item for pair in job.to_redis(sparse=True).items() for item in pair]
        keys = [self.key(job.id), self._user_index(job.user_id), self._all_index, self._open_index]
        if dedup_key:
            keys.append(dedup_key)
        args = [job.id, repr(job.created_at), repr(job.deadline), JOB_TTL, USER_INDEX_LIMIT, ALL_INDEX_LIMIT,
                dedup_window, self.prefix, *fields]
        previous = self._create(keys=keys, args=args)
        if previous:
            return job, previous.decode() if isinstance(previous, bytes) else str(previous)
        return job, None

    def transition(self, job_id: str, allowed: Iterable[str], to: str | None = None, **fields: Any) -> bool:
        """Set ``fields`` (and ``state=to``) only if the job is in one of ``allowed`` states.

        ``allowed`` empty means any state. Returns whether the change was made.
        """
        values = {k: _encode(v) for k, v in fields.items()}
        if to is not None:
            values["state"] = to
        values["updated_at"] = _encode(time.time())
        found = self._transition(keys=[self.key(job_id)], args=[json.dumps(list(allowed)), json.dumps(values)])
        found = found.decode() if isinstance(found, bytes) else found
        changed = found.startswith("OK:")
        if changed and to in TERMINAL:
            self.redis.zrem(self._open_index, job_id)
        return changed

    def update(self, job_id: str, **fields: Any) -> None:
        """Bookkeeping that no decision hangs on (render digests, message ts)."""
        values = {k: _encode(v) for k, v in fields.items()}
        self.redis.hset(self.key(job_id), mapping=values)

    def incr(self, job_id: str, field: str, by: int = 1) -> int:
        return int(self.redis.hincrby(self.key(job_id), field, by))

    def advance_poll(self, job_id: str, seq: int, vendor_state: str) -> bool:
        return bool(self._advance_poll(keys=[self.key(job_id)], args=[str(seq), vendor_state, _encode(time.time())]))

    def claim(self, name: str, ttl: float) -> bool:
        """A short-lived exclusive claim (double clicks, concurrent first posts)."""
        return bool(self.redis.set(f"{self.prefix}once:{name}", "1", nx=True, px=int(ttl * 1000)))

    def release(self, name: str) -> None:
        self.redis.delete(f"{self.prefix}once:{name}")


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)

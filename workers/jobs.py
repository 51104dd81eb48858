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
import math
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field

from workers.errors import RateLimited
from workers.limits import RateLimits
from workers.metrics import job_ended
from workers.outbox import Outbox

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
    kind: str  # "export", "task", "build"
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
    # A build (``workers.buildsteps``): its counters, written by ``workers.buildstore``'s scripts
    # as parts are recorded, and the builder's words for them ("window", "impressions").
    parts_total: int = 0
    parts_done: int = 0
    rows_done: int = 0
    requests: int = 0
    part_word: str = ""
    unit: str = ""
    span: int = 0  # how much the build covers, in the builder's measure (0: it counts parts instead)
    covered: int = 0  # how much of ``span`` the parts done finished
    error: str = ""
    last_error: str = ""  # latest transient problem, shown if retries run out
    # A step waiting to try the vendor again (cleared when a call succeeds): what happened, when
    # the next try runs, and which try that is of how many; shown in progress and in `jobs`.
    retry_note: str = ""
    next_try_at: float = 0.0
    tries: int = 0
    max_tries: int = 0
    # Failed with a refusal (an unknown name, no such record): the person's own mistake, told to
    # them alone, never in the channel.
    private: bool = False
    # Slack side
    via: Literal["", "channel", "response_url", "dm"] = ""
    message_channel: str = ""
    message_ts: str = ""
    response_url_uses: int = 0
    last_render: str = ""  # digest of what the progress message shows now
    last_render_at: float = 0.0
    outcome_posted: bool = False
    outcome_rev: int = 0  # bumped when a finished job's outcome is amended (a cancel that came too late)
    # A task that changes vendor state: "started" once it passed its last cancel check before a
    # write, "applied" once a write is in effect; a cancel after that is too late to undo it.
    write: Literal["", "started", "applied"] = ""
    finished_by: str = ""  # who cancelled
    finished_at: float = 0.0
    # A digest's run (``workers.digests``): its id, scheduled time, zone, who scheduled it, the
    # runs missed before it; empty for a person's own command.
    digest: dict[str, Any] = Field(default_factory=dict)
    # When its post in the channel has its turn (``workers.digests.pace``); 0: not reserved yet.
    pace_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_redis(self, *, sparse: bool = False) -> dict[str, str]:
        """Fields as Redis strings; ``sparse`` leaves out those still at their default (a new
        job is mostly defaults, and the ack path pays for every argument it sends)."""
        dumped = self.model_dump(exclude_defaults=sparse) if sparse else self.model_dump()
        if sparse:
            dumped["state"] = self.state  # the Lua guards read it
        return {name: _encode(value) for name, value in dumped.items()}

    @classmethod
    def from_redis(cls, raw: Mapping[bytes | str, bytes | str]) -> Job:
        data: dict[str, Any] = {}
        for key, value in raw.items():
            k = key.decode() if isinstance(key, bytes) else key
            v = value.decode() if isinstance(value, bytes) else value
            stored = _STORED_AS.get(k)
            if stored == "bool":
                data[k] = v == "1"
            elif stored == "json":
                data[k] = json.loads(v) if v else {}
            elif stored:
                data[k] = v
        return cls.model_validate(data)


_STORED_AS = {  # how each field is kept in its hash, worked out once: every step of every job reads one
    name: "bool" if f.annotation is bool else "json" if name in ("params", "result", "digest") else "text"
    for name, f in Job.model_fields.items()}


# Sets fields only while the job is in one of the expected states (and its ``expect`` fields
# hold the given values; a missing field reads as ''). A job that ends up in a terminal state
# leaves the open index and, unless its outcome is posted, enters the outbox: in this script, so
# no crash can leave a finished job that nothing will post. KEYS[1] job hash, KEYS[2] open
# index, KEYS[3] outbox; ARGV[1] JSON list of allowed states ([] = any), ARGV[2] JSON object of
# fields to set, ARGV[3] JSON object of expected fields, ARGV[4] job id, ARGV[5] now.
# Returns the state found (so callers can tell "already done" from "never existed").
_TRANSITION = """
local terminal = {%s}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
local allowed = cjson.decode(ARGV[1])
local ok = (#allowed == 0)
for _, s in ipairs(allowed) do if s == state then ok = true end end
if not ok then return state end
for k, v in pairs(cjson.decode(ARGV[3])) do
  if (redis.call('HGET', KEYS[1], k) or '') ~= v then return state end
end
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
if terminal[redis.call('HGET', KEYS[1], 'state')] then
  redis.call('ZREM', KEYS[2], ARGV[4])
  if redis.call('HGET', KEYS[1], 'outcome_posted') ~= '1' then
    redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[4])
  end
  if not terminal[state] then
    -- The job ends here, once: what its count and duration are labelled with, in this reply.
    return {'OK:' .. state, redis.call('HGET', KEYS[1], 'kind') or '', redis.call('HGET', KEYS[1], 'vendor') or '',
            redis.call('HGET', KEYS[1], 'created_at') or ''}
  end
end
return 'OK:' .. state
""" % ", ".join(f"{state} = true" for state in sorted(TERMINAL))

# Creates a job: hash, TTL, recency indexes, deadline index. KEYS: 1 job hash, 2 user index,
# 3 global index, 4 open index, 5 the person's and 6 the channel's recent creations (zsets),
# 7 (optional) the double-submit key. ARGV: 1 id, 2 created_at, 3 deadline, 4 ttl, 5 user index
# limit, 6 global index limit, 7 dedup window, 8 key prefix, 9 rate window in seconds (0: no
# limits), 10 per-person limit, 11 per-channel limit, then field/value pairs.
# Returns nil when created; {'dup', id} when KEYS[7] names a job, whatever its state (a double
# Enter is one request even when the first job has already finished); {'rate',
# 'user'|'channel', seconds until a slot frees} when a limit is reached. A refusal writes nothing
# (the limits are checked before anything is set), so it neither counts nor blocks a retry.
_CREATE = """
if KEYS[7] then
  local previous = redis.call('GET', KEYS[7])
  if previous then
    if redis.call('EXISTS', ARGV[8] .. 'job:' .. previous) == 1 then
      return {'dup', previous}
    end
  end
end
local window = tonumber(ARGV[9])
if window > 0 then
  local now = tonumber(ARGV[2])
  local scopes = {'user', 'channel'}
  for i = 1, 2 do
    local key = KEYS[4 + i]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. tostring(now - window))
    if redis.call('ZCARD', key) >= tonumber(ARGV[9 + i]) then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      return {'rate', scopes[i], tostring(tonumber(oldest[2]) + window - now)}
    end
  end
  for i = 1, 2 do
    redis.call('ZADD', KEYS[4 + i], ARGV[2], ARGV[1])
    redis.call('EXPIRE', KEYS[4 + i], math.ceil(window) + 1)
  end
end
if KEYS[7] then
  redis.call('SET', KEYS[7], ARGV[1], 'EX', ARGV[7])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 12))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return false
"""

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
        self.outbox = Outbox(client, prefix)
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

    def overdue(self, now: float, limit: int = 100, offset: int = 0) -> list[str]:
        """Open jobs whose deadline is before ``now``, earliest first; ``offset`` pages on."""
        ids = self.redis.zrangebyscore(self._open_index, "-inf", now, start=offset, num=limit)
        return [i.decode() if isinstance(i, bytes) else i for i in ids]

    def drop_open(self, job_id: str) -> None:
        """Forget an open-index entry whose job is gone (its hash expired) or has ended."""
        self.redis.zrem(self._open_index, job_id)

    # -- writes -----------------------------------------------------------------------------
    def create(
        self,
        job: Job,
        *,
        dedup_key: str | None = None,
        dedup_window: int = 10,
        limits: RateLimits | None = None,
    ) -> tuple[Job, str | None]:
        """Record a new job in one round trip.

        With ``dedup_key``: if that key names a job (in any state: the key lives ``dedup_window``
        seconds, and a request repeated within them is a double submit even when the first job
        has already ended), nothing is written and that job's id is returned second; otherwise
        the key is set to this job for ``dedup_window`` seconds. With ``limits``: if the person or the channel has created
        that many jobs within the window, nothing is written and :class:`RateLimited` is raised.
        Both checks run in the same script as the write, so two web processes can't both pass.
        """
        job = job.model_copy(update={"updated_at": job.created_at})
        fields = [item for pair in job.to_redis(sparse=True).items() for item in pair]
        keys = [
            self.key(job.id), self._user_index(job.user_id), self._all_index, self._open_index,
            f"{self.prefix}rate:user:{job.user_id}", f"{self.prefix}rate:channel:{job.channel_id}",
        ]
        if dedup_key:
            keys.append(dedup_key)
        rate = limits or RateLimits(0, 0, window=0)
        args = [job.id, repr(job.created_at), repr(job.deadline), JOB_TTL, USER_INDEX_LIMIT, ALL_INDEX_LIMIT,
                dedup_window, self.prefix, repr(float(rate.window)), rate.per_user, rate.per_channel, *fields]
        refused = self._create(keys=keys, args=args)
        if not refused:
            return job, None
        kind, *rest = (part.decode() if isinstance(part, bytes) else str(part) for part in refused)
        if kind == "rate":
            scope, wait = rest
            limit = rate.per_user if scope == "user" else rate.per_channel
            raise RateLimited(scope, limit, rate.window, max(1, math.ceil(float(wait))))
        return job, rest[0]

    def transition(
        self, job_id: str, allowed: Iterable[str], to: str | None = None, *, expect: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Set ``fields`` (and ``state=to``) only if the job is in one of ``allowed`` states and
        each ``expect`` field has its value. ``allowed`` empty means any state. Returns whether
        the change was made. A job that ends here enters the outbox in the same script.
        """
        values = {k: _encode(v) for k, v in fields.items()}
        if to is not None:
            values["state"] = to
        now = time.time()
        values["updated_at"] = _encode(now)
        wanted = {k: _encode(v) for k, v in (expect or {}).items()}
        found = self._transition(
            keys=[self.key(job_id), self._open_index, self.outbox.key],
            args=[json.dumps(list(allowed)), json.dumps(values), json.dumps(wanted), job_id, repr(now)],
        )
        if isinstance(found, list):
            # Counted here, once a job: only one compare-and-set moves it out of its active states.
            kind, vendor, created = (_text(v) for v in found[1:])
            job_ended(kind, vendor, to or "", now - float(created or now))
            return True
        return _text(found).startswith("OK:")

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


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)

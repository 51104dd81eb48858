"""Digests as stored: one Redis hash each, an index per channel, and the due set the clock reads.

The due set (``{prefix}digests:due``) scores each active digest by its next scheduled run. The
clock moves a digest on only with a compare-and-set of that score (:meth:`DigestStore.advance`),
so two clocks that both believe they lead cannot both move the same tick; the run itself is
refused a second time by its job's once-only key (``workers.digests.fire``). Pausing takes a
digest out of the due set and resuming puts it back, so a paused digest costs the clock nothing;
the paused ones are kept in a set of their own (``{prefix}digests:paused``), changed in the same
transaction, so that both states are counted with two bounded reads (:func:`by_state`: ``adops
status`` and ``/metrics`` alike) and never a scan.

How a run ended is recorded once per job (:meth:`DigestStore.record`), in one script that also
counts failures in a row and pauses the digest when they reach the limit: a publish that runs
twice cannot count one failure twice.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis
from pydantic import BaseModel

__all__ = ["Digest", "DigestStore", "by_state", "new_digest_id"]

#: Crockford's base32, as job ids: digest ids are typed back from phones.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: How long the record of a run's outcome is kept (a publish retried after this is long gone).
RECORD_TTL = 7 * 86_400


def due_key(prefix: str) -> str:
    return f"{prefix}digests:due"


def paused_key(prefix: str) -> str:
    return f"{prefix}digests:paused"


def by_state(client: redis.Redis, prefix: str) -> dict[str, int]:
    """Digests by state, ``{"active": n, "paused": m}``: the one reading ``adops status`` and
    ``/metrics`` share, so the two never disagree."""
    pipe = client.pipeline(transaction=False)
    pipe.zcard(due_key(prefix))
    pipe.scard(paused_key(prefix))
    active, paused = pipe.execute()
    return {"active": int(active), "paused": int(paused)}


def new_digest_id() -> str:
    return "D" + "".join(secrets.choice(_ALPHABET) for _ in range(5))


class Digest(BaseModel):
    """One scheduled command in one channel."""

    id: str
    channel_id: str
    team_id: str = ""
    #: The command as the parser writes it back (``Parsed.text``): re-parsed at every run, so
    #: `yesterday` is read in the digest's zone on the day it runs.
    command: str
    cron: str
    tz: str
    skip_empty: bool = False
    created_by: str
    created_at: float
    edited_by: str = ""
    edited_at: float = 0.0
    paused: bool = False
    paused_by: str = ""  # empty when the digest paused itself after failures
    paused_at: float = 0.0
    next_at: float = 0.0  # the next scheduled run (0 while paused)
    failures: int = 0  # in a row
    last_state: str = ""  # delivered, failed, cancelled, skipped
    last_at: float = 0.0  # when the last run ended
    last_job: str = ""
    #: Runs that came due while no clock could fire them (a long outage), since ``missed_since``;
    #: said in the next run's message, then cleared.
    missed: int = 0
    missed_since: float = 0.0

    def to_redis(self) -> dict[str, str]:
        return {k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in self.model_dump().items()}

    @classmethod
    def from_redis(cls, raw: dict[Any, Any]) -> Digest:
        data = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in raw.items()}
        for name, field in cls.model_fields.items():
            if field.annotation is bool and name in data:
                data[name] = data[name] == "1"
        return cls.model_validate(data)


# Moves a digest to its next run only if the due set still holds the run this clock saw
# (another clock, or an edit, may have moved it meanwhile). KEYS[1] due set, KEYS[2] digest hash;
# ARGV[1] id, ARGV[2] the score seen, ARGV[3] next run, ARGV[4] runs missed, ARGV[5] first missed.
_ADVANCE = """
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen or tonumber(seen) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], 'next_at', ARGV[3])
local missed = tonumber(ARGV[4])
if missed > 0 then
  if tonumber(redis.call('HGET', KEYS[2], 'missed') or '0') == 0 then
    redis.call('HSET', KEYS[2], 'missed_since', ARGV[5])
  end
  redis.call('HINCRBY', KEYS[2], 'missed', missed)
end
return 1
"""

# Records how run ``job`` ended, once. KEYS[1] digest hash, KEYS[2] due set, KEYS[3] this job's
# record, KEYS[4] the paused set; ARGV[1] id, ARGV[2] state, ARGV[3] now, ARGV[4] job id, ARGV[5] failures that pause,
# ARGV[6] whether the run was a scheduled one (a `digest run` by hand never pauses the digest).
# Returns the failures in a row after this run, and 1 if this run paused the digest.
_RECORD = """
local done = redis.call('GET', KEYS[3])
if done then
  local sep = string.find(done, ':')
  return {tonumber(string.sub(done, 1, sep - 1)), tonumber(string.sub(done, sep + 1))}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[3], '0:0', 'EX', 604800)
  return {0, 0}
end
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if ARGV[2] == 'failed' then
  failures = failures + 1
elseif ARGV[2] ~= 'cancelled' then
  failures = 0
end
redis.call('HSET', KEYS[1], 'failures', failures, 'last_state', ARGV[2], 'last_at', ARGV[3], 'last_job', ARGV[4])
local paused = 0
if failures >= tonumber(ARGV[5]) and ARGV[6] == '1' and redis.call('HGET', KEYS[1], 'paused') ~= '1' then
  redis.call('HSET', KEYS[1], 'paused', '1', 'paused_by', '', 'paused_at', ARGV[3], 'next_at', '0')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[1])
  paused = 1
end
redis.call('SET', KEYS[3], failures .. ':' .. paused, 'EX', 604800)
return {failures, paused}
"""


# Counts a digest paused before the paused set existed, if it is still paused as this runs (an
# admin's resume meanwhile must not be undone). KEYS[1] digest hash, KEYS[2] paused set; ARGV[1] id.
_INDEX_PAUSED = """
if redis.call('HGET', KEYS[1], 'paused') == '1' then return redis.call('SADD', KEYS[2], ARGV[1]) end
return 0
"""


class DigestStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._advance = client.register_script(_ADVANCE)
        self._record = client.register_script(_RECORD)
        self._index_paused = client.register_script(_INDEX_PAUSED)

    @property
    def due_key(self) -> str:
        return due_key(self.prefix)

    @property
    def paused_key(self) -> str:
        return paused_key(self.prefix)

    def key(self, digest_id: str) -> str:
        return f"{self.prefix}digest:{digest_id}"

    def _channel_key(self, channel_id: str) -> str:
        return f"{self.prefix}digests:channel:{channel_id}"

    # -- reading ------------------------------------------------------------------------------

    def get(self, digest_id: str) -> Digest | None:
        raw = self.redis.hgetall(self.key(digest_id))
        return Digest.from_redis(raw) if raw else None

    def get_many_raw(self, digest_ids: list[str]) -> list[dict[bytes, bytes]]:
        """Each of ``digest_ids`` as stored (empty where gone), in one round trip; for the caller
        to read with ``Digest.from_redis`` one at a time, so one that no longer reads troubles
        only itself."""
        pipe = self.redis.pipeline(transaction=False)
        for digest_id in digest_ids:
            pipe.hgetall(self.key(digest_id))
        return list(pipe.execute())

    def in_channel(self, channel_id: str) -> list[Digest]:
        """The channel's digests, oldest first."""
        ids = sorted(_text(i) for i in self.redis.smembers(self._channel_key(channel_id)))
        pipe = self.redis.pipeline(transaction=False)
        for digest_id in ids:
            pipe.hgetall(self.key(digest_id))
        found = [Digest.from_redis(raw) for raw in pipe.execute() if raw]
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def due(self, now: float, limit: int = 500) -> list[tuple[str, float]]:
        """Active digests whose next run is at or before ``now``, earliest first, with that run."""
        rows = self.redis.zrangebyscore(self.due_key, "-inf", now, start=0, num=limit, withscores=True)
        return [(_text(member), float(score)) for member, score in rows]

    def index_paused(self) -> int:
        """Once per deployment (the clock calls it as it starts): the digests paused before the
        paused set existed, put in it. A scan of the digests' own keys, the one there is; later
        starts find the mark and read nothing. How many were added."""
        mark = f"{self.prefix}digests:paused:indexed"
        if self.redis.exists(mark):
            return 0
        added = 0
        for key in self.redis.scan_iter(match=f"{self.prefix}digest:D*", count=500):
            digest_id = _text(key).removeprefix(f"{self.prefix}digest:")
            added += int(self._index_paused(keys=[_text(key), self.paused_key], args=[digest_id]))
        self.redis.set(mark, "1")  # after the scan: a clock that dies midway leaves it for the next
        return added

    # -- changing -----------------------------------------------------------------------------

    def add(self, digest: Digest) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(digest.id), mapping=digest.to_redis())
        pipe.sadd(self._channel_key(digest.channel_id), digest.id)
        if digest.paused:
            pipe.sadd(self.paused_key, digest.id)
        else:
            pipe.zadd(self.due_key, {digest.id: digest.next_at})
        pipe.execute()

    def reschedule(self, digest_id: str, *, cron: str, tz: str, next_at: float, by: str, now: float) -> None:
        """A new schedule; the next run moves with it (unless the digest is paused)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(digest_id), mapping={"cron": cron, "tz": tz, "edited_by": by, "edited_at": repr(now)})
        pipe.hget(self.key(digest_id), "paused")
        _, paused = pipe.execute()
        if _text(paused or b"0") != "1":
            self.schedule(digest_id, next_at)

    def schedule(self, digest_id: str, next_at: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(digest_id), "next_at", repr(next_at))
        pipe.zadd(self.due_key, {digest_id: next_at})
        pipe.execute()

    def pause(self, digest_id: str, *, by: str, now: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(digest_id), mapping={"paused": "1", "paused_by": by, "paused_at": repr(now), "next_at": "0"})
        pipe.zrem(self.due_key, digest_id)
        pipe.sadd(self.paused_key, digest_id)
        pipe.execute()

    def resume(self, digest_id: str, *, next_at: float) -> None:
        """Active again from ``next_at``, with a clean slate: failures and missed runs forgotten."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(digest_id), mapping={
            "paused": "0", "paused_by": "", "paused_at": "0", "failures": "0", "missed": "0", "missed_since": "0",
            "next_at": repr(next_at),
        })
        pipe.zadd(self.due_key, {digest_id: next_at})
        pipe.srem(self.paused_key, digest_id)
        pipe.execute()

    def remove(self, digest: Digest) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key(digest.id))
        pipe.srem(self._channel_key(digest.channel_id), digest.id)
        pipe.zrem(self.due_key, digest.id)
        pipe.srem(self.paused_key, digest.id)
        pipe.execute()

    def unschedule(self, digest_id: str) -> None:
        """Out of the due set (a digest removed or paused under the clock's feet)."""
        self.redis.zrem(self.due_key, digest_id)

    def advance(self, digest_id: str, *, seen: float, next_at: float, missed: int = 0, missed_since: float = 0.0) -> bool:
        """Move the digest from the run at ``seen`` to ``next_at``; False if it was moved already."""
        keys = [self.due_key, self.key(digest_id)]
        args = [digest_id, repr(seen), repr(next_at), missed, repr(missed_since)]
        return bool(self._advance(keys=keys, args=args))

    def advance_many(self, moves: list[tuple[str, float, float, int, float]]) -> None:
        """:meth:`advance` for each (id, seen, next_at, missed, missed_since), in one round trip."""
        if not moves:
            return
        pipe = self.redis.pipeline(transaction=False)
        for digest_id, seen, next_at, missed, missed_since in moves:
            self._advance(keys=[self.due_key, self.key(digest_id)],
                          args=[digest_id, repr(seen), repr(next_at), missed, repr(missed_since)], client=pipe)
        pipe.execute()

    def take_missed(self, digest_id: str, count: int) -> None:
        """The next run has said ``count`` missed runs: forget them (later ones stay counted)."""
        if count <= 0:
            return
        left = self.redis.hincrby(self.key(digest_id), "missed", -count)
        if left <= 0:
            self.redis.hset(self.key(digest_id), mapping={"missed": "0", "missed_since": "0"})

    def record(self, digest_id: str, job_id: str, state: str, *, now: float, pause_after: int,
               scheduled: bool) -> tuple[int, bool]:
        """How run ``job_id`` ended, once: (failures in a row, whether this run paused the digest)."""
        keys = [self.key(digest_id), self.due_key, f"{self.prefix}digest:recorded:{job_id}", self.paused_key]
        failures, paused = self._record(keys=keys, args=[digest_id, state, repr(now), job_id, pause_after,
                                                         "1" if scheduled else "0"])
        return int(failures), bool(paused)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

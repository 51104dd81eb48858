"""A build's bookkeeping in Redis: which parts it has, which are done, and what each one gave.

A build (:mod:`workers.builds`) runs as many queue messages at once, any of which may run twice
(an at-least-once broker, a worker killed mid-part) or race a copy of itself. So every change
here is one Lua script that checks before it writes:

- :meth:`BuildStore.start` records the plan once (a second plan of the same build changes nothing);
- :meth:`BuildStore.record` marks a part done *together with* the follow-up parts it handed
  back and the counts it adds; a part recorded twice counts once, a part of a job no longer
  building is not recorded, and the one recording that leaves nothing pending is told so
  (``last``) exactly once, so exactly one message enqueues the assembly.

Keys, under ``{prefix}build:{job_id}:``: ``parts`` (hash key -> the part's params), ``pending``
(set of keys), ``done`` (hash key -> what the part gave, JSON), ``meta`` (the plan's note, the
``last`` flag, when a part last started or finished). The counters people see live on the job's
own hash (``parts_total``, ``parts_done``, ``rows_done``, ``requests``), written by the same
scripts, so a progress message and ``/adops jobs`` read them with the job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from workers.builds import Fetched, Part
from workers.jobs import JOB_TTL

__all__ = ["BuildStore", "Done", "Recorded"]

# KEYS: 1 job hash, 2 parts, 3 pending, 4 meta. ARGV: 1 note, 2 part word, 3 unit, 4 now, 5 ttl,
# 6 span, then key/params pairs. Returns -1 when the job is not building (cancelled meanwhile), 0 when a
# plan is recorded already, 1 when recorded now, 2 when recorded now with nothing to fetch (the
# caller assembles at once; ``last`` is taken here so no part can take it again).
_START = """
if redis.call('HGET', KEYS[1], 'state') ~= 'requesting' then return -1 end
if redis.call('HEXISTS', KEYS[4], 'planned') == 1 then return 0 end
redis.call('HSET', KEYS[4], 'planned', '1', 'note', ARGV[1], 'touched', ARGV[4])
for i = 7, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then redis.call('SADD', KEYS[3], ARGV[i]) end
end
redis.call('HSET', KEYS[1], 'parts_total', tostring(redis.call('HLEN', KEYS[2])), 'parts_done', '0',
           'rows_done', '0', 'requests', '0', 'part_word', ARGV[2], 'unit', ARGV[3], 'updated_at', ARGV[4],
           'span', ARGV[6], 'covered', '0')
for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
if redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[4], 'last', '1')
  return 2
end
return 1
"""

# KEYS: 1 job hash, 2 parts, 3 pending, 4 done, 5 meta. ARGV: 1 key, 2 record JSON, 3 rows,
# 4 requests, 5 now, 6 ttl, 7 covered, then follow-up key/params pairs. Returns {'gone'} (the job is not
# building), {'dup'} (recorded before), {'unknown'} (not a part of this build), or
# {'ok', last (0|1), follow-up keys new to the build...}.
_RECORD = """
if redis.call('HGET', KEYS[1], 'state') ~= 'requesting' then return {'gone'} end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return {'dup'} end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return {'unknown'} end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[1])
local out = {'ok', 0}
for i = 8, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('SADD', KEYS[3], ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
redis.call('HINCRBY', KEYS[1], 'parts_done', 1)
redis.call('HINCRBY', KEYS[1], 'rows_done', tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'requests', tonumber(ARGV[4]))
redis.call('HINCRBY', KEYS[1], 'covered', tonumber(ARGV[7]))
redis.call('HSET', KEYS[1], 'parts_total', tostring(redis.call('HLEN', KEYS[2])), 'updated_at', ARGV[5])
redis.call('HSET', KEYS[5], 'touched', ARGV[5])
for i = 2, 5 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
if redis.call('SCARD', KEYS[3]) == 0 and redis.call('HSETNX', KEYS[5], 'last', '1') == 1 then out[2] = 1 end
return out
"""


@dataclass(frozen=True)
class Done:
    """What a recorded part gave: the try's file of rows and the part's counts."""

    key: str
    file: str
    rows: int = 0
    columns: tuple[str, ...] = ()
    tally: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: int = 0
    note: str = ""
    then: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"file": self.file, "rows": self.rows, "columns": list(self.columns), "tally": self.tally,
                           "requests": self.requests, "note": self.note, "then": list(self.then)},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, key: str, raw: str | bytes) -> Done:
        d = json.loads(raw)
        return cls(key, d["file"], int(d["rows"]), tuple(d["columns"]), d["tally"], int(d["requests"]), d["note"],
                   tuple(d["then"]))


@dataclass(frozen=True)
class Recorded:
    """The answer to :meth:`BuildStore.record`: ``status`` "ok" | "dup" | "gone" | "unknown";
    ``last`` when this recording left nothing pending (told once per build); ``new`` the
    follow-up parts this recording added (to enqueue)."""

    status: str
    last: bool = False
    new: tuple[Part, ...] = ()


class BuildStore:
    def __init__(self, client: redis.Redis, prefix: str = "adops:") -> None:
        self.redis = client
        self.prefix = prefix
        self._start = client.register_script(_START)
        self._record = client.register_script(_RECORD)

    def _keys(self, job_id: str) -> dict[str, str]:
        base = f"{self.prefix}build:{job_id}:"
        return {name: base + name for name in ("parts", "pending", "done", "meta")}

    def _job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    # -- writes ----------------------------------------------------------------------------------

    def start(self, job_id: str, parts: Sequence[Part], *, note: str, part_word: str, unit: str, now: float,
              span: int = 0) -> int:
        """Record the plan (once); see ``_START`` for the answer."""
        k = self._keys(job_id)
        args: list[Any] = [note, part_word, unit, repr(now), JOB_TTL, int(span), *_pairs(parts)]
        return int(self._start(keys=[self._job(job_id), k["parts"], k["pending"], k["meta"]], args=args))

    def record(self, job_id: str, part: Part, file: str, fetched: Fetched, now: float) -> Recorded:
        """Mark ``part`` done with what it gave and add its follow-ups, in one step."""
        k = self._keys(job_id)
        done = Done(part.key, file, fetched.rows, tuple(fetched.columns), fetched.tally, fetched.requests,
                    fetched.note, tuple(p.key for p in fetched.then))
        args: list[Any] = [part.key, done.to_json(), int(fetched.rows), int(fetched.requests), repr(now), JOB_TTL,
                           int(fetched.covered), *_pairs(fetched.then)]
        answer = [_str(x) for x in self._record(
            keys=[self._job(job_id), k["parts"], k["pending"], k["done"], k["meta"]], args=args)]
        if answer[0] != "ok":
            return Recorded(answer[0])
        by_key = {p.key: p for p in fetched.then}
        return Recorded("ok", answer[1] == "1", tuple(by_key[key] for key in answer[2:]))

    def touch(self, job_id: str, now: float) -> None:
        """A part started: the build is alive (the sweeper leaves it alone a while)."""
        meta = self._keys(job_id)["meta"]
        pipe = self.redis.pipeline()
        pipe.hset(meta, "touched", repr(now))
        pipe.expire(meta, JOB_TTL)
        pipe.execute()

    def forget(self, job_id: str) -> None:
        """Drop the bookkeeping of a build that ended (its counters stay on the job)."""
        self.redis.delete(*self._keys(job_id).values())

    # -- reads -----------------------------------------------------------------------------------

    def planned(self, job_id: str) -> bool:
        return bool(self.redis.hexists(self._keys(job_id)["meta"], "planned"))

    def note(self, job_id: str) -> str:
        return _str(self.redis.hget(self._keys(job_id)["meta"], "note") or b"")

    def touched(self, job_id: str) -> float:
        raw = self.redis.hget(self._keys(job_id)["meta"], "touched")
        return float(raw) if raw else 0.0

    def part(self, job_id: str, key: str) -> Part | None:
        raw = self.redis.hget(self._keys(job_id)["parts"], key)
        return Part(key, json.loads(raw)) if raw else None

    def done(self, job_id: str, key: str) -> Done | None:
        raw = self.redis.hget(self._keys(job_id)["done"], key)
        return Done.from_json(key, raw) if raw else None

    def all_done(self, job_id: str) -> list[Done]:
        """Every recorded part, in key order (the output's order)."""
        raw = self.redis.hgetall(self._keys(job_id)["done"])
        return sorted((Done.from_json(_str(k), v) for k, v in raw.items()), key=lambda d: d.key)

    def pending(self, job_id: str) -> list[Part]:
        """Parts not yet done, in key order."""
        k = self._keys(job_id)
        keys = sorted(_str(x) for x in self.redis.smembers(k["pending"]))
        if not keys:
            return []
        values = self.redis.hmget(k["parts"], keys)
        return [Part(key, json.loads(v)) for key, v in zip(keys, values, strict=True) if v]

    def pending_of(self, keys: Iterable[str], job_id: str) -> list[Part]:
        """Those of ``keys`` still pending (a redelivered part re-sends its follow-ups)."""
        wanted = set(keys)
        return [p for p in self.pending(job_id) if p.key in wanted] if wanted else []


def _pairs(parts: Iterable[Part]) -> list[str]:
    return [x for p in parts for x in (p.key, json.dumps(p.params, separators=(",", ":"), sort_keys=True))]


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

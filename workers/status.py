"""What ``/healthz`` and ``adops status`` report, read straight from Redis: queue depths, the
oldest waiting message, jobs by state, digests, the clock and the workers' heartbeats.

The figures are those ``/metrics`` exports, for a person at a terminal (``adops status``) or a
load balancer (``/healthz``). Only reads, and only bounded ones: the job counts read the open
index and the recency index (at most ``ALL_INDEX_LIMIT`` jobs), never a scan of the keyspace.

Dramatiq's Redis broker keeps, per queue ``q``: ``dramatiq:q`` (a list of ids ready to be
fetched), ``dramatiq:q.msgs`` (every message not yet acked: ready plus fetched), the same two for
the delay queue ``q.DQ`` (whose messages a worker holds until they are due) and ``q.XQ`` (dead
letters).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import redis

from workers.digests.store import by_state, due_key
from workers.heartbeat import clock_key, worker_index, worker_prefix

__all__ = ["NAMESPACE", "health", "render", "snapshot"]

NAMESPACE = "dramatiq"  # the Redis broker's default; ours never changes it


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def ping(client: redis.Redis) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def queue(client: redis.Redis, name: str, now: float, namespace: str = NAMESPACE) -> dict[str, Any]:
    """Depths of one queue; the age of the message at its head (the oldest waiting), if any."""
    q, dq = f"{namespace}:{name}", f"{namespace}:{name}.DQ"
    pipe = client.pipeline(transaction=False)
    pipe.llen(q)
    pipe.hlen(f"{q}.msgs")
    pipe.hlen(f"{dq}.msgs")
    pipe.zcard(f"{q}.XQ")
    pipe.lindex(q, 0)
    ready, unacked, delayed, dead, head = pipe.execute()
    oldest = None
    if head is not None:
        raw = client.hget(f"{q}.msgs", head)
        if raw:
            oldest = round(max(0.0, now - json.loads(raw)["message_timestamp"] / 1000), 1)
    return {"queue": name, "ready": int(ready), "delayed": int(delayed),
            "in_progress": max(0, int(unacked) - int(ready)), "dead": int(dead), "oldest_waiting_s": oldest}


def clock(client: redis.Redis, prefix: str, now: float, stale_after: float) -> dict[str, Any]:
    leader, beat = client.mget(f"{prefix}clock:leader", clock_key(prefix))
    out: dict[str, Any] = {"leader": _text(leader) if leader else None}
    if beat is None:
        return {**out, "ok": False, "age_s": None, "who": None}
    data = json.loads(beat)
    age = round(max(0.0, now - float(data["at"])), 1)
    return {**out, "ok": age <= stale_after, "age_s": age, "who": data.get("who")}


def workers(client: redis.Redis, prefix: str, now: float) -> list[dict[str, Any]]:
    """Workers whose heartbeat key still lives (a dead one's lapses within three intervals)."""
    names = [_text(n) for n in client.zrangebyscore(worker_index(prefix), now - 86_400, "+inf")]
    if not names:
        return []
    found = []
    for raw in client.mget([worker_prefix(prefix) + n for n in names]):
        if raw:
            data = json.loads(raw)
            found.append({"who": data["who"], "age_s": round(max(0.0, now - float(data["at"])), 1),
                          "queues": data.get("queues", [])})
    return found


def jobs(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """Open jobs by state (the open index holds every one), and the recent ones by state (the
    recency index: the last ``ALL_INDEX_LIMIT`` jobs)."""
    counts: dict[str, Counter[str]] = {}
    for name in ("open", "all"):
        ids = client.zrange(f"{prefix}jobs:{name}", 0, -1)
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(f"{prefix}job:{_text(job_id)}", "state")
        counts[name] = Counter(_text(s) for s in pipe.execute() if s) if ids else Counter()
    return {"open": dict(counts["open"]), "recent": dict(counts["all"])}


def digests(client: redis.Redis, prefix: str, now: float) -> dict[str, Any]:
    """Digests by state (the figures ``/metrics`` exports, read by the same function) and the
    next one due (the due set holds each active digest once, scored by its next run)."""
    counts = by_state(client, prefix)
    first = client.zrange(due_key(prefix), 0, 0, withscores=True)
    next_in = round(float(first[0][1]) - now, 1) if first else None
    return {**counts, "next_due_in_s": next_in, "next_id": _text(first[0][0]) if first else None}


def snapshot(client: redis.Redis, prefix: str, queues: tuple[str, ...], *, stale_after: float,
             now: float | None = None) -> dict[str, Any]:
    """Everything ``adops status`` prints; raises a RedisError when Redis does not answer."""
    now = time.time() if now is None else now
    redis_ = ping(client)
    if not redis_["ok"]:
        raise redis.ConnectionError(redis_["error"])
    return {"redis": redis_, "queues": [queue(client, q, now) for q in queues], "jobs": jobs(client, prefix),
            "digests": digests(client, prefix, now), "clock": clock(client, prefix, now, stale_after),
            "workers": workers(client, prefix, now)}


def health(client: redis.Redis, prefix: str, queues: tuple[str, ...], *, stale_after: float,
           broker: bool = True) -> tuple[int, dict[str, Any]]:
    """``/healthz``: 200 while Redis answers (this process can queue commands), else 503. A stale
    clock or no live worker is "degraded", still 200: the web can take commands and they wait
    in the queue; taking this web out of a load balancer would not help them."""
    now = time.time()
    out: dict[str, Any] = {"redis": ping(client)}
    if not out["redis"]["ok"]:
        return 503, {"status": "down", **out}
    try:
        if broker:
            out["broker"] = {"ok": True, "queues": [queue(client, q, now) for q in queues]}
        out["clock"] = clock(client, prefix, now, stale_after)
        found = workers(client, prefix, now)
        out["workers"] = {"ok": bool(found), "count": len(found), "beats": found}
    except redis.RedisError as exc:
        return 503, {"status": "down", **out, "redis": {"ok": False, "error": type(exc).__name__}}
    degraded = not out["clock"]["ok"] or not out["workers"]["ok"]
    return 200, {"status": "degraded" if degraded else "ok", **out}


def render(snap: dict[str, Any]) -> str:
    """The snapshot for a person: one block per subject, ages in seconds."""
    lines = [f"Redis      ok, {snap['redis']['latency_ms']} ms"]
    lines.append("Queues     ready  delayed  in progress  dead  oldest waiting")
    for q in snap["queues"]:
        oldest = "-" if q["oldest_waiting_s"] is None else f"{q['oldest_waiting_s']} s"
        lines.append(f"  {q['queue']:<8} {q['ready']:>5}  {q['delayed']:>7}  {q['in_progress']:>11}  {q['dead']:>4}  {oldest}")
    jobs_ = snap["jobs"]
    lines.append("Jobs open  " + (_counts(jobs_["open"]) or "none"))
    lines.append("Jobs recent " + (_counts(jobs_["recent"]) or "none"))
    d = snap["digests"]
    due = "-" if d["next_due_in_s"] is None else f"{d['next_id']} in {d['next_due_in_s']} s"
    lines.append(f"Digests    {d['active']} active, {d['paused']} paused, next due: {due}")
    c = snap["clock"]
    beat = "no heartbeat" if c["age_s"] is None else f"heartbeat {c['age_s']} s ago from {c['who']}"
    lines.append(f"Clock      leader {c['leader'] or '(none)'}, {beat}{'' if c['ok'] else ' (STALE)'}")
    lines.append(f"Workers    {len(snap['workers'])} alive")
    for w in snap["workers"]:
        lines.append(f"  {w['who']}  heartbeat {w['age_s']} s ago  queues {','.join(w['queues']) or '-'}")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items()))

"""The clock's tick on real Redis (real Lua), with time under the test's control and a queue
nobody consumes, so what each tick sends can be counted: the leader lease, one send per run
across DST days, coalesced and missed runs, and one broken digest not stopping the others."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.clock import Clock
from tests.test_jobs import enqueued, runtime
from workers.digests.cron import parse_cron
from workers.digests.store import Digest, new_digest_id
from workers.runtime import Runtime

BERLIN = ZoneInfo("Europe/Berlin")


def digest(rt: Runtime, cron: str, tz: str = "Europe/Berlin", *, now: float, **fields: object) -> Digest:
    d = Digest(id=new_digest_id(), channel_id="C1", command="account", cron=cron, tz=tz, created_by="UADMIN",
               created_at=now, next_at=parse_cron(cron).next_after(now, ZoneInfo(tz)), **fields)  # type: ignore[arg-type]
    rt.digests.add(d)
    return d


def fires(rt: Runtime) -> list[tuple[object, ...]]:
    return [args for name, args in enqueued(rt) if name == "digest_fire"]


def local(text: str, zone: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def run_clock(rt: Runtime, clock: Clock, start: float, end: float, step: float) -> None:
    now = start
    while now <= end:
        rt.clock = lambda now=now: now  # type: ignore[misc]
        clock.tick()
        now += step


def test_one_clock_leads_until_it_steps_down_or_its_lease_lapses(client: redis.Redis) -> None:
    rt = runtime(client)
    rt.settings = rt.settings.model_copy(update={"adops_clock_lease": 1.0})
    a, b = Clock(rt, "a"), Clock(rt, "b")
    assert a.leads() and not b.leads() and a.leads()  # the second call renews
    a.resign()  # a clock that stops frees the lock at once, and leads no more
    assert b.leads() and not a.leads()
    c = Clock(rt, "c")
    assert not c.leads()
    time.sleep(1.2)  # b stops renewing (killed): its lease lapses and c takes over
    assert c.leads()
    b.resign()  # a clock that doesn't hold the lock can't free it
    assert client.get("adops:clock:leader") == b"c"


def test_a_standby_sends_nothing(client: redis.Redis) -> None:
    rt = runtime(client)
    now = time.time()
    d = digest(rt, "0 9 * * *", now=now)
    Clock(rt, "leader").leads()
    rt.clock = lambda: d.next_at + 1
    Clock(rt, "standby").tick()
    assert fires(rt) == []
    Clock(rt, "leader").tick()
    assert fires(rt) == [(d.id, d.next_at, 0, 0.0, "")]


@pytest.mark.parametrize(
    ("day", "cron", "expected"),
    [
        # Spring forward (02:00 -> 03:00): 02:30 does not exist that night; it runs once, at 03:30.
        ("2027-03-28", "30 2 * * *", ["2027-03-28T03:30:00+02:00"]),
        # Fall back (03:00 -> 02:00): 02:30 happens twice; it runs once, the first time.
        ("2027-10-31", "30 2 * * *", ["2027-10-31T02:30:00+02:00"]),
        ("2027-03-28", "0 9 * * *", ["2027-03-28T09:00:00+02:00"]),
        ("2027-10-31", "0 9 * * *", ["2027-10-31T09:00:00+01:00"]),
    ],
)
def test_a_dst_day_in_berlin_runs_each_digest_once(client: redis.Redis, day: str, cron: str,
                                                   expected: list[str]) -> None:
    rt = runtime(client)
    start = local(f"{day}T00:00") - 3600
    d = digest(rt, cron, now=start)
    run_clock(rt, Clock(rt, "solo"), start, local(f"{day}T23:59"), step=60)
    sent = [datetime.fromtimestamp(float(args[1]), BERLIN).isoformat() for args in fires(rt)]  # type: ignore[arg-type]
    assert sent == expected
    assert all(args[2] == 0 for args in fires(rt)), "a clock ticking every minute misses nothing"
    assert rt.digests.get(d.id).missed == 0  # type: ignore[union-attr]


def test_runs_missed_within_the_grace_fold_into_one_and_older_ones_are_counted_not_fired(client: redis.Redis) -> None:
    rt = runtime(client)
    rt.settings = rt.settings.model_copy(update={"adops_digest_grace": 900})
    now = local("2027-01-04T08:00")
    short = digest(rt, "*/5 * * * *", now=now)
    daily = digest(rt, "0 9 * * *", now=now)
    rt.clock = lambda: local("2027-01-04T09:12")  # the clock was down from 08:00 to 09:12
    Clock(rt, "a").tick()
    by_id = {args[0]: args for args in fires(rt)}
    # Every 5 minutes: 08:05 .. 09:10 were due; 09:10 fires and stands for the 13 before it.
    assert by_id[short.id][1:4] == (local("2027-01-04T09:10"), 13, local("2027-01-04T08:05"))
    assert by_id[daily.id][1:3] == (local("2027-01-04T09:00"), 0)
    assert rt.digests.get(short.id).next_at == local("2027-01-04T09:15")  # type: ignore[union-attr]
    # Down for a day and a half: yesterday's and today's 09:00 are long past; nothing fires.
    rt.clock = lambda: local("2027-01-06T10:30")
    Clock(rt, "a").tick()
    assert [args for args in fires(rt) if args[0] == daily.id and args[1] > local("2027-01-04T09:00")] == []
    stored = rt.digests.get(daily.id)
    assert stored is not None and stored.missed == 2 and stored.missed_since == local("2027-01-05T09:00")
    assert stored.next_at == local("2027-01-07T09:00")


def test_a_broken_digest_does_not_stop_the_others(client: redis.Redis) -> None:
    rt = runtime(client)
    now = time.time()
    good = [digest(rt, "0 9 * * *", now=now) for _ in range(3)]
    broken = digest(rt, "0 9 * * *", now=now)
    client.hset(rt.digests.key(broken.id), "tz", "Mars/Olympus_Mons")  # a stored zone this host lacks
    rt.clock = lambda: max(d.next_at for d in good) + 1
    Clock(rt, "a").tick()
    assert sorted(args[0] for args in fires(rt)) == sorted(d.id for d in good)
    # Looked at again later, not every tick.
    assert client.zscore(rt.digests.due_key, broken.id) > rt.clock()


def test_a_paused_or_removed_digest_leaves_the_due_set_without_firing(client: redis.Redis) -> None:
    rt = runtime(client)
    now = time.time()
    d = digest(rt, "0 9 * * *", now=now)
    client.hset(rt.digests.key(d.id), "paused", "1")  # paused between the due read and the tick
    rt.clock = lambda: d.next_at + 1
    Clock(rt, "a").tick()
    assert fires(rt) == [] and client.zscore(rt.digests.due_key, d.id) is None

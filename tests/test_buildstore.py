"""A build's bookkeeping, on the real Redis Lua (``workers.buildstore``), and its progress words."""

from __future__ import annotations

import threading
import time

import redis

from workers.builds import Fetched, Part
from workers.buildstore import BuildStore
from workers.jobs import Job, JobStore
from workers.render import build_progress, jobs_list, progress


def _building(client: redis.Redis, job_id: str = "JBUILD0001") -> JobStore:
    jobs = JobStore(client)
    now = time.time()
    jobs.create(Job(id=job_id, kind="build", vendor="tally", command="tally", summary="Tally", user_id="U1",
                    channel_id="C1", created_at=now, deadline=now + 600))
    assert jobs.transition(job_id, ["queued"], "requesting")
    return jobs


def _parts(n: int) -> list[Part]:
    return [Part(f"{i:04d}", {"i": i}) for i in range(n)]


def test_the_plan_is_recorded_once(client: redis.Redis) -> None:
    jobs = _building(client)
    store = BuildStore(client)
    assert store.start("JBUILD0001", _parts(3), note="cut", part_word="window", unit="rows", now=1.0) == 1
    assert store.start("JBUILD0001", _parts(5), note="again", part_word="window", unit="rows", now=2.0) == 0
    job = jobs.get("JBUILD0001")
    assert job is not None and (job.parts_total, job.parts_done, job.part_word, job.unit) == (3, 0, "window", "rows")
    assert [p.key for p in store.pending("JBUILD0001")] == ["0000", "0001", "0002"]
    assert store.note("JBUILD0001") == "cut"


def test_a_part_recorded_twice_counts_once_and_brings_its_follow_ups_along(client: redis.Redis) -> None:
    jobs = _building(client)
    store = BuildStore(client)
    store.start("JBUILD0001", _parts(2), note="", part_word="window", unit="rows", now=1.0)
    halves = (Part("0000a", {"half": 1}), Part("0000b", {"half": 2}))
    first = store.record("JBUILD0001", Part("0000"), "0000.x.jsonl", Fetched(rows=0, then=halves, requests=1), 2.0)
    assert (first.status, first.last, [p.key for p in first.new]) == ("ok", False, ["0000a", "0000b"])
    again = store.record("JBUILD0001", Part("0000"), "0000.y.jsonl", Fetched(rows=7, then=halves), 3.0)
    assert again.status == "dup" and not again.new
    assert store.done("JBUILD0001", "0000").file == "0000.x.jsonl"  # the first try's file, not the second's
    store.record("JBUILD0001", Part("0001"), "f", Fetched(rows=10, requests=2, tally={"kind": {"even": 10}}), 4.0)
    job = jobs.get("JBUILD0001")
    assert job is not None and (job.parts_total, job.parts_done, job.rows_done, job.requests) == (4, 2, 10, 3)
    assert store.part("JBUILD0001", "0000b") == Part("0000b", {"half": 2})
    assert store.pending_of(["0000a", "0000b", "0001"], "JBUILD0001") == list(halves)
    assert store.record("JBUILD0001", Part("nope"), "f", Fetched(), 5.0).status == "unknown"


def test_the_last_part_is_told_exactly_once_however_the_recordings_race(client: redis.Redis) -> None:
    _building(client)
    store = BuildStore(client)
    store.start("JBUILD0001", _parts(40), note="", part_word="window", unit="rows", now=1.0)
    answers: list[bool] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        # Every part twice, from two threads: 80 recordings, 40 count, one is last.
        for _ in range(2):
            r = BuildStore(redis.Redis(connection_pool=client.connection_pool)).record(
                "JBUILD0001", Part(f"{i:04d}"), "f", Fetched(rows=1), 2.0)
            with lock:
                answers.append(r.last)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(40) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers.count(True) == 1 and len(answers) == 160
    assert not store.pending("JBUILD0001")
    assert [d.key for d in store.all_done("JBUILD0001")] == [f"{i:04d}" for i in range(40)]


def test_a_build_no_longer_running_records_nothing(client: redis.Redis) -> None:
    jobs = _building(client)
    store = BuildStore(client)
    store.start("JBUILD0001", _parts(2), note="", part_word="window", unit="rows", now=1.0)
    assert jobs.transition("JBUILD0001", ["requesting"], "cancelled")
    assert store.record("JBUILD0001", Part("0000"), "f", Fetched(rows=3), 2.0).status == "gone"
    assert store.done("JBUILD0001", "0000") is None
    store.forget("JBUILD0001")
    assert not client.keys("adops:build:*")


def test_an_empty_plan_is_last_at_once(client: redis.Redis) -> None:
    _building(client)
    assert BuildStore(client).start("JBUILD0001", [], note="", part_word="window", unit="rows", now=1.0) == 2


def _job(**fields: object) -> Job:
    base = dict(id="JPROGRESS1", kind="build", vendor="tally", command="tally start=0 stop=300",
                summary="Tally 0..300", user_id="U1", channel_id="C1", created_at=0.0, deadline=600.0,
                state="requesting", part_word="window", unit="impressions")
    return Job.model_validate({**base, **fields})


def test_progress_says_which_part_and_how_many_rows() -> None:
    job = _job(parts_total=12, parts_done=7, rows_done=61_400)
    assert build_progress(job) == "window 7 of 12, 61 400 impressions so far"
    assert "window 7 of 12, 61 400 impressions so far" in progress(job, 30.0, "Tally").text
    assert "window 7 of 12, 61 400 impressions so far" in str(jobs_list([job], 30.0, everyone=False).blocks)
    assert build_progress(_job(parts_total=12)) == "12 windows to fetch"
    assert build_progress(_job(parts_total=3, parts_done=3, rows_done=5)) == (
        "all 3 windows fetched, 5 impressions; writing the file")
    assert build_progress(_job(part_word="", unit="")) == ""  # not planned yet: the usual words


def test_progress_of_a_walk_says_how_much_of_the_range_is_covered() -> None:
    # A walk hands back follow-up parts, so "window 7 of 12" would show a growing total.
    job = _job(parts_total=9, parts_done=7, rows_done=61_400, requests=23, span=1000, covered=352)
    assert build_progress(job) == "61 400 impressions so far, 35 % of the range covered, 23 requests"
    assert build_progress(_job(parts_total=1, span=1000)) == "starting"
    assert build_progress(_job(parts_total=9, parts_done=9, rows_done=5, requests=11, span=10, covered=10)) == (
        "all of the range fetched, 5 impressions in 11 requests; writing the file")

"""The job store and the state machine's guards, against the private real Redis."""

from __future__ import annotations

import time

import pytest
import redis
from dramatiq import Message

from tests.harness import RedisServer
from workers import audit, steps, sweeper
from workers.boot import boot, load_settings
from workers.jobs import Job, JobStore, new_job_id
from workers.runtime import Runtime
from workers.vendors.registry import CATALOGUE


@pytest.fixture()
def store(client: redis.Redis) -> JobStore:
    return JobStore(client)


def make_job(store: JobStore, user: str = "U1", deadline_in: float = 600, **kw: object) -> Job:
    now = time.time()
    fields: dict[str, object] = dict(
        id=new_job_id(), kind="export", vendor="instal", command="export instal yesterday",
        summary="Instal export", params={"start_date": "2026-11-01"}, user_id=user, channel_id="C1",
        created_at=now, deadline=now + deadline_in,
    )
    fields.update(kw)
    return store.create(Job.model_validate(fields))[0]


def test_ids_are_unambiguous_and_unique() -> None:
    ids = {new_job_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 9 and i[0] == "J" and not set(i[1:]) & set("ILOU") for i in ids)


def test_round_trip_keeps_types(store: JobStore) -> None:
    job = make_job(store, result={"url": "https://x/y", "rows": 3}, outcome_posted=True)
    again = store.get(job.id)
    assert again is not None
    assert again.params == {"start_date": "2026-11-01"} and again.result == {"url": "https://x/y", "rows": 3}
    assert again.outcome_posted is True and again.state == "queued" and again.polls == 0


@pytest.mark.parametrize(
    ("start", "allowed", "to", "changes"),
    [
        ("queued", ["queued"], "requesting", True),
        ("queued", ["waiting"], "delivered", False),
        ("cancelled", ["queued", "requesting", "waiting"], "failed", False),
        ("waiting", [], "failed", True),
    ],
)
def test_transition_is_compare_and_set(store: JobStore, start: str, allowed: list[str], to: str, changes: bool) -> None:
    job = make_job(store, state=start)
    assert store.transition(job.id, allowed, to, error="why") is changes
    fresh = store.get(job.id)
    assert fresh is not None
    assert fresh.state == (to if changes else start)
    assert (fresh.error == "why") is changes


def test_transition_of_a_missing_job_changes_nothing(store: JobStore, client: redis.Redis) -> None:
    assert store.transition("JNOPE00000", [], "failed") is False
    assert not client.exists(store.key("JNOPE00000"))


def test_poll_sequence_collapses_duplicates(store: JobStore) -> None:
    job = make_job(store, state="waiting")
    assert store.advance_poll(job.id, 0, "PENDING") is True
    assert store.advance_poll(job.id, 0, "PENDING") is False  # the duplicate of poll 0
    assert store.advance_poll(job.id, 1, "STARTED") is True
    fresh = store.get(job.id)
    assert fresh is not None and fresh.poll_seq == 2 and fresh.polls == 2 and fresh.vendor_state == "STARTED"
    store.transition(job.id, ["waiting"], "cancelled")
    assert store.advance_poll(job.id, 2, "PENDING") is False


def test_recent_lists_newest_first_per_user_and_overall(store: JobStore) -> None:
    a1 = make_job(store, user="UA")
    b1 = make_job(store, user="UB")
    a2 = make_job(store, user="UA", created_at=time.time() + 1)
    assert [j.id for j in store.recent("UA")] == [a2.id, a1.id]
    assert {j.id for j in store.recent(None)} == {a1.id, a2.id, b1.id}
    assert store.recent("UNOBODY") == []


def test_create_refuses_a_double_submit_whatever_the_first_jobs_state(store: JobStore, client: redis.Redis) -> None:
    first = make_job(store)
    client.set("adops:recent:x", first.id)
    now = time.time()
    second = Job(id=new_job_id(), kind="export", vendor="instal", command="c", summary="s", user_id="U1",
                 channel_id="C1", created_at=now, deadline=now + 60)
    _, earlier = store.create(second, dedup_key="adops:recent:x")
    assert earlier == first.id and store.get(second.id) is None
    # A double Enter is one request even when the first job has already finished.
    store.transition(first.id, [], "delivered")
    _, earlier = store.create(second, dedup_key="adops:recent:x")
    assert earlier == first.id and store.get(second.id) is None
    # Once the window has passed (the key expired), the same request is a new job.
    client.delete("adops:recent:x")
    _, earlier = store.create(second, dedup_key="adops:recent:x")
    assert earlier is None and store.get(second.id) is not None
    assert client.get("adops:recent:x") == second.id.encode() and 0 < client.ttl("adops:recent:x") <= 10


def test_claims_are_exclusive(store: JobStore) -> None:
    assert store.claim("action:1.2", 10) is True
    assert store.claim("action:1.2", 10) is False
    store.release("action:1.2")
    assert store.claim("action:1.2", 10) is True


def runtime(client: redis.Redis) -> Runtime:
    """A runtime on ``client`` whose queue is an in-memory stub nobody consumes: what the steps
    enqueue stays there to be looked at."""
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": "http://127.0.0.1:9/api/",
                              "INSTAL_TOKEN": "t", "INSTAL_BASE_URL": "http://127.0.0.1:9"})
    return boot(settings, redis_client=client)


def enqueued(rt: Runtime) -> list[tuple[str, tuple[object, ...]]]:
    messages = [Message.decode(raw) for q in rt.broker.queues.values() for raw in list(q.queue)]  # type: ignore[attr-defined]
    return [(m.actor_name, tuple(m.args)) for m in messages]


def test_sweep_fails_only_overdue_active_jobs(client: redis.Redis) -> None:
    rt = runtime(client)
    overdue = make_job(rt.store, deadline_in=-(sweeper.SWEEP_GRACE + 5), state="waiting")
    fresh = make_job(rt.store, deadline_in=600, state="waiting")
    done = make_job(rt.store, deadline_in=-(sweeper.SWEEP_GRACE + 5), state="waiting")
    rt.store.transition(done.id, ["waiting"], "delivered")
    assert sweeper.sweep(rt) == [overdue.id]
    assert enqueued(rt) == [("publish", (overdue.id,))]
    job = rt.store.get(overdue.id)
    assert job is not None and job.state == "failed" and "deadline" in job.error
    assert rt.store.get(fresh.id).state == "waiting"  # type: ignore[union-attr]
    assert sweeper.sweep(rt) == []  # idempotent
    assert enqueued(rt) == [("publish", (overdue.id,))]
    assert rt.store.overdue(time.time()) == []


def test_a_job_cancelled_while_its_request_runs_asks_the_vendor_for_nothing(redis_server: RedisServer, redis_db: int) -> None:
    """The person cancels between the request step reading the job and calling the vendor."""

    class CancelRightAfterTheRead(redis.Redis):
        armed = True

        def hgetall(self, name):  # type: ignore[no-untyped-def,override]
            raw = super().hgetall(name)
            if self.armed and raw:
                self.armed = False
                steps.cancel(rt, job.id, "U1")
            return raw

    client = CancelRightAfterTheRead.from_url(redis_server.url(redis_db))
    client.armed = False
    rt = runtime(client)
    job = make_job(rt.store)
    client.armed = True
    # A vendor call would fail loudly (closed port → StepRetry raised here).
    steps.request(rt, CATALOGUE, job.id)
    assert enqueued(rt) == [] and rt.store.get(job.id).state == "cancelled"  # type: ignore[union-attr]
    client.flushdb()


# -- the outbox: finished, unposted jobs ----------------------------------------------------


def test_finishing_a_job_puts_it_in_the_outbox_and_only_its_latest_outcome_takes_it_out(store: JobStore) -> None:
    job = make_job(store, state="waiting")
    assert job.id not in store.outbox
    assert store.transition(job.id, ["waiting"], "delivered", result={"url": "https://x/y"})
    assert job.id in store.outbox and store.overdue(time.time() + 10**6) == [], "left the open index, in one script"
    # An amended outcome (rev 1) is pending: the publish of rev 0 finishing late must not hide it.
    assert store.transition(job.id, ["delivered"], outcome_rev=1)
    assert store.outbox.mark_posted(store.key(job.id), job.id, 0) is False
    assert job.id in store.outbox and store.get(job.id).outcome_posted is False  # type: ignore[union-attr]
    assert store.outbox.mark_posted(store.key(job.id), job.id, 1) is True
    assert job.id not in store.outbox and store.get(job.id).outcome_posted is True  # type: ignore[union-attr]
    # A later change of a posted job does not put it back.
    assert store.transition(job.id, ["delivered"], last_error="")
    assert job.id not in store.outbox


def test_a_transition_can_expect_field_values(store: JobStore) -> None:
    job = make_job(store, state="waiting")
    assert store.transition(job.id, ["waiting"], expect={"via": ""}, via="channel", message_ts="1.0")
    assert not store.transition(job.id, ["waiting"], expect={"via": ""}, via="channel", message_ts="2.0")
    assert store.get(job.id).message_ts == "1.0"  # type: ignore[union-attr]


def test_the_sweeper_pages_past_stale_entries_and_cleans_its_indexes(client: redis.Redis) -> None:
    rt = runtime(client)
    long_ago = time.time() - 86_400
    # Entries whose jobs expired (their hashes are gone), more than a page of them, oldest first.
    client.zadd("adops:jobs:open", {f"JGONE{n:04d}": long_ago + n for n in range(250)})
    client.zadd("adops:jobs:unposted", {f"JGONE{n:04d}": long_ago + n for n in range(250)})
    # A job that ended without leaving the open index (as the transition left them before).
    ended = make_job(rt.store, deadline_in=-3_000, state="waiting")
    rt.store.transition(ended.id, ["waiting"], "cancelled")
    client.zadd("adops:jobs:open", {ended.id: long_ago + 500})
    overdue = make_job(rt.store, deadline_in=-(sweeper.SWEEP_GRACE + 5), state="waiting")
    # Finished long ago, never posted (its publish was lost), behind all the stale entries.
    lost = make_job(rt.store, state="waiting")
    rt.store.transition(lost.id, ["waiting"], "delivered", result={"url": "https://x/y"})
    client.zadd("adops:jobs:unposted", {lost.id: time.time() - sweeper.PUBLISH_GRACE - 5})

    assert sweeper.sweep(rt) == [overdue.id]
    sent = [args[0] for name, args in enqueued(rt) if name == "publish"]
    assert sorted(sent) == sorted([overdue.id, lost.id])
    assert client.zcard("adops:jobs:open") == 0
    # Left in the outbox: the two jobs being published now (and the cancelled one, posted next).
    assert {m.decode() for m in client.zrange("adops:jobs:unposted", 0, -1)} == {overdue.id, lost.id, ended.id}
    # Re-sent jobs are not due again at once: no second chain of publishes.
    sweeper.sweep(rt)
    assert sorted(args[0] for name, args in enqueued(rt) if name == "publish") == sorted(sent)


def test_the_sweeper_does_bounded_work_and_still_gets_through(client: redis.Redis) -> None:
    rt = runtime(client)
    long_ago = time.time() - 86_400
    gone = sweeper.SWEEP_BUDGET + 300
    client.zadd("adops:jobs:open", {f"JGONE{n:05d}": long_ago + n for n in range(gone)})
    overdue = make_job(rt.store, deadline_in=-(sweeper.SWEEP_GRACE + 5), state="waiting")
    assert sweeper.sweep(rt) == []  # a run's budget spent on stale entries, and they are gone
    assert client.zcard("adops:jobs:open") == 301
    assert sweeper.sweep(rt) == [overdue.id]
    assert client.zcard("adops:jobs:open") == 0


def test_an_outcome_still_unposted_after_an_hour_is_counted_not_retried_forever(client: redis.Redis) -> None:
    rt = runtime(client)
    job = make_job(rt.store, state="waiting")
    rt.store.transition(job.id, ["waiting"], "failed", error="x", finished_at=time.time() - sweeper.PUBLISH_PATIENCE - 60)
    client.zadd("adops:jobs:unposted", {job.id: time.time() - sweeper.PUBLISH_GRACE - 5})
    sweeper.sweep(rt)
    assert enqueued(rt) == [] and job.id not in rt.store.outbox
    assert client.get("adops:stats:undeliverable") == b"1"


# -- audit: written once, never lost --------------------------------------------------------


class BreaksOnce(redis.Redis):
    """A connection that drops once, after ``countdown`` more commands went through."""

    countdown: int | None = None

    def execute_command(self, *args, **options):  # type: ignore[no-untyped-def,override]
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown < 0:
                self.countdown = None
                raise redis.ConnectionError("connection reset by peer (test)")
        return super().execute_command(*args, **options)


@pytest.mark.parametrize("after", [0, 1, 2, 3])
def test_a_jobs_audit_entry_survives_a_redis_error_and_is_written_once(redis_server: RedisServer, redis_db: int,
                                                                      after: int) -> None:
    client = BreaksOnce.from_url(redis_server.url(redis_db))
    client.script_flush()  # the first call loads the script: one more command to break on
    rt = runtime(client)
    job = make_job(rt.store)
    client.countdown = after
    for _ in range(2):  # the step until it completes (as its retries run it), then a duplicate of it
        for _attempt in range(3):
            try:
                audit.record_for_job(rt, job, what="set monitoring mode", target="g1", before="off", after="on")
                break
            except redis.ConnectionError:
                continue
    entries = audit.read(client, "adops:")
    assert len(entries) == 1 and entries[0].who == job.user_id and entries[0].after == "on"
    client.flushdb()


def test_a_waiting_export_whose_due_poll_never_ran_is_polled_again(client: redis.Redis) -> None:
    rt = runtime(client)
    now = time.time()
    # Its last poll was long ago and the next one was due 30 s later: that message is gone.
    stalled = make_job(rt.store, state="waiting", export_id="t1", requested_at=now - 900, polls=3, poll_seq=3)
    rt.store.update(stalled.id, updated_at=now - 700)
    fresh = make_job(rt.store, state="waiting", export_id="t2", requested_at=now - 5)
    sweeper.sweep(rt, now=now)
    assert enqueued(rt) == [("export_poll", (stalled.id, 3))], "only the stalled one, with its current seq"
    assert fresh.id not in str(enqueued(rt))

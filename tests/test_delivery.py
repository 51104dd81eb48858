"""Every result reaches the channel: a lost publish, a deleted or uneditable progress message, a
channel that is gone, no route at all, and a progress edit that lands after the outcome."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq import Message
from slack_sdk import WebClient

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import BOT_TOKEN, wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, outcome_text, queued_job
from tests.test_flow_metrics24 import ADMIN, GROUP, listing, toggle
from tests.test_jobs import make_job
from workers import delivery, steps, sweeper
from workers import slack as egress
from workers.boot import boot, load_settings
from workers.lease import lease
from workers.runtime import Runtime
from workers.sweeper import PUBLISH_PATIENCE
from workers.vendors.registry import CATALOGUE

RESULT = {"url": "https://files.example/report.csv", "rows": 12}


def _finish_without_publishing(stack: InProcessStack, job_id: str) -> None:
    """What ``poll`` does when the export is ready, by a worker that dies before it enqueues
    ``publish``."""
    assert stack.rt is not None
    assert stack.rt.store.transition(job_id, ["waiting"], "delivered", result=RESULT, finished_at=time.time())


# -- 1. a finished job whose publish was lost ------------------------------------------------


def test_a_finished_job_whose_publish_was_lost_is_posted_by_the_sweeper(stack: InProcessStack, slack: LocalSlack,
                                                                        vendor: Sandbox) -> None:
    vendor.set_ready_after(600)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("waiting",))
    slack.wait_for(lambda: "waiting for Instal" in outcome_text(slack, job_id))
    # The post is in Slack a moment before its step has finished with it; a job that ended in
    # that moment would be repainted (the fence), which is not what this test is about.
    wait_until(lambda: stack.job(job_id).get("last_render"), what="the progress post recorded")
    _finish_without_publishing(stack, job_id)
    assert stack.rt is not None
    assert job_id in stack.rt.store.outbox, "finishing put it in the outbox, in the same script"
    stack.wait_idle()
    assert "waiting for Instal" in outcome_text(slack, job_id), "nothing posted it"
    # Within the grace period the sweeper leaves it (a publish may be on its way) ...
    sweeper.sweep(stack.rt)
    assert stack.broker_idle()
    # ... after it, it sends publish again, and the result replaces the progress message.
    sweeper.sweep(stack.rt, now=time.time() + sweeper.PUBLISH_GRACE + 1)
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=15)
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome marked posted")
    assert job_id not in stack.rt.store.outbox
    sweeper.sweep(stack.rt, now=time.time() + sweeper.PUBLISH_GRACE + 1)
    stack.wait_idle()
    assert len(job_messages(slack, job_id)) == 1


# -- 2. the progress message can't carry the outcome ---------------------------------------


def test_a_progress_message_a_person_deleted_gets_the_result_as_a_new_message(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox
) -> None:
    vendor.set_ready_after(2)  # seen at the third look (2.8 s): the delete below lands first
    job_id = queued_job(stack.command("export instal yesterday"))
    progress = slack.wait_for(lambda: next(iter(job_messages(slack, job_id)), None))
    WebClient(token=BOT_TOKEN, base_url=slack.api_url).chat_delete(channel=CHANNEL, ts=progress.ts)
    stack.wait_job(job_id, ("delivered",))
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=20)
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome marked posted")
    assert stack.job(job_id)["message_ts"] != progress.ts


@pytest.mark.parametrize("error", ["message_not_found", "cant_update_message", "edit_window_closed", "invalid_blocks"])
def test_an_edit_slack_refuses_falls_through_to_a_new_message(stack: InProcessStack, slack: LocalSlack,
                                                               vendor: Sandbox, error: str) -> None:
    vendor.set_ready_after(600)
    job_id = queued_job(stack.command("export instal yesterday"))
    progress = slack.wait_for(lambda: next(iter(job_messages(slack, job_id)), None))
    slack.fail_next("chat.update", error, count=50)
    _finish_without_publishing(stack, job_id)
    assert stack.rt is not None
    stack.rt.dispatch.publish(job_id)
    # One message for the job, with the result: the "waiting…" we could not edit is deleted (after
    # the result is posted, so for a moment there are two: never none).
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome marked posted")
    shown = slack.wait_for(lambda: (lambda ms: ms if len(ms) == 1 else None)(job_messages(slack, job_id)), timeout=20)
    assert shown[0].ts != progress.ts and "download the file" in str(shown[0].blocks)


def test_a_button_whose_message_was_deleted_answers_the_clicker_privately(stack: InProcessStack, slack: LocalSlack,
                                                                         vendor: Sandbox) -> None:
    _, listed = listing(stack, slack, 'filters name~"EU Mobile – strict"')
    WebClient(token=BOT_TOKEN, base_url=slack.api_url).chat_delete(channel=CHANNEL, ts=listed.ts)
    toggle(stack, listed, GROUP, True, slack=slack)  # clicked on a copy still on someone's screen
    answer = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL)
                                          if m.ephemeral and "turned monitoring on" in str(m.blocks)), None))
    assert answer.user == ADMIN
    stack.wait_idle()
    assert stack.redis.get("adops:stats:undeliverable") is None


def test_a_channel_gone_falls_back_to_the_response_url_then_a_dm(make_stack: Any, slack: LocalSlack,
                                                                 vendor: Sandbox) -> None:
    stack: InProcessStack = make_stack()
    vendor.set_ready_after(600)
    urls = [slack.response_url(CHANNEL, "UALICE") for _ in range(2)]
    first, second = (queued_job(stack.command(f"export instal {when}", response_url=url))
                     for when, url in zip(("yesterday", "last7d"), urls, strict=True))
    for job_id in (first, second):
        slack.wait_for(lambda j=job_id: job_messages(slack, j) and j)
    slack.fail_next("chat.update", "is_archived", count=50)
    slack.restrict_channel(CHANNEL, "is_archived")
    slack.expire_response_url(urls[1])
    for job_id in (first, second):
        _finish_without_publishing(stack, job_id)
        assert stack.rt is not None
        stack.rt.dispatch.publish(job_id)
    by_url = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL)
                                          if first in str(m.blocks) and "download the file" in str(m.blocks)), None))
    assert by_url.via == "response_url"
    dm = slack.wait_for(lambda: next((m for m in slack.messages("DALICE") if second in str(m.blocks)), None))
    assert "download the file" in str(dm.blocks)
    wait_until(lambda: stack.job(second).get("via") == "dm" and stack.job(second).get("outcome_posted") == "1",
               what="the DM recorded")


def test_when_no_route_takes_the_result_it_is_logged_and_counted(stack: InProcessStack, slack: LocalSlack) -> None:
    slack.restrict_channel(CHANNEL, "channel_not_found")
    slack.restrict_channel("DALICE", "cannot_dm_bot")
    job_id = queued_job(stack.command("export instal yesterday"))  # no response_url either
    stack.wait_job(job_id, ("delivered",))
    wait_until(lambda: stack.redis.get("adops:stats:undeliverable") == b"1", what="the undeliverable count")
    assert f"ERROR workers.delivery: job {job_id}: its outcome reached nobody" in stack.logs()
    assert stack.rt is not None and job_id not in stack.rt.store.outbox, "not re-sent every minute forever"
    stack.wait_idle()
    assert stack.redis.get("adops:stats:undeliverable") == b"1", "counted once"


def test_an_outcome_still_unposted_past_its_patience_is_counted_not_posted(client: redis.Redis,
                                                                          slack: LocalSlack) -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url,
                              "INSTAL_TOKEN": "t", "INSTAL_BASE_URL": "http://127.0.0.1:9"})
    rt = boot(settings, CATALOGUE, redis_client=client)
    late, fresh = (make_job(rt.store, state="waiting", channel_id=CHANNEL) for _ in range(2))
    rt.store.transition(late.id, ["waiting"], "delivered", result=RESULT, finished_at=time.time() - 61)
    rt.store.transition(fresh.id, ["waiting"], "delivered", result=RESULT, finished_at=time.time() - 59)
    for job in (late, fresh):
        steps.publish(rt, CATALOGUE, job.id, patience=60)
    assert job_messages(slack, late.id) == [] and late.id not in rt.store.outbox
    assert client.get("adops:stats:undeliverable") == b"1"
    assert len(job_messages(slack, fresh.id)) == 1


# -- 4. a progress edit that lands after the outcome ----------------------------------------


class SlowWay(WebClient):
    """A network that holds the next ``chat.update`` on its way to Slack until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.armed = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        if api_method == "chat.update" and self.armed.is_set():
            self.armed.clear()
            self.holding.set()
            self.release.wait(timeout=30)
        return super().api_call(api_method, **kwargs)


def _publishes(rt: Runtime) -> list[str]:
    """Take every queued or delayed ``publish`` off the (unconsumed) stub queues."""
    found = []
    for queue in rt.broker.queues.values():  # type: ignore[attr-defined]
        for raw in list(queue.queue):
            message = Message.decode(raw)
            if message.actor_name == "publish":
                queue.queue.remove(raw)
                found.append(str(message.args[0]))
    return found


def test_a_progress_edit_that_lands_after_the_outcome_is_painted_over(client: redis.Redis, slack: LocalSlack) -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url,
                              "INSTAL_TOKEN": "t", "INSTAL_BASE_URL": "http://127.0.0.1:9"})
    way = SlowWay(token=BOT_TOKEN, base_url=slack.api_url, timeout=10)
    rt = boot(settings, CATALOGUE, slack_client=way, redis_client=client)
    job = make_job(rt.store, state="waiting", channel_id=CHANNEL)
    delivery.refresh_progress(rt, CATALOGUE, job)
    shown = slack.wait_for(lambda: next(iter(job_messages(slack, job.id)), None))
    rt.store.advance_poll(job.id, 0, "STARTED")  # something new to show

    way.armed.set()
    edit = threading.Thread(target=delivery.refresh_progress, args=(rt, CATALOGUE, rt.store.get(job.id)),
                            kwargs={"force": True})
    edit.start()
    assert way.holding.wait(10), "the progress edit is on its way"
    # It outlives its lock (a paused process), the export finishes and its outcome is posted.
    client.delete(f"adops:lock:msg:{job.id}")
    rt.store.transition(job.id, ["waiting"], "delivered", result=RESULT, finished_at=time.time())
    steps.publish(rt, CATALOGUE, job.id, patience=PUBLISH_PATIENCE)
    assert "download the file" in str(slack.messages(CHANNEL)[0].blocks)
    # Then the progress edit lands, over the outcome.
    way.release.set()
    edit.join(10)

    def message() -> str:
        return str(next(m for m in slack.messages(CHANNEL) if m.ts == shown.ts).blocks)

    assert "(in progress)" in message(), "the late edit landed"
    # Both sides of the fence asked for a repaint; running them shows the outcome again.
    queued = _publishes(rt)
    assert queued and set(queued) == {job.id}
    for job_id in queued:
        steps.publish(rt, CATALOGUE, job_id, patience=PUBLISH_PATIENCE)
    assert "download the file" in message() and "(in progress)" not in message()
    assert _publishes(rt) == []


def test_the_message_lock_is_a_lease_renewed_while_held_and_freed_soon_after_its_holder_dies(
    client: redis.Redis,
) -> None:
    key = "adops:lock:msg:JLEASE000"
    ttls: list[int] = []

    def renewed_three_times() -> bool:
        ttls.append(int(client.pttl(key)))
        return sum(1 for a, b in pairwise(ttls) if b > a) >= 3

    with lease(client, key, wait=1, seconds=0.6):
        # Renewed again and again: held longer than its lease, as through the slowest Slack call.
        wait_until(renewed_three_times, timeout=10, interval=0.02, what="the lease to be renewed")
        assert client.exists(key)
    assert not client.exists(key), "released"
    # A holder that died renews nothing: the next one gets the lock once the lease runs out.
    assert client.lock(key, timeout=0.6).acquire(blocking=False)
    with lease(client, key, wait=5, seconds=0.6):
        assert client.exists(key)
    assert delivery.INFLIGHT_SECONDS > egress.WORST_CALL_SECONDS, "a sent edit is watched while it can land"


# -- a post Slack took whose answer never reached us -------------------------------------------


def test_a_post_whose_answer_was_lost_is_found_and_edited_not_posted_again(stack: InProcessStack,
                                                                           slack: LocalSlack) -> None:
    """A worker killed after Slack took a task's result and before its ts was stored: the retry
    finds that message in the channel's history and edits it, so the channel shows one."""
    assert stack.rt is not None
    rt = stack.rt
    job_id = queued_job(stack.command('filters name~"EU Mobile – strict"'))
    stack.wait_job(job_id, ("delivered",))
    slack.wait_for(lambda: outcome_text(slack, job_id))
    first = job_messages(slack, job_id)[0]
    # Rewind the job to "Slack has the post, we never learned its ts": the marker stays, the ts goes.
    assert rt.redis.exists(f"adops:posting:{job_id}")
    rt.store.update(job_id, via="", message_channel="", message_ts="", outcome_posted=False)
    job = rt.store.get(job_id)
    assert job is not None
    delivery.deliver(rt, job, steps.render.text_message(f"again `{job_id}`"))
    assert [m.ts for m in job_messages(slack, job_id)] == [first.ts], "one message, edited in place"
    assert len([c for c in slack.calls_of("chat.postMessage") if job_id in str(c.params)]) == 1


def test_where_the_history_cannot_be_read_a_lost_post_is_posted_again(stack: InProcessStack, slack: LocalSlack) -> None:
    """The bot may post to a public channel it has not joined, but not read its history there:
    nobody can tell whether the earlier post landed, and a duplicate beats a lost result."""
    assert stack.rt is not None
    rt = stack.rt
    job = make_job(rt.store, channel_id="CNOHISTORY")
    rt.redis.set(f"adops:posting:{job.id}", repr(time.time() - 5))
    slack.fail_next("conversations.history", "not_in_channel")
    assert delivery.deliver(rt, job, steps.render.text_message(f"result `{job.id}`"))
    assert len(slack.messages("CNOHISTORY")) == 1


def test_a_found_post_that_cannot_be_edited_is_replaced_not_doubled(stack: InProcessStack, slack: LocalSlack) -> None:
    assert stack.rt is not None
    rt = stack.rt
    job = make_job(rt.store, channel_id=CHANNEL)
    earlier = rt.slack.post(CHANNEL, "x", steps.render.text_message(f"earlier `{job.id}`").blocks)
    rt.redis.set(f"adops:posting:{job.id}", repr(time.time() - 5))
    slack.fail_next("chat.update", "edit_window_closed")
    assert delivery.deliver(rt, job, steps.render.text_message(f"result `{job.id}`"))
    shown = [m for m in slack.messages(CHANNEL) if job.id in str(m.blocks)]
    assert len(shown) == 1 and shown[0].ts != earlier and "result" in str(shown[0].blocks)


class _Sent(dramatiq.Middleware):
    """Dramatiq's own hook: each message sent, by actor, with its delay (a delayed message moved
    to its queue when due is the same message, counted once)."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[str, int | None]] = {}

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        self.sent.setdefault(message.message_id, (message.actor_name, delay))


def test_the_step_that_finishes_a_job_posts_its_outcome_without_a_message_of_its_own(
        stack: InProcessStack, slack: LocalSlack) -> None:
    assert stack.rt is not None
    sent = _Sent()
    stack.rt.broker.add_middleware(sent)
    job_id = queued_job(stack.command("account", user=ADMIN))
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome posted")
    stack.wait_idle()
    assert [name for name, _ in sent.sent.values()] == ["task_run"], sent.sent
    assert len(job_messages(slack, job_id)) == 1


def test_when_slack_says_wait_the_outcome_is_queued_with_its_delay_and_posted_once(
        stack: InProcessStack, slack: LocalSlack) -> None:
    assert stack.rt is not None
    sent = _Sent()
    stack.rt.broker.add_middleware(sent)
    slack.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=1)
    job_id = queued_job(stack.command("account", user=ADMIN))
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", timeout=20, what="the outcome posted")
    stack.wait_idle()
    assert [s for s in sent.sent.values() if s[0] == "publish"] == [("publish", 1000)], sent.sent
    assert len(job_messages(slack, job_id)) == 1
    assert [c.error for c in slack.calls_of("chat.postMessage") if not c.ok] == ["ratelimited"]

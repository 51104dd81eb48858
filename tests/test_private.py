"""A person's mistakes are private: a refused job (an unknown group name, no such record) is
answered to the person alone, never in the channel, once, and `jobs` says it was refused."""

from __future__ import annotations

from collections.abc import Callable

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, queued_job
from tests.test_flow_metrics24 import ADMIN

REFUSED = "monitor nosuchgroup on"


def private_answers(slack: LocalSlack, job_id: str) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.ephemeral and job_id in str(m.blocks)]


def refused(stack: InProcessStack, slack: LocalSlack, text: str = REFUSED, **kw: str) -> tuple[str, Message]:
    job_id = queued_job(stack.command(text, user=ADMIN, **kw))
    job = stack.wait_job(job_id, ("failed",))
    assert job["private"] == "1"
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the refusal marked posted")
    answer = slack.wait_for(lambda: next(iter(private_answers(slack, job_id)), None))
    assert answer.user == ADMIN and "No filter group is called" in str(answer.blocks)
    assert not job_messages(slack, job_id), "nothing about it in the channel"
    return job_id, answer


def test_a_refusal_goes_through_the_response_url_as_an_ephemeral_message(stack: InProcessStack,
                                                                          slack: LocalSlack) -> None:
    _, answer = refused(stack, slack, response_url=slack.response_url(CHANNEL, ADMIN))
    assert answer.via == "response_url"


def test_without_a_live_response_url_it_is_a_chat_post_ephemeral(stack: InProcessStack, slack: LocalSlack) -> None:
    url = slack.response_url(CHANNEL, ADMIN)
    slack.expire_response_url(url)
    _, answer = refused(stack, slack, response_url=url)
    assert answer.via == "api" and slack.calls_of("chat.postEphemeral")
    # No response_url at all (another name: the same text again within 10 s is one job).
    _, again = refused(stack, slack, "monitor nosuchgroup off")
    assert again.via == "api"


def test_a_progress_message_already_posted_is_taken_away(make_stack: Callable[..., InProcessStack],
                                                         slack: LocalSlack, vendor: Sandbox) -> None:
    stack = make_stack(ADOPS_TASK_PROGRESS_AFTER="0.2", ADOPS_VENDOR_TIMEOUT="10")
    vendor.inject("24metrics", "filter_groups.list", "timeout", delay=1.5)  # slow enough for a progress message
    job_id, _ = refused(stack, slack)
    posted = [c for c in slack.calls_of("chat.postMessage") if job_id in str(c.params)]
    assert posted and "asking 24Metrics" in str(posted[0].params), "a progress message was shown first"
    assert slack.calls_of("chat.delete"), "and deleted"


def test_a_progress_message_that_cannot_be_deleted_becomes_a_neutral_line(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox
) -> None:
    stack = make_stack(ADOPS_TASK_PROGRESS_AFTER="0.2", ADOPS_VENDOR_TIMEOUT="10")
    vendor.inject("24metrics", "filter_groups.list", "timeout", delay=1.5)
    slack.fail_next("chat.delete", "cant_delete_message", count=5)
    job_id = queued_job(stack.command(REFUSED, user=ADMIN))
    stack.wait_job(job_id, ("failed",))
    line = slack.wait_for(lambda: (ms := job_messages(slack, job_id)) and "sent privately" in str(ms[0].blocks)
                          and ms[0])
    assert "nosuchgroup" not in str(line.blocks) and "No filter group" not in str(line.blocks)
    slack.wait_for(lambda: private_answers(slack, job_id))


def test_a_publish_that_runs_again_does_not_answer_twice(stack: InProcessStack, slack: LocalSlack) -> None:
    job_id, _ = refused(stack, slack)
    assert stack.rt is not None
    # A publish that died after the send and before marking it posted, redelivered:
    stack.redis.hset(f"adops:job:{job_id}", "outcome_posted", "0")
    stack.rt.dispatch.publish(job_id)
    stack.rt.dispatch.publish(job_id)
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="marked posted again")
    stack.wait_idle()
    assert len(private_answers(slack, job_id)) == 1


def test_jobs_says_refused_and_only_the_asker_reads_why(stack: InProcessStack, slack: LocalSlack) -> None:
    job_id, _ = refused(stack, slack)
    mine = str(stack.command("jobs", user=ADMIN).json())
    assert job_id in mine and "*refused*" in mine and "No filter group is called" in mine
    everyone = str(stack.command("jobs all", user="UALICE").json())
    assert job_id in everyone and "*refused*" in everyone and "No filter group is called" not in everyone


def test_vendor_failures_still_go_to_the_channel(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.inject("24metrics", "filter_groups.list", "status", status=400)
    job_id = queued_job(stack.command(REFUSED, user=ADMIN))
    job = stack.wait_job(job_id, ("failed",))
    assert job.get("private", "0") == "0"
    slack.wait_for(lambda: (ms := job_messages(slack, job_id)) and "failed" in str(ms[0].blocks))


def test_the_same_refused_request_again_points_to_the_private_answer(stack: InProcessStack, slack: LocalSlack) -> None:
    job_id, _ = refused(stack, slack)
    again = stack.command(REFUSED, user=ADMIN).json()["text"]
    # Within the double-submit window: the same job, whose answer is nowhere in the channel.
    assert job_id in again and "sent to you privately" in again and "in this channel" not in again

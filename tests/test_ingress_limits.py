"""Per-person and per-channel limits on new jobs: checked in the job store's create script, so
a refused request writes nothing; answered in Slack with when to try again."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest
import redis

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, queued_job
from workers.errors import RateLimited
from workers.jobs import Job, JobStore, new_job_id
from workers.limits import RateLimits
from workers.settings import Settings
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION

RETRY = re.compile(r"try again in (\d+) s")


def _job(user: str = "UALICE", channel: str = "CGENERAL", at: float | None = None) -> Job:
    now = time.time() if at is None else at
    return Job(id=new_job_id(), kind="export", vendor="instal", command="export instal yesterday", summary="s",
               user_id=user, channel_id=channel, created_at=now, deadline=now + 60)


# -- the store's script ------------------------------------------------------------------------


def test_the_limit_refuses_the_next_job_and_writes_nothing(client: redis.Redis) -> None:
    store = JobStore(client)
    limits = RateLimits(per_user=3, per_channel=30)
    start = float(int(time.time()))  # whole seconds: the expected waits are exact
    for i in range(3):
        store.create(_job(at=start + i), limits=limits)
    before = sorted(client.keys("*"))
    with pytest.raises(RateLimited) as refused:
        store.create(_job(at=start + 10), dedup_key="adops:recent:x", limits=limits)
    assert refused.value.scope == "user" and refused.value.limit == 3
    # The oldest of the three frees its slot 60 s after it was made: 50 s from the refused one.
    assert refused.value.retry_after == 50
    assert sorted(client.keys("*")) == before, "a refused create writes nothing, not even the double-submit key"
    assert client.zcard("adops:rate:user:UALICE") == 3
    # Another person is not held back by Alice, and Alice is again once the window has moved.
    store.create(_job(user="UBOB", at=start + 10), limits=limits)
    store.create(_job(at=start + 61), limits=limits)


def test_the_channel_limit_counts_everyone_in_it(client: redis.Redis) -> None:
    store = JobStore(client)
    limits = RateLimits(per_user=10, per_channel=2)
    now = float(int(time.time()))
    store.create(_job(user="U1", at=now), limits=limits)
    store.create(_job(user="U2", at=now), limits=limits)
    with pytest.raises(RateLimited) as refused:
        store.create(_job(user="U3", at=now + 1), limits=limits)
    assert refused.value.scope == "channel" and refused.value.retry_after == 59
    store.create(_job(user="U3", channel="COTHER", at=now + 1), limits=limits)


def test_a_double_submit_is_answered_as_such_even_at_the_limit(client: redis.Redis) -> None:
    store = JobStore(client)
    limits = RateLimits(per_user=1, per_channel=10)
    first, _ = store.create(_job(), dedup_key="adops:recent:x", limits=limits)
    _, earlier = store.create(_job(), dedup_key="adops:recent:x", limits=limits)
    assert earlier == first.id


def test_without_limits_nothing_is_counted(client: redis.Redis) -> None:
    store = JobStore(client)
    for _ in range(5):
        store.create(_job())
    assert not client.exists("adops:rate:user:UALICE")


def test_the_defaults_are_ten_a_person_and_thirty_a_channel() -> None:
    fields = Settings.model_fields
    assert fields["adops_rate_per_user"].default == 10 and fields["adops_rate_per_channel"].default == 30


# -- through Slack -----------------------------------------------------------------------------


def _jobs(stack: InProcessStack) -> int:
    return len(stack.redis.keys("adops:job:*"))


def test_the_eleventh_command_a_minute_is_refused_with_when_to_try_again(stack: InProcessStack, vendor: Sandbox) -> None:
    vendor.set_ready_after(600)  # the exports just wait; this is about the ack
    for day in range(1, 11):
        queued_job(stack.command(f"export instal 2026-11-{day:02d}"))
    body = stack.command("export instal 2026-11-11").json()
    assert body["response_type"] == "ephemeral"
    assert "nothing was queued" in body["text"] and "the most allowed here" in body["text"], body["text"]
    assert "ADOPS_" not in body["text"]  # Alice cannot change the limit
    wait = RETRY.search(body["text"])
    assert wait and 1 <= int(wait.group(1)) <= 60
    assert _jobs(stack) == 10
    assert stack.redis.zcard("adops:rate:user:UALICE") == 10
    # Someone else in the channel is not held back by Alice.
    queued_job(stack.command("export instal 2026-11-11", user="UBOB"))
    # Once a minute has passed (the runtime's clock is injectable), Alice may again.
    assert stack.rt is not None
    stack.rt.clock = lambda: time.time() + 61
    queued_job(stack.command("export instal 2026-11-12"))


def test_a_busy_channel_is_refused_for_everyone_in_it(make_stack: Callable[..., InProcessStack], vendor: Sandbox) -> None:
    stack = make_stack(ADOPS_RATE_PER_CHANNEL="3")
    vendor.set_ready_after(600)
    for user in ("U1", "U2", "U3"):
        queued_job(stack.command("export instal yesterday", user=user))
    body = stack.command("export instal yesterday", user="U4").json()
    assert "This channel has started 3 jobs" in body["text"] and "ADOPS_" not in body["text"]
    # An admin, who can, is told which setting it is.
    assert "ADOPS_RATE_PER_CHANNEL" in stack.command("export instal yesterday", user="UADMIN").json()["text"]
    assert RETRY.search(body["text"])
    assert _jobs(stack) == 3
    queued_job(stack.command("export instal yesterday", user="U4", channel="COTHER"))


def test_clicks_that_start_jobs_count_too(make_stack: Callable[..., InProcessStack], slack: LocalSlack) -> None:
    stack = make_stack(ADOPS_RATE_PER_USER="2")
    value = json.dumps({"i": DEFAULT_INTEGRATION, "p": 1})
    queued_job(stack.command("filters"))
    url = slack.response_url(CHANNEL, "UALICE")
    assert stack.click("fg_page_next", value, response_url=url).status_code == 200
    assert _jobs(stack) == 2
    assert stack.click("fg_page_next", value, response_url=url).status_code == 200
    refusal = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if m.ephemeral and "the most allowed here" in m.text), None)
    )
    assert refusal.user == "UALICE" and RETRY.search(refusal.text) and "nothing was queued" in refusal.text
    assert _jobs(stack) == 2
    # And a command after the clicks is refused as well: one count per person.
    assert "the most allowed here" in stack.command("fraud yesterday").json()["text"]
    assert _jobs(stack) == 2

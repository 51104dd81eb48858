"""Cancelling a state-changing task: before its vendor write nothing changes; after it, the
person is told "cancelled too late: already applied", never a plain "cancelled"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import RedisServer, wait_until
from tests.inprocess import InProcessStack
from tests.test_exports_once import _runtime
from tests.test_flow import CHANNEL, job_messages, outcome_text, queued_job
from tests.test_flow_bulk import click, prompt
from tests.test_flow_metrics24 import ADMIN, GROUP
from tests.test_jobs import enqueued, make_job
from workers import steps
from workers.sweeper import PUBLISH_PATIENCE
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION
from workers.vendors.registry import CATALOGUE


@pytest.fixture()
def m24(vendor: Sandbox) -> Iterator[Metrics24Client]:
    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as client:
        yield client


def _cancel_when(stack: InProcessStack, vendor: Sandbox, op: str, job_id: str) -> str:
    """Cancel ``job_id`` (as an admin) while the vendor holds its ``op`` request; the reply."""
    wait_until(lambda: vendor.stats().get(f"24metrics.{op}", 0) >= 1, what=f"the {op} request to be under way")
    return str(stack.command(f"jobs cancel {job_id}", user=ADMIN).json()["text"])


def _apply_job(stack: InProcessStack) -> str:
    """The id of the job the confirm button of a change of several groups started."""
    def found() -> str | None:
        for key in stack.redis.scan_iter("adops:job:*"):
            if stack.redis.type(key) == b"hash" and stack.redis.hget(key, "command") == b"(button) fg_bulk_apply":
                return key.decode().rsplit(":", 1)[-1]
        return None
    return wait_until(found, what="the confirm button's job")


def test_monitor_all_cancelled_before_its_write_changes_nothing(stack: InProcessStack, slack: LocalSlack,
                                                                vendor: Sandbox, m24: Metrics24Client) -> None:
    before = {g.id: g.monitoring_mode for g in m24.list_filter_groups()}
    message = prompt(stack, slack, "monitor all on")
    listed = vendor.stats().get("24metrics.filter_groups.list", 0)
    vendor.inject("24metrics", "filter_groups.list", "timeout", delay=2)  # a slow read before the write
    click(stack, slack, message, "fg_bulk_apply")
    job_id = _apply_job(stack)
    wait_until(lambda: vendor.stats().get("24metrics.filter_groups.list", 0) > listed, what="the listing")
    reply = stack.command(f"jobs cancel {job_id}", user=ADMIN).json()["text"]
    assert reply.startswith(f"Cancelled `{job_id}`") and "already started" not in reply
    stack.wait_job(job_id, ("cancelled",))
    stack.wait_idle()
    assert vendor.stats().get("24metrics.filter_groups.bulk_update", 0) == 0
    assert {g.id: g.monitoring_mode for g in m24.list_filter_groups()} == before
    assert [e[1][b"what"] for e in stack.redis.xrange("adops:audit")] == [b"cancelled job"], "no change audited"


def test_a_cancel_during_the_write_of_several_groups_is_too_late(stack: InProcessStack, slack: LocalSlack,
                                                                 vendor: Sandbox, m24: Metrics24Client) -> None:
    message = prompt(stack, slack, "monitor all on")
    vendor.inject("24metrics", "filter_groups.bulk_update", "timeout", delay=2)  # on its way when the cancel comes
    click(stack, slack, message, "fg_bulk_apply")
    job_id = _apply_job(stack)
    reply = _cancel_when(stack, vendor, "filter_groups.bulk_update", job_id)
    assert "already started changing things" in reply, reply
    shown = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if m.ts == message.ts
                                         and "too late" in str(m.blocks)), None), timeout=20)
    assert "turned monitoring *on*" in str(shown.blocks)
    stack.wait_idle()
    job = stack.job(job_id)
    assert job["state"] == "cancelled" and job["write"] == "applied"
    assert all(g.monitoring_mode for g in m24.list_filter_groups())


def test_a_cancel_during_the_write_is_answered_too_late_already_applied(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    op, expected = "filter_groups.update", "Monitoring *on* for *EU Mobile"
    vendor.inject("24metrics", op, "timeout", delay=2)  # the write is on its way when the cancel comes
    job_id = queued_job(stack.command(f"monitor {GROUP} on", user=ADMIN))
    reply = _cancel_when(stack, vendor, op, job_id)
    assert "already started changing things" in reply, reply
    text = slack.wait_for(lambda: (t := outcome_text(slack, job_id)) and "too late" in t and t, timeout=20)
    assert "Cancelled by <@UADMIN> too late: already applied" in text and expected in text
    stack.wait_idle()
    assert "too late" in outcome_text(slack, job_id), "the final message is the true one"
    assert len(job_messages(slack, job_id)) == 1
    job = stack.job(job_id)
    assert job["state"] == "cancelled" and job["outcome_posted"] == "1"
    assert m24.get_filter_group(GROUP).monitoring_mode is True


class DiesAfterTheWrite(redis.Redis):
    """The connection drops when the task's result is to be stored (its worker dies after the
    vendor write), once."""

    armed = False

    def execute_command(self, *args, **options):  # type: ignore[no-untyped-def,override]
        if self.armed and args[0] == "EVALSHA" and any('"delivered"' in str(a) for a in args):
            self.armed = False
            raise redis.ConnectionError("connection reset by peer (test)")
        return super().execute_command(*args, **options)


def test_a_cancel_after_a_try_died_past_its_write_is_answered_too_late(
    redis_server: RedisServer, redis_db: int, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    client = DiesAfterTheWrite.from_url(redis_server.url(redis_db))
    rt = _runtime(client, slack, vendor)
    job = make_job(rt.store, kind="task", vendor="24metrics", user="UADMIN", channel_id="CGENERAL",
                   params={"op": "fg_set", "integration": DEFAULT_INTEGRATION, "group": GROUP,
                           "field": "monitoring_mode", "to": True})
    client.armed = True
    with pytest.raises(redis.ConnectionError):
        steps.run_task(rt, CATALOGUE, job.id)
    assert m24.get_filter_group(GROUP).monitoring_mode is True, "the write went through"
    assert steps.cancel_for(rt, job.id, "UADMIN").startswith(f"Cancelled `{job.id}`")
    steps.run_task(rt, CATALOGUE, job.id)  # the retry of the step that died
    done = rt.store.get(job.id)
    assert done is not None and done.state == "cancelled" and done.write == "applied" and done.result["changed"]
    assert enqueued(rt).count(("publish", (job.id,))) == 2  # the cancel's, and the amended outcome's
    for _ in range(2):
        steps.publish(rt, CATALOGUE, job.id, patience=PUBLISH_PATIENCE)
    assert "too late: already applied" in outcome_text(slack, job.id)
    assert vendor.stats()["24metrics.filter_groups.update"] == 1
    client.flushdb()

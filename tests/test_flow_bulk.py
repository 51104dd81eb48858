"""Changes of several filter groups, end to end (the real Bolt app, real actors on a real Redis,
the fake Slack, the 24Metrics sandbox): `monitor all on|off` asks first and applies once, the
audit keeps the mix of modes it replaced, and `monitor restore` or the button puts it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, queued_job
from tests.test_flow_metrics24 import ADMIN, GROUP
from tests.test_jobs import make_job
from workers import steps
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION


@pytest.fixture()
def m24(vendor: Sandbox) -> Iterator[Metrics24Client]:
    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as client:
        yield client


def modes(m24: Metrics24Client) -> dict[str, bool | None]:
    return {g.id: g.monitoring_mode for g in m24.list_filter_groups()}


def button(message: Message, action_id: str) -> dict[str, Any]:
    return next(b["accessory"] for b in message.blocks
                if b.get("accessory") and b["accessory"].get("action_id") == action_id)


def shown(slack: LocalSlack, job_id: str, action_id: str) -> Message:
    """The job's message once it carries the ``action_id`` button."""
    return slack.wait_for(lambda: next(
        (m for m in job_messages(slack, job_id) if action_id in json.dumps(m.blocks)), None), timeout=20)


def prompt(stack: InProcessStack, slack: LocalSlack, text: str) -> Message:
    return shown(slack, queued_job(stack.command(text, user=ADMIN)), "fg_bulk_apply")


def click(stack: InProcessStack, slack: LocalSlack, message: Message, action_id: str, *, user: str = ADMIN,
          action_ts: str | None = None) -> None:
    stack.click(action_id, button(message, action_id)["value"], user=user, message_ts=message.ts,
                blocks=message.blocks, response_url=slack.response_url(CHANNEL, user, message_ts=message.ts),
                action_ts=action_ts)


def outcome(stack: InProcessStack, slack: LocalSlack, message: Message, needle: str) -> Message:
    """The prompt's message once the click's job replaced it with ``needle``."""
    done = slack.wait_for(lambda: next(
        (m for m in slack.messages(CHANNEL) if m.ts == message.ts and needle in json.dumps(m.blocks)), None), timeout=20)
    stack.wait_idle()
    return done


def apply(stack: InProcessStack, slack: LocalSlack, text: str) -> Message:
    message = prompt(stack, slack, text)
    click(stack, slack, message, "fg_bulk_apply")
    return outcome(stack, slack, message, "fg_restore")


def audit_ids(stack: InProcessStack) -> list[str]:
    return [raw.decode() for raw, _ in stack.redis.xrange("adops:audit")]


def private(slack: LocalSlack, user: str, needle: str) -> Message:
    return slack.wait_for(lambda: next(
        (m for m in slack.messages(CHANNEL) if m.ephemeral and m.user == user and needle in m.text), None), timeout=20)


def test_monitor_all_asks_first_and_applies_the_listed_groups_once(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    before = modes(m24)
    off = [g for g, on in before.items() if not on]
    message = prompt(stack, slack, "monitor all on")
    apply_button = button(message, "fg_bulk_apply")
    dialog = apply_button["confirm"]
    assert f"{len(off)} groups will stop rejecting traffic: matches are only recorded" in dialog["text"]["text"]
    assert dialog["style"] == "danger" and apply_button["style"] == "danger"
    assert vendor.stats().get("24metrics.filter_groups.bulk_update", 0) == 0, "the prompt only reads"
    assert modes(m24) == before and not audit_ids(stack)
    # Someone without the rights: refused privately, nothing changes.
    click(stack, slack, message, "fg_bulk_apply", user="UALICE")
    private(slack, "UALICE", "Only admins")
    # A double click: two payloads, one change.
    click(stack, slack, message, "fg_bulk_apply", action_ts="400.1")
    click(stack, slack, message, "fg_bulk_apply", action_ts="400.2")
    done = outcome(stack, slack, message, "turned monitoring *on*")
    assert all(modes(m24).values())
    assert vendor.stats().get("24metrics.filter_groups.bulk_update") == -(-len(off) // 100)
    (entry_id,) = audit_ids(stack)
    assert f"`{entry_id}`" in json.dumps(done.blocks) and f"monitor restore {entry_id}" in json.dumps(done.blocks)
    assert f"{len(off)} groups" in json.dumps(done.blocks)


def test_a_prompt_whose_groups_changed_since_says_so_and_changes_nothing(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    message = prompt(stack, slack, "monitor all on")
    m24.update_filter_group(GROUP, {"monitoring_mode": True})  # someone else, meanwhile
    before = modes(m24)
    click(stack, slack, message, "fg_bulk_apply")
    refusal = private(slack, ADMIN, "Since this was asked")
    assert "1 group changed mode" in refusal.text and GROUP in refusal.text and "nothing was changed" in refusal.text
    stack.wait_idle()
    assert vendor.stats().get("24metrics.filter_groups.bulk_update", 0) == 0
    assert modes(m24) == before and not audit_ids(stack)


def test_all_off_then_all_on_then_restore_gives_back_the_original_mix(
    stack: InProcessStack, slack: LocalSlack, m24: Metrics24Client
) -> None:
    original = modes(m24)
    were_off = sum(1 for on in original.values() if not on)
    apply(stack, slack, "monitor all off")
    apply(stack, slack, "monitor all on")
    assert all(modes(m24).values()), "the mix is gone"
    off_entry, _ = audit_ids(stack)
    message = prompt(stack, slack, f"monitor restore {off_entry}")
    dialog = button(message, "fg_bulk_apply")["confirm"]["text"]["text"]
    assert f"{were_off} groups will reject matching traffic again" in dialog
    assert modes(m24) == {g: True for g in original}, "the restore prompt only reads"
    click(stack, slack, message, "fg_bulk_apply")
    outcome(stack, slack, message, "put back the monitoring modes")
    assert modes(m24) == original
    restored = json.loads(stack.redis.xrange("adops:audit")[-1][1][b"detail"])
    assert {row[0]: row[3] for row in restored["groups"]} == original


def test_the_restore_button_on_an_outcome_puts_back_the_modes_it_replaced(
    stack: InProcessStack, slack: LocalSlack, m24: Metrics24Client
) -> None:
    original = modes(m24)
    done = apply(stack, slack, "monitor all off")
    restore = button(done, "fg_restore")
    assert restore["text"]["text"] == "Restore previous modes"
    were_on = sum(1 for on in original.values() if on)
    assert f"{were_on} groups will stop rejecting traffic" in restore["confirm"]["text"]["text"]
    click(stack, slack, done, "fg_restore")
    outcome(stack, slack, done, f"{were_on} back on")
    assert modes(m24) == original
    assert len(audit_ids(stack)) == 2


@pytest.mark.parametrize(
    ("make_id", "expected"),
    [
        (lambda stack: "1735689600000-0", "There is no audit entry `1735689600000-0`"),
        (lambda stack: audit_ids(stack)[0], "is not a change of several filter groups"),
    ],
    ids=["unknown", "not-a-bulk-change"],
)
def test_restore_refuses_an_audit_id_it_cannot_restore(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, make_id: Any, expected: str
) -> None:
    single = queued_job(stack.command(f"monitor {GROUP} on", user=ADMIN))
    stack.wait_job(single, ("delivered",))
    job_id = queued_job(stack.command(f"monitor restore {make_id(stack)}", user=ADMIN))
    job = stack.wait_job(job_id, ("failed",))
    assert expected in job["error"] and "nothing was changed" in job["error"]
    assert vendor.stats().get("24metrics.filter_groups.bulk_update", 0) == 0


def test_restore_of_text_that_is_no_audit_id_is_answered_at_once(stack: InProcessStack) -> None:
    body = stack.command("monitor restore yesterday", user=ADMIN).json()
    assert "is not an audit id" in body["text"] and body["response_type"] == "ephemeral"
    assert not stack.redis.keys("adops:job:*")


def test_the_restore_button_after_the_groups_changed_again_points_to_monitor_restore(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    done = apply(stack, slack, "monitor all off")
    (entry_id,) = audit_ids(stack)
    m24.update_filter_group(GROUP, {"monitoring_mode": True})  # someone else, since
    before = modes(m24)
    click(stack, slack, done, "fg_restore")
    refusal = private(slack, ADMIN, "Since this was asked")
    assert f"/adops monitor restore {entry_id}" in refusal.text and "nothing was changed" in refusal.text
    stack.wait_idle()
    assert modes(m24) == before and audit_ids(stack) == [entry_id]


def test_a_monitor_all_job_queued_before_it_asked_now_only_asks(
    stack: InProcessStack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    assert stack.rt is not None
    before = modes(m24)
    old = make_job(stack.rt.store, kind="task", vendor="24metrics", user=ADMIN, channel_id=CHANNEL,
                   command="monitor all on", params={"op": "fg_bulk", "integration": DEFAULT_INTEGRATION,
                                                     "group": "all", "field": "monitoring_mode", "to": True})
    steps.run_task(stack.rt, stack.vendors, old.id)
    done = stack.rt.store.get(old.id)
    assert done is not None and done.state == "delivered"
    assert len(done.result["items"]) == sum(1 for on in before.values() if not on)
    assert vendor.stats().get("24metrics.filter_groups.bulk_update", 0) == 0 and modes(m24) == before

"""The `/adops filters` page and a person's mistakes about group names, end to end (real Bolt app,
real actors on a real Redis, fake Slack, 24Metrics sandbox): buttons say the action, only admins
get them, and a name that fits no group or several fails the job with the candidates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.slack import LocalSlack, Message
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, queued_job
from tests.test_flow_metrics24 import ADMIN, GROUP, listing
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, group_id


def elements(message: Message) -> list[dict[str, Any]]:
    found = [b["accessory"] for b in message.blocks if b.get("accessory")]
    return found + [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_an_admins_page_says_state_as_state_and_buttons_as_actions(stack: InProcessStack, slack: LocalSlack) -> None:
    _, message = listing(stack, slack)
    switches = [e for e in elements(message) if e["action_id"] == "fg_toggle"]
    assert len(switches) == 40
    for block in (b for b in message.blocks if b.get("accessory", {}).get("action_id") == "fg_toggle"):
        on = "Monitoring: *on* — matches are recorded, not rejected" in block["text"]["text"]
        assert on or "Monitoring: *off* — matches are rejected" in block["text"]["text"]
        button = block["accessory"]
        assert button["text"]["text"] == ("Turn monitoring off" if on else "Turn monitoring on")
        assert "style" not in button, "40 groups are not 40 red buttons"
        # Danger only where the click stops protection: turning monitoring on.
        assert button["confirm"]["style"] == ("primary" if on else "danger")
        assert ("stop rejecting traffic" in button["confirm"]["text"]["text"]) is not on


def test_a_non_admins_page_has_no_switches_but_pages_and_keeps_so(stack: InProcessStack, slack: LocalSlack) -> None:
    _, message = listing(stack, slack, user="UALICE")
    assert not [e for e in elements(message) if e["action_id"] == "fg_toggle"]
    assert "only admins can switch modes" in json.dumps(message.blocks)
    nxt = next(e for e in elements(message) if e["action_id"] == "fg_page_next")
    stack.click("fg_page_next", nxt["value"], user=ADMIN, message_ts=message.ts, blocks=message.blocks)
    page2 = slack.wait_for(lambda: next(
        (m for m in slack.messages(CHANNEL) if m.ts == message.ts and "Page 2 of 4" in str(m.blocks)), None))
    assert not [e for e in elements(page2) if e["action_id"] == "fg_toggle"], "paged by an admin, still her page"
    assert "only admins can switch modes" in json.dumps(page2.blocks)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('monitor "EU Mobile strict" on', ["No filter group is called", f"EU Mobile – strict (`{GROUP}`)"]),
        ("monitor EU on", ["“EU” matches", "and 9 more", "nothing was changed"]),
        ('filters active "Nowhere at all" off', ["No filter group is called", "nothing was changed"]),
        ('filters delete "EU Mobile strict legacy"', [f"EU Mobile – strict (legacy) (`{group_id(DEFAULT_INTEGRATION, 2)}`)"]),
    ],
)
def test_a_name_that_fits_no_group_or_several_is_refused_with_the_candidates(
    stack: InProcessStack, command: str, expected: list[str]
) -> None:
    job = stack.wait_job(queued_job(stack.command(command, user=ADMIN)), ("failed", "delivered"))
    assert job["state"] == "failed", job
    for needle in expected:
        assert needle in job["error"], job["error"]
    assert job["error"].count("(`") <= 5, "at most five candidates"


def test_an_empty_name_is_answered_at_once(stack: InProcessStack) -> None:
    body = stack.command('monitor "" on', user=ADMIN).json()
    assert "Which filter group?" in body["text"] and body["response_type"] == "ephemeral"
    assert not stack.redis.keys("adops:job:*")

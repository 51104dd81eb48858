"""24Metrics end to end: signed commands and button payloads into the real web server, a real
Dramatiq worker on a private Redis, the fake Slack and the stateful 24Metrics sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, queued_job
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, day_rows, group_id

pytestmark = pytest.mark.heavy(25)  # seconds, about: many end-to-end jobs

ADMIN = "UADMIN"
GROUP = group_id(DEFAULT_INTEGRATION, 1)  # "EU Mobile – strict", monitoring off when seeded


@pytest.fixture()
def m24(vendor: Sandbox) -> Iterator[Metrics24Client]:
    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as client:
        yield client


def final(slack: LocalSlack, job_id: str, needle: str, timeout: float = 20) -> str:
    """The job's one message once it shows ``needle``; a second message for the job fails."""

    def shown() -> str | None:
        messages = job_messages(slack, job_id)
        assert len(messages) <= 1, [m.text for m in messages]
        text = str(messages[0].blocks) if messages else ""
        return text if needle in text else None

    return slack.wait_for(shown, timeout=timeout)


def listing(stack: InProcessStack, slack: LocalSlack, text: str = "filters", *, user: str = ADMIN) -> tuple[str, Message]:
    job_id = queued_job(stack.command(text, user=user))
    stack.wait_job(job_id, ("delivered",))
    message = slack.wait_for(
        lambda: next((m for m in job_messages(slack, job_id) if "in monitoring mode" in str(m.blocks)), None)
    )
    return job_id, message


def toggle(stack: InProcessStack, message: Message, group: str, to: bool, *, user: str = ADMIN, action_ts: str | None = None,
           slack: LocalSlack | None = None):  # type: ignore[no-untyped-def]
    value = json.dumps({"g": group, "i": DEFAULT_INTEGRATION, "f": "monitoring_mode", "to": to})
    url = slack.response_url(CHANNEL, user, message_ts=message.ts) if slack else ""
    return stack.click("fg_toggle", value, user=user, message_ts=message.ts, blocks=message.blocks,
                       response_url=url, action_ts=action_ts)


def test_filters_lists_every_page_of_groups_and_pages_through_them(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    _, message = listing(stack, slack)
    text = str(message.blocks)
    assert "130 groups" in text and "Page 1 of 4" in text
    assert len([b for b in message.blocks if str(b.get("block_id", "")).startswith("fg:66")]) == 40
    assert vendor.stats()["24metrics.filter_groups.list"] >= 2, "more than one vendor page was read"
    # Next › re-reads the groups and edits the same message to page 2.
    nxt = next(e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "fg_page_next")
    stack.click("fg_page_next", nxt["value"], message_ts=message.ts, blocks=message.blocks)
    page2 = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if m.ts == message.ts and "Page 2 of 4" in str(m.blocks)), None))
    assert group_id(DEFAULT_INTEGRATION, 1) not in str(page2.blocks)


def test_toggle_button_by_an_admin_applies_once_updates_the_message_and_audits(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    _, message = listing(stack, slack, 'filters name~"EU Mobile – strict"')
    assert m24.get_filter_group(GROUP).monitoring_mode is False
    # A double click: two payloads, two action_ts, one intent.
    toggle(stack, message, GROUP, True, action_ts="200.1")
    toggle(stack, message, GROUP, True, action_ts="200.2")
    updated = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if m.ts == message.ts and "turned monitoring on" in str(m.blocks)), None)
    )
    block = next(b for b in updated.blocks if b.get("block_id") == f"fg:{GROUP}")
    assert "Monitoring: *on*" in block["text"]["text"] and block["accessory"]["text"]["text"] == "Turn monitoring off"
    assert "1 in monitoring mode" in str(updated.blocks[0]) or "in monitoring mode" in str(updated.blocks[0])
    stack.wait_idle()
    assert m24.get_filter_group(GROUP).monitoring_mode is True
    assert vendor.stats().get("24metrics.filter_groups.update") == 1
    entries = stack.redis.xrange("adops:audit")
    assert len(entries) == 1
    entry = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert entry["who"] == ADMIN and entry["before"] == "off" and entry["after"] == "on" and GROUP in entry["target"]


def test_toggle_button_without_rights_reaches_no_vendor(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client) -> None:
    _, message = listing(stack, slack, 'filters name~"EU Mobile – strict"')
    toggle(stack, message, GROUP, True, user="UALICE", slack=slack)
    refusal = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if m.ephemeral and "Only admins" in m.text), None))
    assert refusal.user == "UALICE"
    stack.wait_idle()
    assert vendor.stats().get("24metrics.filter_groups.update", 0) == 0
    assert m24.get_filter_group(GROUP).monitoring_mode is False
    assert not stack.redis.xrange("adops:audit")


def test_state_changing_commands_are_refused_to_non_admins_at_once(stack: InProcessStack, vendor: Sandbox) -> None:
    for text in ("monitor all on", f"monitor {GROUP} off", f"filters active {GROUP} off", f"filters delete {GROUP}",
                 "export 24metrics delete abc", "monitor restore 1735689600000-0"):
        body = stack.command(text, user="UALICE").json()
        assert "Only admins" in body["text"] and "nothing was changed" in body["text"], text
    assert not stack.redis.keys("adops:job:*")
    assert not any(k.startswith("24metrics") for k in vendor.stats())


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('monitor "EU Mobile – strict" on', "Monitoring *on* for *EU Mobile – strict*"),
        (f"monitor {GROUP} on", "Monitoring *on* for *EU Mobile – strict*"),
        (f"filters active {GROUP} off", "Active *off* for *EU Mobile – strict*"),
    ],
)
def test_monitor_from_the_keyboard_by_id_or_name(stack: InProcessStack, slack: LocalSlack, command: str, expected: str) -> None:
    job_id = queued_job(stack.command(command, user=ADMIN))
    assert expected in final(slack, job_id, expected)


def private(slack: LocalSlack, job_id: str, needle: str) -> str:
    """The answer only the person who asked sees, once it shows ``needle``; nothing in the channel."""
    answer = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL)
                                          if m.ephemeral and job_id in str(m.blocks) and needle in str(m.blocks)), None))
    assert not job_messages(slack, job_id), "a person's mistake is not shown in the channel"
    return str(answer.blocks)


@pytest.mark.parametrize(("command", "expected"), [("monitor EU on", "“EU” matches"),
                                                   ("monitor nosuchgroup on", "No filter group is called"),
                                                   ("export 24metrics delete 67e000000000000000000099",
                                                    "24Metrics has no export")])
def test_an_unknown_or_ambiguous_name_is_answered_privately(stack: InProcessStack, slack: LocalSlack, command: str,
                                                            expected: str) -> None:
    job_id = queued_job(stack.command(command, user=ADMIN))
    assert expected in private(slack, job_id, expected)


def test_delete_asks_with_a_danger_button_then_deletes_once(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    job_id = queued_job(stack.command(f"filters delete {GROUP}", user=ADMIN))
    final(slack, job_id, "This cannot be undone")
    prompt = job_messages(slack, job_id)[0]
    button = next(b["accessory"] for b in prompt.blocks if b.get("accessory"))
    assert button["style"] == "danger" and button["confirm"]["style"] == "danger"
    assert vendor.stats().get("24metrics.filter_groups.delete", 0) == 0, "nothing deleted before the confirm"
    stack.click("fg_delete", button["value"], user="UALICE", message_ts=prompt.ts, blocks=prompt.blocks,
                response_url=slack.response_url(CHANNEL, "UALICE"))
    stack.click("fg_delete", button["value"], user=ADMIN, message_ts=prompt.ts, blocks=prompt.blocks, action_ts="300.1")
    stack.click("fg_delete", button["value"], user=ADMIN, message_ts=prompt.ts, blocks=prompt.blocks, action_ts="300.2")
    slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if m.ts == prompt.ts and "deleted by <@UADMIN>" in str(m.blocks)), None))
    stack.wait_idle()
    shown = next(m for m in slack.messages(CHANNEL) if m.ts == prompt.ts)
    assert "deleted by <@UADMIN>" in str(shown.blocks), "the second click's render says who deleted it too"
    assert vendor.stats().get("24metrics.filter_groups.delete") == 1
    assert GROUP not in {g.id for g in m24.list_filter_groups()}
    assert len(stack.redis.xrange("adops:audit")) == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (None, "download the file"),
        ({"op": "export.get", "kind": "failed"}, "could not build the export"),
        ({"op": "export.get", "kind": "canceled"}, "could not build the export"),
    ],
    ids=["completed", "error", "canceled"],
)
def test_download_center_export(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, fault: dict[str, str] | None, expected: str) -> None:
    if fault:
        vendor.set_ready_after(30)  # the vendor gives up while building, not after
        vendor.inject("24metrics", **fault)  # type: ignore[arg-type]
    job_id = queued_job(stack.command("export 24metrics clicks yesterday"))
    text = final(slack, job_id, expected, timeout=30)
    if fault is None:
        assert "rows" in text and "24metrics" in text.lower()
        assert vendor.stats().get("24metrics.export.create") == 1
        assert vendor.stats().get("24metrics.export.url") == 1
    else:
        assert vendor.stats().get("24metrics.export.url", 0) == 0


def test_export_over_the_vendor_limit_says_the_range_was_cut(stack: InProcessStack, slack: LocalSlack) -> None:
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=200)
    queued = stack.command(f"export 24metrics conversions {start}..{end}")
    # Said at once, in the answer: the range is cut to the Download Center's window before it is sent.
    assert "exports at most 90 days at a time" in queued.json()["text"]
    job_id = queued_job(queued)
    text = final(slack, job_id, "download the file", timeout=30)
    assert f"{end - timedelta(days=89)}..{end}" in text


def test_exports_can_be_listed_and_deleted(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    job_id = queued_job(stack.command("export 24metrics impressions yesterday"))
    final(slack, job_id, "download the file", timeout=30)
    listed = queued_job(stack.command("export 24metrics list"))
    text = final(slack, listed, "Recent 24Metrics exports")
    export_id = re.search(r"`([0-9a-f]{8,})` impressions", text)
    assert export_id, text
    deleted = queued_job(stack.command(f"export 24metrics delete {export_id.group(1)}", user=ADMIN))
    final(slack, deleted, "deleted by <@UADMIN>")
    assert vendor.stats().get("24metrics.export.delete") == 1


def test_fraud_summary_reads_many_cursor_pages(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    job_id = queued_job(stack.command("fraud last30d"))
    text = final(slack, job_id, "checked", timeout=60)
    assert re.search(r"\*Clicks\*: [\d,]+ checked, \*[\d,]+ rejected\*", text)
    assert "Proxy/VPN" in text and "Publisher" in text
    assert "Partial" not in text
    assert vendor.stats()["24metrics.report.click"] > 10


def test_fraud_summary_over_budget_says_it_is_partial(stack: InProcessStack, slack: LocalSlack) -> None:
    job_id = queued_job(stack.command("fraud last-month"))
    stack.wait_job(job_id, ("delivered",), timeout=90)
    # Month sizes vary; a month of the sandbox's clicks is near the budget, 92 days is over it.
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=91)
    long_job = queued_job(stack.command(f"fraud {start}..{end}"))
    text = final(slack, long_job, "checked", timeout=120)
    assert "Partial: the newest 10,000" in text
    # 92 days are more than the Download Center exports at once (90 by default): the hint never
    # suggests a command that would itself be cut, it splits the range.
    assert "the Download Center exports at most 90 days at a time" in text
    parts = re.findall(r"/adops export 24metrics clicks (\d{4}-\d\d-\d\d)(?:\.\.(\d{4}-\d\d-\d\d))?`", text)
    spans = [(date.fromisoformat(a), date.fromisoformat(b or a)) for a, b in parts]
    assert spans[0][0] == start and spans[-1][1] == end and len(spans) == 2, parts
    assert all((b - a).days < 90 for a, b in spans) and spans[1][0] == spans[0][1] + timedelta(days=1)


def test_lookup_click_found_and_not_found(stack: InProcessStack, slack: LocalSlack) -> None:
    day = date.today() - timedelta(days=1)
    row = next(r for r in day_rows(7, DEFAULT_INTEGRATION, "click", day) if r.get("offer") and r.get("publisher"))
    tx_id = row.get("tx_id") or row["real_tx_id"]
    job_id = queued_job(stack.command(f"lookup click {tx_id} offer={row['offer']} publisher={row['publisher']} date={day}"))
    text = final(slack, job_id, "publisher")
    assert tx_id in text and ("Approved" in text or "Rejected" in text)
    missing = queued_job(stack.command(f"lookup click nope123 offer={row['offer']} publisher={row['publisher']} date={day}"))
    assert "has no click `nope123`" in private(slack, missing, "has no click")


def test_lookup_needs_offer_publisher_and_date(stack: InProcessStack) -> None:
    body = stack.command("lookup click abc offer=1").json()
    assert "Missing `publisher=&lt;id&gt;`, `date=&lt;day&gt;`" in body["text"] and not stack.redis.keys("adops:job:*")


@pytest.mark.parametrize(
    ("fault", "expected", "state"),
    [
        ({"kind": "status", "status": 400}, "24Metrics", "failed"),
        ({"kind": "status", "status": 401}, "an admin needs to check it", "failed"),
        ({"kind": "status", "status": 402}, "24Metrics", "failed"),
        ({"kind": "status", "status": 403}, "24Metrics", "failed"),
        ({"kind": "status", "status": 404}, "24Metrics", "failed"),
        ({"kind": "status", "status": 429, "retry_after": 1}, "All groups shown", "delivered"),
        ({"kind": "status", "status": 503, "count": 2}, "All groups shown", "delivered"),
        ({"kind": "malformed"}, "All groups shown", "delivered"),
        ({"kind": "timeout", "delay": 5}, "All groups shown", "delivered"),
    ],
    ids=["400", "401", "402", "403", "404", "429", "503", "malformed", "timeout"],
)
def test_every_vendor_error_class(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, fault: dict[str, object],
                                  expected: str, state: str) -> None:
    vendor.inject("24metrics", "filter_groups.list", **fault)  # type: ignore[arg-type]
    job_id = queued_job(stack.command('filters name~"EU Mobile – strict"'))
    job = stack.wait_job(job_id, (state,), timeout=45)
    text = final(slack, job_id, expected, timeout=20)
    if state == "failed":
        assert expected in job["error"]
    assert vendor.TOKEN not in text and vendor.TOKEN not in stack.logs()


def _switch(message: Message, group: str) -> dict[str, str]:
    """The switch button Slack shows beside ``group`` on ``message``."""
    block = next(b for b in message.blocks if b.get("block_id") == f"fg:{group}")
    return block["accessory"]


def test_quick_clicks_on_one_message_leave_it_true_and_say_who_changed_what(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, m24: Metrics24Client
) -> None:
    _, message = listing(stack, slack)
    first, second = group_id(DEFAULT_INTEGRATION, 1), group_id(DEFAULT_INTEGRATION, 2)
    a, b = _switch(message, first), _switch(message, second)
    # Two admins click two groups of the same message within a moment, as Slack sends it.
    stack.click(a["action_id"], a["value"], user=ADMIN, message_ts=message.ts)
    stack.click(b["action_id"], b["value"], user="UADMIN2", message_ts=message.ts)
    stack.wait_idle()
    shown = next(m for m in slack.messages(CHANNEL) if m.ts == message.ts)
    text = str(shown.blocks)
    for group in (first, second):
        now_on = m24.get_filter_group(group).monitoring_mode
        block = next(x for x in shown.blocks if x.get("block_id") == f"fg:{group}")
        assert ("Monitoring: *on*" in block["text"]["text"]) is bool(now_on), "the message shows the vendor's state"
    monitoring = sum(1 for g in m24.list_filter_groups() if g.monitoring_mode)
    assert f"{monitoring} in monitoring mode" in str(shown.blocks[0]), "the header counts what 24Metrics has now"
    names = {g.id: g.name for g in m24.list_filter_groups()}
    assert f"<@{ADMIN}> turned monitoring" in text and names[first] in text
    assert "<@UADMIN2> turned monitoring" in text and names[second] in text
    assert "Page 1 of 4" in text, "the same page of the same listing"

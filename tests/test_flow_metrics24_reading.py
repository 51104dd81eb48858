"""24Metrics as a person reads it, end to end on the in-process stack: the export list's fresh
links, the lookup card, and the fraud summary's tables and hints."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, queued_job
from tests.test_flow_metrics24 import ADMIN, final
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, day_rows
from workers.vendors.metrics24.sandbox.exports import HISTORY_ID

FRESH = "m24_fresh_link"


def _exported(stack: InProcessStack, slack: LocalSlack, what: str = "impressions") -> None:
    final(slack, queued_job(stack.command(f"export 24metrics {what} yesterday")), "download the file", timeout=30)


def _listed(stack: InProcessStack, slack: LocalSlack) -> Message:
    job_id = queued_job(stack.command("export 24metrics list"))
    stack.wait_job(job_id, ("delivered",))
    return slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if job_id in str(m.blocks) and "Recent 24Metrics" in str(m.blocks)), None)
    )


def _fresh_buttons(message: Message) -> list[dict[str, object]]:
    """The buttons of the exports a test made (the sandbox starts with one finished export)."""
    return [b["accessory"] for b in message.blocks if b.get("accessory", {}).get("action_id") == FRESH
            and json.loads(str(b["accessory"]["value"]))["x"] != HISTORY_ID]


def _click(stack: InProcessStack, slack: LocalSlack, message: Message, button: dict[str, object], user: str) -> None:
    url = slack.response_url(CHANNEL, user, message_ts=message.ts)
    stack.click(FRESH, str(button["value"]), user=user, message_ts=message.ts, blocks=message.blocks, response_url=url)


def test_a_completed_export_gets_a_fresh_link_from_its_button(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox
) -> None:
    _exported(stack, slack)
    message = _listed(stack, slack)
    assert "in_progress" not in str(message.blocks).lower() and "*ready*" in str(message.blocks)
    [button] = _fresh_buttons(message)
    assert button["text"]["text"] == "Get a fresh link" and "confirm" not in button  # type: ignore[index]
    export_id = json.loads(str(button["value"]))["x"]
    links_before = vendor.stats().get("24metrics.export.url", 0)
    _click(stack, slack, message, button, "UBOB")
    # The list is edited in place: the link beside its export, naming who asked for it.
    updated = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if m.ts == message.ts and "Fresh link" in str(m.blocks)), None)
    )
    line = next(b["text"]["text"] for b in updated.blocks if export_id in b.get("text", {}).get("text", ""))
    assert "Fresh link for <@UBOB>" in line and "|download the file>" in line and "link expires" in line
    assert re.search(r"<https?://[^|>]+/files/24metrics/[^|>]+X-Goog-Signature=", line), line
    assert vendor.stats()["24metrics.export.url"] == links_before + 1
    assert _fresh_buttons(updated), "the button stays for the next person"


def test_a_deleted_export_answers_its_button_privately_and_leaves_the_list(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox
) -> None:
    _exported(stack, slack)
    message = _listed(stack, slack)
    [button] = _fresh_buttons(message)
    export_id = json.loads(str(button["value"]))["x"]
    final(slack, queued_job(stack.command(f"export 24metrics delete {export_id}", user=ADMIN)), "deleted by")
    _click(stack, slack, message, button, "UBOB")
    notice = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if m.ephemeral and "no longer there" in m.text), None)
    )
    assert notice.user == "UBOB" and f"export `{export_id}`" in str(notice.blocks) + notice.text
    assert "deleted, or its file has expired" in notice.text
    shown = next(m for m in slack.messages(CHANNEL) if m.ts == message.ts)
    assert shown.blocks == message.blocks, "the list itself is left as it was"


def test_an_export_still_being_built_has_no_button_and_its_state_in_words(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox
) -> None:
    vendor.set_ready_after(600)
    stack.wait_job(queued_job(stack.command("export 24metrics clicks yesterday")), ("waiting",))
    message = _listed(stack, slack)
    assert re.search(r"\*(waiting to start|in progress)\*", str(message.blocks)), message.blocks
    assert not _fresh_buttons(message)
    assert "IN_PROGRESS" not in str(message.blocks) and "PENDING" not in str(message.blocks)


def test_the_lookup_card_leads_with_the_verdict_and_labels_where_it_came_from(
    stack: InProcessStack, slack: LocalSlack
) -> None:
    day = date.today() - timedelta(days=1)
    rows = day_rows(7, DEFAULT_INTEGRATION, "conversion", day)
    row = next(r for r in rows if r.get("rejected") and r.get("publisher_name"))
    command = f"lookup conversion {row['hash']} offer={row['offer']} publisher={row['publisher']} date={day}"
    job_id = queued_job(stack.command(command))
    stack.wait_job(job_id, ("delivered",))
    # Delivered is recorded before the publish step posts it.
    message = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if job_id in str(m.blocks)), None))
    head = message.blocks[0]["text"]["text"]
    assert head.splitlines()[1].startswith(":no_entry: *Rejected*: " + row["rejected_simple_reason"]), head
    labelled = [f["text"] for f in message.blocks[1]["fields"]]
    assert labelled[:2] == [f"*Offer*\n{row['offer_id_name']}", f"*Publisher*\n{row['publisher']} · {row['publisher_name']}"]
    assert any(t.startswith("*Country*\n" + row["country"]) for t in labelled)
    assert any(t.startswith("*Device*\n") for t in labelled)
    assert "<!date^" in head, "the time as Slack shows dates, in the reader's zone"
    assert "=" not in str(message.blocks[2:-1]), "no key=value line (the last line is the command)"


def test_a_lookup_with_no_record_is_refused_saying_what_was_searched(stack: InProcessStack) -> None:
    day = date.today() - timedelta(days=1)
    job_id = queued_job(stack.command(f"lookup click nope123 offer=311 publisher=1042 date={day}"))
    job = stack.wait_job(job_id, ("failed",))
    assert job["error"].startswith(f"24Metrics has no click `nope123` for offer `311`, publisher `1042` on {day}")
    assert "Check the click's tx_id, the day" in job["error"]


def test_the_fraud_tables_name_publishers_in_both_tables(stack: InProcessStack, slack: LocalSlack) -> None:
    job_id = queued_job(stack.command("fraud last7d"))
    text = final(slack, job_id, "checked", timeout=60)  # the blocks as text: line breaks are \\n
    assert "Reason" in text and "Share of rejected" in text and "Share of theirs" in text
    clicks, conversions = text.split("*Conversions*")
    for part in (clicks, conversions):
        table = part.split("Publisher", 1)[1]
        assert re.search(r"\\n[A-Z][A-Za-z ]+ \(\d+\) +\d", table), table  # "Install Rush (1190)   32 …"

"""24Metrics rendering, table by table (pure): the lookup card, the fraud tables and their export
hint, the export list's states and buttons."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from workers.vendors.metrics24 import download_center, fraud, lookups

# -- the fraud summary's export hint ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "max_days", "parts"),
    [
        ("2026-01-01", "2026-01-01", 90, ["2026-01-01"]),
        ("2026-01-01", "2026-03-31", 90, ["2026-01-01..2026-03-31"]),
        ("2026-01-01", "2026-04-02", 90, ["2026-01-01..2026-03-31", "2026-04-01..2026-04-02"]),
        ("2026-01-01", "2026-01-03", 1, ["2026-01-01", "2026-01-02", "2026-01-03"]),
        ("2026-01-01", "2026-01-10", 4, ["2026-01-01..2026-01-04", "2026-01-05..2026-01-08", "2026-01-09..2026-01-10"]),
    ],
)
def test_export_parts_never_pass_the_window(start: str, end: str, max_days: int, parts: list[str]) -> None:
    assert fraud.export_parts(start, end, max_days) == parts


@pytest.mark.parametrize(
    ("start", "end", "max_days", "says", "never"),
    [
        ("2026-01-01", "2026-01-31", 90, "For all of them: `/adops export 24metrics clicks 2026-01-01..2026-01-31`",
         "at a time"),
        ("2026-01-01", "2026-04-02", 90,
         "For all of them (the Download Center exports at most 90 days at a time): "
         "`/adops export 24metrics clicks 2026-01-01..2026-03-31`, then "
         "`/adops export 24metrics clicks 2026-04-01..2026-04-02`", "2026-01-01..2026-04-02"),
        ("2026-01-01", "2026-01-31", 7,
         "For all of them, the Download Center exports at most 7 days at a time: export the range in 5 parts, "
         "starting with `/adops export 24metrics clicks 2026-01-01..2026-01-07`", "2026-01-01..2026-01-31"),
    ],
)
def test_export_hint(start: str, end: str, max_days: int, says: str, never: str) -> None:
    hint = fraud.export_hint("clicks", start, end, max_days)
    assert hint == says
    assert never not in hint


def _table_summary(publishers: list[dict[str, Any]], complete: bool = True) -> dict[str, Any]:
    return {
        "rows": 100, "rejected": 10, "reasons": [["Proxy/VPN", 10]], "other_reasons": 0, "publishers": publishers,
        "publisher_count": len(publishers), "approximate": False, "complete": complete, "pages": 1, "total": 5000,
    }


def test_the_click_table_is_labelled_with_names_the_conversions_gave() -> None:
    clicks = fraud.fold(fraud.fresh(), [{"publisher": "1190", "status": "Rejected", "rejected_simple_reason": "Bot"}],
                        next_cursor=None, total=None)
    conversions = fraud.fold(fraud.fresh(), [{"publisher": "1190", "publisher_name": "Install Rush", "rejected": 1}],
                             next_cursor=None, total=None)
    names = fraud.names_of(clicks, conversions)
    assert names == {"1190": "Install Rush"}
    assert fraud.summary(clicks, names)["publishers"][0]["name"] == "Install Rush"
    assert fraud.summary(clicks)["publishers"][0]["name"] is None


@pytest.mark.parametrize(
    ("publisher", "label"),
    [({"id": "1190", "name": "Install Rush"}, "Install Rush (1190)"), ({"id": "1042", "name": None}, "1042")],
)
def test_publisher_label(publisher: dict[str, Any], label: str) -> None:
    assert fraud.publisher_label(publisher) == label


def test_the_fraud_message_has_plain_column_names_and_a_cut_free_hint() -> None:
    result = {
        "start_date": "2026-01-01", "end_date": "2026-04-02", "export_max_days": 90,
        "clicks": _table_summary([{"id": "1190", "name": "Install Rush", "rejected": 10, "seen": 40}], complete=False),
        "conversions": _table_summary([{"id": "1042", "name": None, "rejected": 10, "seen": 20}]),
    }
    text = json.dumps(fraud.fraud_message(result).blocks, ensure_ascii=False)
    for column in ("Reason", "Rejected", "Share of rejected", "Publisher", "Share of theirs"):
        assert column in text
    assert "Install Rush (1190)" in text and "2026-01-01 to 2026-04-02" in text
    assert "clicks 2026-01-01..2026-04-02" not in text and "clicks 2026-01-01..2026-03-31" in text
    assert "of theirs\\n" not in text.lower().replace("share of theirs", "")


# -- the lookup card ------------------------------------------------------------------------------

CLICK = {
    "tx_id": "c1", "request_time": "2026-01-05T00:59:08Z", "offer": "312", "publisher": "1077", "country": "JP",
    "city": "Tokyo", "click_ip": "218.84.244.129", "isp": "Amazon.com", "device_type": "mobile", "os_name": "Android",
    "os_version": "13", "browser_name": "Chrome", "status": "Rejected", "blocked": 1,
    "rejected_simple_reason": "Click spamming", "rejected_advanced_reason": "More than 20 clicks per device in 1 hour",
    "filter_group_id": "66a5", "sub_id": "sub17",
}


@pytest.mark.parametrize(
    ("row", "verdict", "fields"),
    [
        (CLICK, ":no_entry: *Rejected*: Click spamming (More than 20 clicks per device in 1 hour)",
         ["*Offer*\n312", "*Publisher*\n1077", "*Country*\nJP, Tokyo", "*Device*\nmobile · Android 13 · Chrome",
          "*IP*\n218.84.244.129", "*ISP*\nAmazon.com", "*Sub id*\nsub17"]),
        ({**CLICK, "status": "Approved", "blocked": 0, "rejected_simple_reason": ""}, ":white_check_mark: *Approved*",
         None),
        ({**CLICK, "monitoring_mode": 1, "blocked": 0, "status": "Rejected"},
         ":no_entry: *Rejected*: Click spamming (More than 20 clicks per device in 1 hour), but let through: "
         "its filter group is in monitoring mode", None),
        ({"hash": "h1", "offer": "312", "offer_id_name": "312 - Puzzle Quest", "publisher": "1190",
          "publisher_name": "Install Rush", "rejected": 0, "payout": 12.0, "revenue": 16.8, "event_name": "purchase"},
         ":white_check_mark: *Approved*",
         ["*Offer*\n312 - Puzzle Quest", "*Publisher*\n1190 · Install Rush", "*Event*\npurchase",
          "*Payout*\npayout 12.0 · revenue 16.8"]),
    ],
)
def test_lookup_card(row: dict[str, Any], verdict: str, fields: list[str] | None) -> None:
    message = lookups.card({"what": "click", "id": "c1", "row": row})
    head = message.blocks[0]["text"]["text"].splitlines()
    assert head[0].startswith("*24Metrics click* `c1`") and head[1] == verdict
    if fields is not None:
        assert [f["text"] for f in message.blocks[1]["fields"]] == fields
    assert "=" not in json.dumps(message.blocks)


def test_lookup_card_time_is_a_slack_date_and_a_bad_one_is_shown_as_text() -> None:
    good = lookups.card({"what": "click", "id": "c1", "row": CLICK}).blocks[0]["text"]["text"]
    assert "<!date^1767574748^" in good and "|2026-01-05 00:59 UTC>" in good
    bad = lookups.card({"what": "click", "id": "c1", "row": {**CLICK, "request_time": "yesterday-ish"}})
    assert "yesterday-ish" in bad.blocks[0]["text"]["text"]


def test_a_lookup_with_no_record_says_what_was_searched() -> None:
    params = {"what": "conversion", "id": "h9", "offer": "17", "publisher": "5", "date": "2026-01-05", "integration": "i1"}
    text = str(lookups.not_found(params))
    assert text.startswith("24Metrics has no conversion `h9` for offer `17`, publisher `5` on 2026-01-05")
    assert "Check the conversion's hash" in text


# -- the export list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "words"),
    [("PENDING", "waiting to start"), ("IN_PROGRESS", "in progress"), ("in_progress", "in progress"),
     ("COMPLETED", "ready"), ("ERROR", "failed"), ("CANCELED", "cancelled"), ("ON_HOLD", "on hold")],
)
def test_vendor_states_in_words(state: str, words: str) -> None:
    assert download_center.state_words(state) == words


def _export(status: str, file: bool) -> dict[str, Any]:
    return {"id": "67e01", "kind": "clicks", "status": status, "rows": 5, "range": "2026-01-01",
            "created_at": "2026-01-02T03:04:05Z", "error": None, "file": file, "integration": "i1"}


@pytest.mark.parametrize(
    ("export", "button"),
    [(_export("COMPLETED", True), True), (_export("IN_PROGRESS", False), False), (_export("ERROR", False), False)],
)
def test_only_a_completed_export_has_a_fresh_link_button(export: dict[str, Any], button: bool) -> None:
    blocks = download_center.exports_message({"exports": [export]}).blocks
    accessories = [b["accessory"] for b in blocks if b.get("accessory")]
    assert bool(accessories) is button
    if button:
        assert accessories[0]["text"]["text"] == "Get a fresh link"
        assert json.loads(accessories[0]["value"]) == {"x": "67e01", "i": "i1"}
    shown = re.search(r" · \*([^*]+)\* · ", blocks[1]["text"]["text"])
    assert shown and shown.group(1) == download_center.state_words(export["status"]), blocks[1]

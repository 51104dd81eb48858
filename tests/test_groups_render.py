"""Filter groups, pure: finding one by name, plans of changes of several groups, and what the
page, the prompts and the outcomes say."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workers.audit import AuditEntry
from workers.errors import Refused
from workers.jobs import Job
from workers.render import Rendered
from workers.vendors.metrics24.bulk_plan import (
    all_items,
    changed_since,
    decode_detail,
    encode_detail,
    restore_items,
    snapshot,
    undo_items,
)
from workers.vendors.metrics24.bulk_render import apply_message, effect, prompt_message
from workers.vendors.metrics24.buttons import GroupPage
from workers.vendors.metrics24.groups import listing, resolve
from workers.vendors.metrics24.groups_render import (
    delete_prompt_message,
    list_message,
    set_message,
    state_line,
    switch_button,
)
from workers.vendors.metrics24.models import FilterGroup


def g(gid: str, name: str, mode: bool | None) -> FilterGroup:
    return FilterGroup(id=gid, name=name, monitoring_mode=mode, priority=int(gid), active=True)


GROUPS = [g("1", "EU Mobile – strict", False), g("2", "EU Mobile – strict (legacy)", True),
          g("3", "US CTV – monitoring", None), g("4", "APAC Web – relaxed", True)]
NOW = {x.id: x for x in GROUPS}


def job(result: dict[str, Any], *, op: str = "fg_bulk_prompt") -> Job:
    return Job(id="JPROMPT01", kind="task", vendor="24metrics", command="c", summary="s", user_id="UADMIN",
               channel_id="C1", created_at=0, deadline=1, params={"op": op}, result=result, state="delivered")


@pytest.mark.parametrize(
    ("mode", "state"),
    [(True, "Monitoring: *on* — matches are recorded, not rejected"), (False, "Monitoring: *off* — matches are rejected"),
     (None, "Monitoring: as the integration")],
)
def test_state_line(mode: bool | None, state: str) -> None:
    assert state_line(mode) == state


@pytest.mark.parametrize(
    ("mode", "label", "confirm_style", "says"),
    [(False, "Turn monitoring on", "danger", "stop rejecting traffic"),
     (None, "Turn monitoring on", "danger", "stop rejecting traffic"),
     (True, "Turn monitoring off", "primary", "reject matching traffic again")],
)
def test_switch_says_the_action_and_is_danger_only_in_the_confirm_that_stops_protection(
    mode: bool | None, label: str, confirm_style: str, says: str
) -> None:
    button = switch_button({"id": "1", "name": "EU", "monitoring_mode": mode}, GroupPage(integration="i")).to_dict()
    assert button["text"]["text"] == label and "style" not in button
    assert button["confirm"]["style"] == confirm_style and says in button["confirm"]["text"]["text"]


@pytest.mark.parametrize(
    ("items", "text"),
    [
        ([{"mode": False, "to": True}] * 12, "12 groups will stop rejecting traffic: matches are only recorded."),
        ([{"mode": True, "to": False}], "1 group will reject matching traffic again."),
        ([{"mode": False, "to": True}, {"mode": True, "to": False}, {"mode": True, "to": True}],
         "1 group will stop rejecting traffic: matches are only recorded; 1 group will reject matching traffic again."),
    ],
)
def test_effect_counts_only_what_changes(items: list[dict[str, Any]], text: str) -> None:
    assert effect(items) == text


def test_plans_of_several_groups() -> None:
    items, unchanged = all_items(GROUPS, True)
    assert [it["id"] for it in items] == ["1", "3"] and unchanged == 2, "unset counts as not yet"
    rows = snapshot(GROUPS, items)
    assert rows == [["1", GROUPS[0].name, False, True], ["2", GROUPS[1].name, True, True],
                    ["3", GROUPS[2].name, None, True], ["4", GROUPS[3].name, True, True]]
    # Undo as made: every group must still be as the change left it; unset ones stay out.
    assert [(it["id"], it["mode"], it["to"]) for it in undo_items(rows)] == [
        ("1", True, False), ("2", True, True), ("4", True, True)]
    # Restore now: only what differs from before, and what is gone is said.
    now = {**NOW, "1": g("1", "EU Mobile – strict", True)}
    del now["4"]
    restore, same_already, missing = restore_items(rows, now)
    assert [(it["id"], it["to"]) for it in restore] == [("1", False)] and same_already == 2
    assert missing == [{"id": "4", "name": "APAC Web – relaxed"}]
    assert [it["id"] for it in changed_since(items, now)] == ["1"]
    assert changed_since(items, NOW) == []


@pytest.mark.parametrize(
    ("entry", "integration", "refusal"),
    [
        (None, "i", "There is no audit entry `1-0`"),
        (AuditEntry("1-0", "U", "deleted filter group", "x", "exists", "deleted", 0.0), "i", "is not a change of several"),
        (AuditEntry("1-0", "U", "w", "t", "b", "a", 0.0, detail="{not json"), "i", "is not a change of several"),
        (AuditEntry("1-0", "U", "w", "t", "b", "a", 0.0, detail=encode_detail("other", [])), "i", "integration=other"),
    ],
)
def test_decode_detail_refuses_what_it_cannot_restore(entry: AuditEntry | None, integration: str, refusal: str) -> None:
    with pytest.raises(Refused, match=refusal.replace("(", r"\(")):
        decode_detail(entry, "1-0", integration)


def test_decode_detail_reads_back_what_was_encoded() -> None:
    rows = [["1", "EU", False, True]]
    entry = AuditEntry("1-0", "U", "w", "t", "b", "a", 0.0, detail=encode_detail("i", rows))
    assert decode_detail(entry, "1-0", "i") == rows


@pytest.mark.parametrize(
    ("needle", "found", "refusal"),
    [
        ("1", "1", None),
        ("eu mobile – strict", "1", None),
        ("legacy", "2", None),
        ("EU Mobile", None, "matches 2 filter groups: EU Mobile – strict (`1`), EU Mobile – strict (legacy) (`2`)."),
        ("US CTV monitoring", None, "The nearest: US CTV – monitoring (`3`)"),
        ("zzzz", None, "`/adops filters` lists them"),
        ("  ", None, "Which filter group?"),
    ],
)
def test_resolve(needle: str, found: str | None, refusal: str | None) -> None:
    if refusal is None:
        assert resolve(GROUPS, needle).id == found
        return
    with pytest.raises(Refused) as caught:
        resolve(GROUPS, needle)
    assert refusal in str(caught.value)


def test_resolve_offers_at_most_five_candidates() -> None:
    many = [g(str(n), f"EU group {n}", False) for n in range(1, 13)]
    with pytest.raises(Refused) as caught:
        resolve(many, "EU group")
    assert str(caught.value).count("(`") == 5 and "and 7 more" in str(caught.value)


ODD = [g("1", "legacy?", False), g("2", "ends with a dot.", True)]
ITEMS = [{"id": "1", "name": "legacy?", "mode": False, "to": True}, {"id": "2", "name": "ends with a dot.",
                                                                     "mode": True, "to": False}]


def _messages() -> list[Rendered]:
    page = listing(ODD, "i", None, 0)
    return [
        list_message(page | {"admin": True}),
        list_message(page | {"admin": False}),
        prompt_message(job({"kind": "all", "integration": "i", "to": True, "items": ITEMS[:1], "unchanged": 1})),
        prompt_message(job({"kind": "restore", "integration": "i", "audit_id": "1-0", "items": ITEMS,
                            "unchanged": 0, "missing": [{"id": "9", "name": "gone."}]})),
        prompt_message(job({"kind": "all", "integration": "i", "to": False, "items": [], "unchanged": 2})),
        apply_message(job({"kind": "all", "integration": "i", "to": True, "by": "UADMIN", "changed": ITEMS[:1],
                           "missing": [], "audit_id": "5-0", "source": None})),
        apply_message(job({"kind": "restore", "integration": "i", "to": None, "by": "UADMIN", "changed": ITEMS,
                           "missing": ["9"], "audit_id": "6-0", "source": "5-0"})),
        set_message(job({"group": {"id": "1", "name": "legacy?"}, "field": "monitoring_mode", "before": False,
                         "after": True, "changed": True})),
        delete_prompt_message(job({"group": {"id": "2", "name": "ends with a dot.", "priority": None,
                                             "monitoring_mode": True}, "integration": "i"})),
    ]


@pytest.mark.parametrize("index", range(len(_messages())))
def test_texts_read_well(index: int) -> None:
    message = _messages()[index]
    text = message.text + json.dumps(message.blocks, ensure_ascii=False)
    for bad in ("?.", "..", "24Metrics's", "None"):
        assert bad not in text, (bad, text)


def test_the_prompt_and_outcome_carry_their_buttons() -> None:
    prompt = _messages()[3].blocks[0]["accessory"]
    assert prompt["action_id"] == "fg_bulk_apply" and json.loads(prompt["value"]) == {"p": "JPROMPT01", "i": "i"}
    assert "1 group will stop rejecting traffic" in prompt["confirm"]["text"]["text"]
    assert "1 group will reject matching traffic again" in prompt["confirm"]["text"]["text"]
    restore = _messages()[6].blocks[0]["accessory"]
    assert restore["action_id"] == "fg_restore" and json.loads(restore["value"]) == {"a": "6-0", "i": "i"}
    assert "accessory" not in _messages()[4].blocks[0], "nothing to change: no button"

"""24Metrics filter groups: list them, switch monitoring mode or ``active``, bulk-switch, delete.

Changes are intent-based, not flips: a button says "monitoring on for group 12", so a double
click, a second admin clicking the same stale message, or a redelivered message finds the group
already there and changes nothing. A per-group lock serialises the read-modify-write, and the
audit entry is written once per job whatever happens to the worker in between.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from workers import audit
from workers.jobs import Job
from workers.render import Rendered, ellipsize, escape, note, section
from workers.runtime import Runtime
from workers.tasks import Refused, register
from workers.vendors.errors import VendorRejected
from workers.vendors.metrics24.client import FilterGroup

__all__ = ["PAGE_SIZE", "group_block", "list_message", "resolve"]

#: Groups per message: one section each, plus header, footer and paging stay within Slack's 50.
PAGE_SIZE = 40
FIELD_WORDS = {"monitoring_mode": "Monitoring", "active": "Active"}
#: Groups named in a bulk change's message; the audit entry carries every id.
BULK_NAMES = 15


# -- finding a group by what a person typed (pure) ----------------------------------------------


def resolve(groups: Sequence[FilterGroup], needle: str) -> FilterGroup:
    """The one group ``needle`` names: its id, its exact name (any case), or a unique part of
    its name. Ambiguity is refused with the candidates, never guessed."""
    wanted = needle.strip()
    for group in groups:
        if group.id == wanted:
            return group
    folded = wanted.casefold()
    exact = [g for g in groups if g.name.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [g for g in groups if folded in g.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise Refused(f"No filter group is called or numbered “{wanted}”. `/adops filters` lists them.")
    shown = ", ".join(f"{g.name} (`{g.id}`)" for g in partial[:10])
    more = f" and {len(partial) - 10} more" if len(partial) > 10 else ""
    raise Refused(
        f"“{wanted}” matches {len(partial)} filter groups: {shown}{more}. Use the id or the full name; nothing was changed."
    )


def compact(group: FilterGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "priority": group.priority,
        "active": group.active,
        "monitoring_mode": group.monitoring_mode,
    }


# -- rendering (pure) ---------------------------------------------------------------------------


def _mode(on: bool | None) -> str:
    if on is None:
        return "monitoring as the integration"
    return "monitoring *on*: matches are recorded, not rejected" if on else "monitoring *off*: matches are rejected"


def group_block(group: dict[str, Any], integration: str) -> dict[str, Any]:
    """One group as a section whose button switches its monitoring mode, with a confirm."""
    on = bool(group.get("monitoring_mode"))
    name = escape(group.get("name") or "(no name)")
    active = "" if group.get("active") is not False else " · _inactive_"
    priority = f" · priority {group['priority']}" if group.get("priority") is not None else ""
    to = not on
    confirm_text = (
        f"{name} will only record matches and stop rejecting traffic."
        if to
        else f"{name} will reject matching traffic again."
    )
    button = ButtonElement(
        text="Monitoring off" if on else "Monitoring on",
        action_id="fg_toggle",
        value=json.dumps({"g": group["id"], "i": integration, "f": "monitoring_mode", "to": to}, separators=(",", ":")),
        style="primary" if on else "danger",
        confirm=ConfirmObject(
            title=ellipsize(f"Monitoring {'on' if to else 'off'}?", 100),
            text=ellipsize(confirm_text, 300),
            confirm="Turn on" if to else "Turn off",
            deny="Cancel",
            style="danger" if to else "primary",
        ),
    )
    text = f"*{name}* `{escape(str(group['id']))}`{priority}{active}\n{_mode(group.get('monitoring_mode'))}"
    return SectionBlock(block_id=f"fg:{group['id']}", text=MarkdownTextObject(text=ellipsize(text, 3000)), accessory=button).to_dict()


def list_message(result: dict[str, Any]) -> Rendered:
    integration = result["integration"]
    groups: list[dict[str, Any]] = result["groups"]
    total, page, pages = result["total"], result["page"], result["pages"]
    name = result.get("name")
    matching = f" matching “{escape(name)}”" if name else ""
    head = (
        f"*24Metrics filter groups*{matching} · integration `{escape(integration)}` · {total} group"
        f"{'s' if total != 1 else ''}, {result['monitoring']} in monitoring mode"
    )
    if not groups:
        hint = " Try a shorter `name~`." if name else ""
        return Rendered(text=head, blocks=[section(head + f"\nNo filter groups.{hint}")])
    blocks: list[dict[str, Any]] = [section(head)]
    blocks += [group_block(g, integration) for g in groups]
    footer = f"Page {page + 1} of {pages}" if pages > 1 else "All groups shown"
    blocks.append(note(f"{footer} · sorted by priority · buttons ask before they change anything"))
    if pages > 1:
        buttons = []
        if page > 0:
            buttons.append(_page_button("‹ Previous", "fg_page_prev", integration, name, page - 1))
        if page + 1 < pages:
            buttons.append(_page_button("Next ›", "fg_page_next", integration, name, page + 1))
        blocks.append(ActionsBlock(block_id="fg:pages", elements=buttons).to_dict())
    return Rendered(text=f"24Metrics filter groups ({total})", blocks=blocks)


def _page_button(label: str, action_id: str, integration: str, name: str | None, page: int) -> ButtonElement:
    value = json.dumps({"i": integration, "q": name, "p": page}, separators=(",", ":"))
    return ButtonElement(text=label, action_id=action_id, value=value)


def set_message(job: Job) -> Rendered:
    r = job.result
    group, field = r["group"], r["field"]
    word = FIELD_WORDS[field]
    state = "on" if r["after"] else "off"
    who = f"<@{job.user_id}>"
    if job.params.get("update"):
        # The button's own message: that group's line shows its new state, plus who did it.
        blocks = [dict(b) for b in job.params.get("blocks") or []]
        fresh = group_block(group, r["integration"])
        blocks = [fresh if b.get("block_id") == fresh["block_id"] else b for b in blocks]
        line = (
            f"{who} turned {word.lower()} {state} for *{escape(group['name'])}*"
            if r["changed"]
            else f"*{escape(group['name'])}* was already {word.lower()} {state}; nothing changed"
        )
        if r["changed"] and field == "monitoring_mode":
            blocks = [_recount(b, 1 if r["after"] else -1) for b in blocks]
        blocks = [b for b in blocks if b.get("block_id") != "fg:last"]
        blocks.insert(min(1, len(blocks)), note(line, block_id="fg:last"))
        return Rendered(text=f"{group['name']}: {word.lower()} {state}", blocks=blocks[:50])
    if r["changed"]:
        was = "on" if r["before"] else "off"
        text = f":white_check_mark: {word} *{state}* for *{escape(group['name'])}* (`{escape(group['id'])}`), was {was}."
    else:
        text = f":information_source: *{escape(group['name'])}* (`{escape(group['id'])}`) was already {word.lower()} *{state}*; nothing changed."
    return Rendered(text=text, blocks=[section(text)])


def _recount(block: dict[str, Any], delta: int) -> dict[str, Any]:
    """The header's "N in monitoring mode", moved by one group's change."""
    text = (block.get("text") or {}).get("text", "")
    match = _MONITORING_COUNT.search(text)
    if block.get("type") != "section" or block.get("accessory") or not match:
        return block
    count = max(0, int(match.group(1)) + delta)
    return {**block, "text": {**block["text"], "text": _MONITORING_COUNT.sub(f"{count} in monitoring mode", text, count=1)}}


_MONITORING_COUNT = re.compile(r"(\d+) in monitoring mode")


def bulk_message(job: Job) -> Rendered:
    r = job.result
    state = "on" if r["to"] else "off"
    changed: list[dict[str, Any]] = r["changed"]
    lines = [
        f":white_check_mark: Monitoring *{state}* for every filter group of integration `{escape(r['integration'])}`: "
        f"{len(changed)} changed, {r['unchanged']} already {state}."
    ]
    if changed:
        names = ", ".join(f"{escape(g['name'])} (`{escape(g['id'])}`)" for g in changed[:BULK_NAMES])
        more = f" and {len(changed) - BULK_NAMES} more (the audit trail lists them all)" if len(changed) > BULK_NAMES else ""
        lines.append(f"Changed: {names}{more}")
    if r.get("missing"):
        lines.append(":warning: 24Metrics did not confirm: " + ", ".join(f"`{escape(i)}`" for i in r["missing"]))
    text = "\n".join(lines)
    return Rendered(text=lines[0], blocks=[section(text)])


def delete_prompt_message(job: Job) -> Rendered:
    group, integration = job.result["group"], job.result["integration"]
    name = escape(group["name"])
    text = (
        f":wastebasket: Delete filter group *{name}* (`{escape(group['id'])}`, priority {group.get('priority')}, "
        f"{_mode(group.get('monitoring_mode'))})? This cannot be undone."
    )
    button = ButtonElement(
        text="Delete group",
        action_id="fg_delete",
        style="danger",
        value=json.dumps({"g": group["id"], "i": integration}, separators=(",", ":")),
        confirm=ConfirmObject(
            title="Delete this filter group?",
            text=ellipsize(f"{name} and its filters will be deleted in 24Metrics. This cannot be undone.", 300),
            confirm="Delete",
            deny="Keep it",
            style="danger",
        ),
    )
    blocks = [
        SectionBlock(block_id=f"fg:{group['id']}", text=MarkdownTextObject(text=ellipsize(text, 3000)), accessory=button).to_dict(),
        note("only admins can confirm"),
    ]
    return Rendered(text=f"Delete filter group {group['name']}?", blocks=blocks)


def delete_message(job: Job) -> Rendered:
    r = job.result
    name = escape(r["group"]["name"] or r["group"]["id"])
    if r["deleted"]:
        text = f":wastebasket: Filter group *{name}* (`{escape(r['group']['id'])}`) was deleted by <@{job.user_id}>."
    else:
        text = f":information_source: Filter group `{escape(r['group']['id'])}` was already deleted; nothing changed."
    return Rendered(text=text, blocks=[section(text)])


def list_page_message(job: Job) -> Rendered:
    return list_message(job.result)


# -- the tasks ------------------------------------------------------------------------------------


@register("fg_list", render=list_page_message)
def list_groups(rt: Runtime, job: Job) -> dict[str, Any]:
    integration = job.params["integration"]
    name = job.params.get("name")
    groups = rt.metrics24().list_filter_groups(integration, name_contains=name)
    groups.sort(key=lambda g: (g.priority is None, g.priority or 0, g.name.casefold()))
    pages = max(1, math.ceil(len(groups) / PAGE_SIZE))
    page = min(max(0, int(job.params.get("page", 0))), pages - 1)
    return {
        "integration": integration,
        "name": name,
        "page": page,
        "pages": pages,
        "total": len(groups),
        "monitoring": sum(1 for g in groups if g.monitoring_mode),
        "groups": [compact(g) for g in groups[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]],
    }


@register("fg_set", render=set_message)
def set_group(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    integration, field, to = p["integration"], p["field"], bool(p["to"])
    if field not in FIELD_WORDS:
        raise Refused(f"`{field}` cannot be switched here.")
    client = rt.metrics24()
    if p.get("group_id"):
        group_id = p["group_id"]
    else:
        group_id = resolve(client.list_filter_groups(integration), p["group"]).id
    intent_key = f"{rt.store.prefix}intent:{job.id}"
    with rt.redis.lock(f"{rt.store.prefix}lock:fg:{integration}:{group_id}", timeout=60, blocking_timeout=30):
        group = client.get_filter_group(group_id, integration)
        before = getattr(group, field)
        if bool(before) != to or before is None:
            # Written before the change: a worker killed right after the vendor's answer still
            # leaves this job's rerun able to tell that it made the change, and audit it.
            rt.redis.set(intent_key, json.dumps({"before": before}), ex=86_400)
            group = client.update_filter_group(group_id, {field: to}, integration)
            changed = True
        else:
            intent = rt.redis.get(intent_key)
            changed = intent is not None
            if intent is not None:
                before = json.loads(intent)["before"]
        if changed:
            audit.record_for_job(rt, job, what=f"set {FIELD_WORDS[field].lower()} of filter group",
                        target=f"{group.name} ({group.id})", before=_onoff(before), after=_onoff(to))
    return {"group": compact(group), "field": field, "before": before, "after": to, "changed": changed,
            "integration": integration}


@register("fg_bulk", render=bulk_message, slow=True)
def bulk_set(rt: Runtime, job: Job) -> dict[str, Any]:
    integration, to = job.params["integration"], bool(job.params["to"])
    client = rt.metrics24()
    intent_key = f"{rt.store.prefix}intent:{job.id}"
    with rt.redis.lock(f"{rt.store.prefix}lock:fg:{integration}:*", timeout=120, blocking_timeout=60):
        groups = client.list_filter_groups(integration)
        targets = [g for g in groups if bool(g.monitoring_mode) != to or g.monitoring_mode is None]
        intent = rt.redis.get(intent_key)
        if targets:
            rt.redis.set(intent_key, json.dumps([g.id for g in targets]), ex=86_400)
            result = client.bulk_update_filter_groups([g.id for g in targets], to, integration)
            changed_ids = set(result.changed)
            missing = result.missing
        else:
            # A rerun after the change went through: what this job changed is in its intent.
            changed_ids = set(json.loads(intent)) if intent else set()
            missing = []
    by_id = {g.id: g for g in groups}
    changed = [compact(by_id[i]) | {"monitoring_mode": to} for i in sorted(changed_ids) if i in by_id]
    if changed:
        names = ", ".join(f"{g['name']} ({g['id']})" for g in changed)
        audit.record_for_job(rt, job, what="set monitoring mode of every filter group",
                    target=f"integration {integration}: {names}",
                    before=_onoff(not to), after=_onoff(to))
    return {"integration": integration, "to": to, "changed": changed,
            "unchanged": len(groups) - len(changed) - len(missing), "missing": missing}


@register("fg_delete_prompt", render=delete_prompt_message)
def delete_prompt(rt: Runtime, job: Job) -> dict[str, Any]:
    integration = job.params["integration"]
    group = resolve(rt.metrics24().list_filter_groups(integration), job.params["group"])
    return {"group": compact(group), "integration": integration}


@register("fg_delete", render=delete_message)
def delete_group(rt: Runtime, job: Job) -> dict[str, Any]:
    integration, group_id = job.params["integration"], job.params["group_id"]
    client = rt.metrics24()
    intent_key = f"{rt.store.prefix}intent:{job.id}"
    with rt.redis.lock(f"{rt.store.prefix}lock:fg:{integration}:{group_id}", timeout=60, blocking_timeout=30):
        try:
            group = compact(client.get_filter_group(group_id, integration))
        except VendorRejected as exc:
            if exc.status != 404:
                raise
            intent = rt.redis.get(intent_key)
            if intent is None:
                return {"group": {"id": group_id, "name": ""}, "deleted": False}
            group = json.loads(intent)  # this job deleted it before a worker died
        else:
            rt.redis.set(intent_key, json.dumps(group), ex=86_400)
            client.delete_filter_group(group_id, integration)
        audit.record_for_job(rt, job, what="deleted filter group", target=f"{group['name']} ({group_id})",
                    before="exists", after="deleted")
    return {"group": group, "deleted": True}


# -- helpers --------------------------------------------------------------------------------------


def _onoff(value: bool | None) -> str:
    return "unset" if value is None else ("on" if value else "off")

"""What filter-group jobs show in Slack (pure): the listing with its buttons, a change, a bulk
change, the delete prompt and its outcome."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ConfirmObject, MarkdownTextObject, SectionBlock

from workers.jobs import Job
from workers.render import Rendered, ellipsize, escape, note, section
from workers.vendors.metrics24.buttons import (
    DELETE,
    NEXT_PAGE,
    PREVIOUS_PAGE,
    SWITCH,
    GroupChange,
    GroupDelete,
    GroupPage,
)
from workers.vendors.metrics24.groups import FIELD_WORDS

__all__ = ["bulk_message", "delete_message", "delete_prompt_message", "group_block", "list_message", "set_message"]

#: Groups named in a bulk change's message; the audit entry carries every id.
BULK_NAMES = 15


def _mode(on: bool | None) -> str:
    if on is None:
        return "monitoring as the integration"
    return "monitoring *on*: matches are recorded, not rejected" if on else "monitoring *off*: matches are rejected"


def group_block(group: dict[str, Any], where: GroupPage) -> dict[str, Any]:
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
    value = GroupChange(
        group_id=str(group["id"]), integration=where.integration, name=where.name, page=where.page,
        field="monitoring_mode", to=to,
    )
    button = SWITCH.element(
        "Monitoring off" if on else "Monitoring on",
        value,
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
    block = SectionBlock(block_id=f"fg:{group['id']}", text=MarkdownTextObject(text=ellipsize(text, 3000)), accessory=button)
    return block.to_dict()


def list_message(listing: dict[str, Any], changes: list[str] | None = None) -> Rendered:
    """A page of groups; ``changes`` (newest first) say who changed what on this message."""
    where = GroupPage(integration=listing["integration"], name=listing.get("name"), page=listing["page"])
    groups: list[dict[str, Any]] = listing["groups"]
    total, page, pages = listing["total"], listing["page"], listing["pages"]
    name = listing.get("name")
    matching = f" matching “{escape(name)}”" if name else ""
    head = (
        f"*24Metrics filter groups*{matching} · integration `{escape(where.integration)}` · {total} group"
        f"{'s' if total != 1 else ''}, {listing['monitoring']} in monitoring mode"
    )
    if not groups:
        hint = " Try a shorter `name~`." if name else ""
        return Rendered(text=head, blocks=[section(head + f"\nNo filter groups.{hint}")])
    blocks: list[dict[str, Any]] = [section(head)]
    if changes:
        blocks.append(note(" · ".join(changes), block_id="fg:last"))
    blocks += [group_block(g, where) for g in groups]
    footer = f"Page {page + 1} of {pages}" if pages > 1 else "All groups shown"
    blocks.append(note(f"{footer} · sorted by priority · buttons ask before they change anything"))
    if pages > 1:
        buttons = []
        if page > 0:
            buttons.append(PREVIOUS_PAGE.element("‹ Previous", where.model_copy(update={"page": page - 1})))
        if page + 1 < pages:
            buttons.append(NEXT_PAGE.element("Next ›", where.model_copy(update={"page": page + 1})))
        blocks.append(ActionsBlock(block_id="fg:pages", elements=buttons).to_dict())
    return Rendered(text=f"24Metrics filter groups ({total})", blocks=blocks[:50])


def change_line(user_id: str, group: dict[str, Any], field: str, after: bool, changed: bool) -> str:
    """One line of a board's change log (mrkdwn, escaped)."""
    word, state = FIELD_WORDS[field].lower(), "on" if after else "off"
    if changed:
        return f"<@{user_id}> turned {word} {state} for *{escape(group['name'])}*"
    return f"*{escape(group['name'])}* was already {word} {state}; nothing changed"


def set_message(job: Job) -> Rendered:
    r = job.result
    group, field = r["group"], r["field"]
    word = FIELD_WORDS[field]
    state = "on" if r["after"] else "off"
    if "listing" in r:
        # The button's own message, re-rendered from the vendor's state and the board's log.
        message = list_message(r["listing"], r.get("changes"))
        return Rendered(text=f"{group['name']}: {word.lower()} {state}", blocks=message.blocks)
    if r["changed"]:
        was = "on" if r["before"] else "off"
        text = f":white_check_mark: {word} *{state}* for *{escape(group['name'])}* (`{escape(group['id'])}`), was {was}."
    else:
        text = f":information_source: *{escape(group['name'])}* (`{escape(group['id'])}`) was already {word.lower()} *{state}*; nothing changed."
    return Rendered(text=text, blocks=[section(text)])


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
    button = DELETE.element(
        "Delete group",
        GroupDelete(group_id=str(group["id"]), integration=integration),
        style="danger",
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

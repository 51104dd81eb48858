"""What filter-group jobs show in Slack (pure): the listing with its buttons, a change, a bulk
change, the delete prompt and its outcome.

Group names, ids and integrations are the vendor's text: they go in through ``workers.render``'s
escaping helpers (``md``, ``code``), never into an f-string of mrkdwn.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock

from workers.jobs import Job
from workers.render import (
    Mrkdwn,
    Rendered,
    code,
    confirm,
    ellipsize,
    fallback,
    join,
    md,
    mention,
    note,
    sanitize,
    section,
)
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


def _mode(on: bool | None) -> Mrkdwn:
    if on is None:
        return Mrkdwn("monitoring as the integration")
    if on:
        return Mrkdwn("monitoring *on*: matches are recorded, not rejected")
    return Mrkdwn("monitoring *off*: matches are rejected")


def group_block(group: dict[str, Any], where: GroupPage) -> dict[str, Any]:
    """One group as a section whose button switches its monitoring mode, with a confirm."""
    on = bool(group.get("monitoring_mode"))
    name = ellipsize(group.get("name") or "(no name)", 200)
    active = Mrkdwn(" · _inactive_") if group.get("active") is False else ""
    priority = md(" · priority {}", group["priority"]) if group.get("priority") is not None else ""
    to = not on
    confirm_text = (
        md("{} will only record matches and stop rejecting traffic.", name)
        if to
        else md("{} will reject matching traffic again.", name)
    )
    value = GroupChange(
        group_id=str(group["id"]), integration=where.integration, name=where.name, page=where.page,
        field="monitoring_mode", to=to,
    )
    button = SWITCH.element(
        "Monitoring off" if on else "Monitoring on",
        value,
        style="primary" if on else "danger",
        confirm=confirm(
            f"Monitoring {'on' if to else 'off'}?", confirm_text, "Turn on" if to else "Turn off", "Cancel",
            "danger" if to else "primary",
        ),
    )
    text = md("*{}* {}{}{}\n{}", name, code(group["id"]), priority, active, _mode(group.get("monitoring_mode")))
    return section(text, block_id=f"fg:{group['id']}", accessory=button)


def list_message(listing: dict[str, Any], changes: list[str] | None = None) -> Rendered:
    """A page of groups; ``changes`` (newest first, lines from :func:`change_line` kept in the
    board's log in Redis) say who changed what on this message."""
    where = GroupPage(integration=listing["integration"], name=listing.get("name"), page=listing["page"])
    groups: list[dict[str, Any]] = listing["groups"]
    total, page, pages = listing["total"], listing["page"], listing["pages"]
    name = listing.get("name")
    matching = md(" matching “{}”", name) if name else ""
    head = md(
        "*24Metrics filter groups*{} · integration {} · {} group{}, {} in monitoring mode",
        matching, code(where.integration), total, "s" if total != 1 else "", listing["monitoring"],
    )
    if not groups:
        hint = Mrkdwn(" Try a shorter `name~`.") if name else ""
        return Rendered(head, [section(md("{}\nNo filter groups.{}", head, hint))])
    blocks: list[dict[str, Any]] = [section(head)]
    if changes:
        # Stored text comes back as plain strings: sanitized again, our mentions kept.
        blocks.append(note(join(" · ", (sanitize(line, mentions=True) for line in changes)), block_id="fg:last"))
    blocks += [group_block(g, where) for g in groups]
    footer = f"Page {page + 1} of {pages}" if pages > 1 else "All groups shown"
    blocks.append(note(md("{} · sorted by priority · buttons ask before they change anything", footer)))
    if pages > 1:
        buttons = []
        if page > 0:
            buttons.append(PREVIOUS_PAGE.element("‹ Previous", where.model_copy(update={"page": page - 1})))
        if page + 1 < pages:
            buttons.append(NEXT_PAGE.element("Next ›", where.model_copy(update={"page": page + 1})))
        blocks.append(ActionsBlock(block_id="fg:pages", elements=buttons).to_dict())
    return Rendered(fallback("24Metrics filter groups ({})", total), blocks)


def change_line(user_id: str, group: dict[str, Any], field: str, after: bool, changed: bool) -> Mrkdwn:
    """One line of a board's change log. No formatting of ours in it: it is stored, and comes
    back through ``sanitize``, which keeps only code spans and mentions."""
    word, state = FIELD_WORDS[field].lower(), "on" if after else "off"
    if changed:
        return md("{} turned {} {} for “{}”", mention(user_id), word, state, group["name"])
    return md("“{}” was already {} {}; nothing changed", group["name"], word, state)


def set_message(job: Job) -> Rendered:
    r = job.result
    group, field = r["group"], r["field"]
    word = FIELD_WORDS[field]
    state = "on" if r["after"] else "off"
    if "listing" in r:
        # The button's own message, re-rendered from the vendor's state and the board's log.
        message = list_message(r["listing"], r.get("changes"))
        return Rendered(fallback("{}: {} {}", group["name"], word.lower(), state), message.blocks)
    if r["changed"]:
        was = "on" if r["before"] else "off"
        text = md(
            ":white_check_mark: {} *{}* for *{}* ({}), was {}.", word, state, group["name"], code(group["id"]), was
        )
    else:
        text = md(
            ":information_source: *{}* ({}) was already {} *{}*; nothing changed.",
            group["name"], code(group["id"]), word.lower(), state,
        )
    return Rendered(text, [section(text)])


def bulk_message(job: Job) -> Rendered:
    r = job.result
    state = "on" if r["to"] else "off"
    changed: list[dict[str, Any]] = r["changed"]
    lines = [md(
        ":white_check_mark: Monitoring *{}* for every filter group of integration {}: {} changed, {} already {}.",
        state, code(r["integration"]), len(changed), r["unchanged"], state,
    )]
    if changed:
        names = join(", ", (md("{} ({})", g["name"], code(g["id"])) for g in changed[:BULK_NAMES]))
        more = (
            md(" and {} more (the audit trail lists them all)", len(changed) - BULK_NAMES)
            if len(changed) > BULK_NAMES else ""
        )
        lines.append(md("Changed: {}{}", names, more))
    if r.get("missing"):
        lines.append(md(":warning: 24Metrics did not confirm: {}", join(", ", (code(i) for i in r["missing"]))))
    return Rendered(lines[0], [section(Mrkdwn("\n".join(lines)))])


def delete_prompt_message(job: Job) -> Rendered:
    group, integration = job.result["group"], job.result["integration"]
    name = ellipsize(group["name"], 200)
    text = md(
        ":wastebasket: Delete filter group *{}* ({}, priority {}, {})? This cannot be undone.",
        name, code(group["id"]), group.get("priority"), _mode(group.get("monitoring_mode")),
    )
    button = DELETE.element(
        "Delete group",
        GroupDelete(group_id=str(group["id"]), integration=integration),
        style="danger",
        confirm=confirm(
            "Delete this filter group?",
            md("{} and its filters will be deleted in 24Metrics. This cannot be undone.", name),
            "Delete", "Keep it", "danger",
        ),
    )
    blocks = [section(text, block_id=f"fg:{group['id']}", accessory=button), note(Mrkdwn("only admins can confirm"))]
    return Rendered(fallback("Delete filter group {}?", group["name"]), blocks)


def delete_message(job: Job) -> Rendered:
    r = job.result
    group_id = code(r["group"]["id"])
    by = job.user_id if r["deleted"] else r.get("by")
    if by:
        name = r["group"]["name"] or r["group"]["id"]
        text = md(":wastebasket: Filter group *{}* ({}) was deleted by {}.", name, group_id, mention(by))
    else:
        text = md(":information_source: Filter group {} was already deleted; nothing changed.", group_id)
    return Rendered(text, [section(text)])

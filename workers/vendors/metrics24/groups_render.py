"""What filter-group jobs show in Slack (pure): the listing with its buttons, a change, the
delete prompt and its outcome. A group's mode is shown as state; its button says the action.

Group names, ids and integrations are the vendor's text: they go in through ``workers.render``'s
escaping helpers (``md``, ``code``), never into an f-string of mrkdwn.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

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

__all__ = [
    "confirm_style", "delete_message", "delete_prompt_message", "does", "group_block", "list_message", "set_message",
    "state_line", "switch_button",
]

def state_line(mode: bool | None) -> Mrkdwn:
    """A group's monitoring mode as state, never as an action."""
    if mode is None:
        return Mrkdwn("Monitoring: as the integration")
    if mode:
        return Mrkdwn("Monitoring: *on* — matches are recorded, not rejected")
    return Mrkdwn("Monitoring: *off* — matches are rejected")


def does(to: bool) -> str:
    """What setting monitoring ``to`` does to traffic, in the words a confirm dialog uses."""
    return "stop rejecting traffic: matches are only recorded" if to else "reject matching traffic again"


def confirm_style(to: bool) -> str:
    """Danger only where the change stops protection (monitoring on); primary otherwise."""
    return "danger" if to else "primary"


def switch_button(group: dict[str, Any], where: GroupPage) -> ButtonElement:
    """The action that flips the group's state, said as an action, with a confirm saying what it
    does. Plain style on a listing: the danger is the confirm's, so 40 groups are not 40 red
    buttons."""
    to = not bool(group.get("monitoring_mode"))
    name = ellipsize(group.get("name") or "(no name)", 200)
    value = GroupChange(
        group_id=str(group["id"]), integration=where.integration, name=where.name, page=where.page,
        admin=where.admin, field="monitoring_mode", to=to,
    )
    word = "on" if to else "off"
    return SWITCH.element(
        f"Turn monitoring {word}",
        value,
        confirm=confirm(
            f"Turn monitoring {word}?", md("{} will {}.", name, does(to)), f"Turn {word}", "Cancel", confirm_style(to),
        ),
    )


def group_block(group: dict[str, Any], where: GroupPage, *, switches: bool = True) -> dict[str, Any]:
    """One group as a section: its state, and (for admins) the button that changes it."""
    name = ellipsize(group.get("name") or "(no name)", 200)
    active = Mrkdwn(" · _inactive_") if group.get("active") is False else ""
    priority = md(" · priority {}", group["priority"]) if group.get("priority") is not None else ""
    text = md("*{}* {}{}{}\n{}", name, code(group["id"]), priority, active, state_line(group.get("monitoring_mode")))
    return section(text, block_id=f"fg:{group['id']}", accessory=switch_button(group, where) if switches else None)


def list_message(listing: dict[str, Any], changes: list[str] | None = None) -> Rendered:
    """A page of groups; ``changes`` (newest first, lines from :func:`change_line` kept in the
    board's log in Redis) say who changed what on this message."""
    switches = bool(listing.get("admin", True))
    where = GroupPage(integration=listing["integration"], name=listing.get("name"), page=listing["page"],
                      admin=switches)
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
    blocks += [group_block(g, where, switches=switches) for g in groups]
    footer = f"Page {page + 1} of {pages}" if pages > 1 else "All groups shown"
    how = "buttons ask before they change anything" if switches else "only admins can switch modes"
    blocks.append(note(md("{} · sorted by priority · {}", footer, how)))
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


def delete_prompt_message(job: Job) -> Rendered:
    group, integration = job.result["group"], job.result["integration"]
    name = ellipsize(group["name"], 200)
    priority = md(", priority {}", group["priority"]) if group.get("priority") is not None else ""
    text = md(
        ":wastebasket: Delete filter group *{}* ({}{})? This cannot be undone.\n{}",
        name, code(group["id"]), priority, state_line(group.get("monitoring_mode")),
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

"""What a change of several filter groups shows in Slack (pure): the prompt that asks first, with
the button whose confirm dialog says how many groups change and what that does, and the outcome,
with its audit id and the button that puts the modes back.

Group names and integrations are the vendor's text: through ``md`` and ``code``, never raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, confirm, fallback, join, md, mention, note, section
from workers.vendors.metrics24.bulk_plan import Item, changing, undo_items
from workers.vendors.metrics24.buttons import BULK_APPLY, RESTORE, BulkApply, BulkRestore
from workers.vendors.metrics24.groups import onoff
from workers.vendors.metrics24.groups_render import confirm_style, does

__all__ = ["apply_message", "effect", "groups_count", "prompt_message"]

#: Groups named in a message; the audit entry keeps every one.
NAMES = 15


def groups_count(n: int) -> str:
    return f"{n} group" if n == 1 else f"{n} groups"


def effect(items: Sequence[Item]) -> str:
    """What a plan does, counted: "12 groups will stop rejecting traffic: matches are only
    recorded", and for a mix both halves."""
    parts = []
    for to in (True, False):
        n = sum(1 for it in changing(items) if it["to"] is to)
        if n:
            parts.append(f"{groups_count(n)} will {does(to)}")
    return "; ".join(parts) + "."


def _style(items: Sequence[Item]) -> str:
    return confirm_style(any(it["to"] is True for it in changing(items)))


def _names(items: Sequence[dict[str, Any]], *, arrows: bool) -> Mrkdwn:
    shown = [
        md("{} ({}){}", it["name"] or "(no name)", code(it["id"]),
           md(": {} → {}", onoff(it.get("mode")), onoff(it.get("to"))) if arrows else "")
        for it in items[:NAMES]
    ]
    more = md(" and {} more", len(items) - NAMES) if len(items) > NAMES else ""
    return md("{}{}", join(", ", shown), more)


def _apply_confirm(items: Sequence[Item], yes: str) -> Any:
    n = len(changing(items))
    return confirm(f"Change {groups_count(n)}?", md("{} Only the groups this message lists change.", effect(items)),
                   yes, "Cancel", _style(items))


def prompt_message(job: Job) -> Rendered:
    r = job.result
    items: list[Item] = r["items"]
    integration = code(r["integration"])
    restore = r["kind"] == "restore"
    lines: list[Mrkdwn] = []
    if restore:
        head = md("Put back the monitoring modes filter groups of integration {} had before audit entry {}?",
                  integration, code(r["audit_id"]))
    else:
        head = md("Turn monitoring *{}* for {} of integration {}?", onoff(r["to"]), groups_count(len(items)), integration)
    if not items:
        text = (
            md(":information_source: Nothing to restore: the groups of audit entry {} are as they were before it.",
               code(r["audit_id"]))
            if restore else
            md(":information_source: Every filter group of integration {} already has monitoring *{}*; nothing to change.",
               integration, onoff(r["to"]))
        )
        lines.append(text)
    else:
        lines += [md(":warning: {}", head), md("{}", effect(items)), md("Changes: {}", _names(items, arrows=restore))]
    if items and r.get("unchanged"):
        already = "are as they were already" if restore else f"have monitoring {onoff(r['to'])} already"
        lines.append(md("{} {} and stay as they are.", groups_count(r["unchanged"]), already))
    if r.get("missing"):
        lines.append(md(":warning: Gone since: {}", _names(r["missing"], arrows=False)))
    text = Mrkdwn("\n".join(lines))
    if not items:
        return Rendered(lines[0], [section(text)])
    word = "Restore" if restore else f"Turn {onoff(r['to'])}"
    label = f"Restore {groups_count(len(items))}" if restore else f"Turn monitoring {onoff(r['to'])} for {groups_count(len(items))}"
    button = BULK_APPLY.element(
        label, BulkApply(prompt=job.id, integration=r["integration"]), style=_style(items),
        confirm=_apply_confirm(items, word),
    )
    blocks = [section(text, block_id="fg:bulk", accessory=button),
              note(Mrkdwn("nothing changes until an admin confirms · only the groups listed here change"))]
    return Rendered(fallback("Change {} filter groups?", len(items)), blocks)


def apply_message(job: Job) -> Rendered:
    r = job.result
    changed: list[Item] = r["changed"]
    integration, by = code(r["integration"]), mention(r["by"])
    if r["kind"] == "restore":
        on = sum(1 for it in changed if it["to"] is True)
        counts = ", ".join(f"{n} back {word}" for n, word in ((on, "on"), (len(changed) - on, "off")) if n)
        head = md(":white_check_mark: {} put back the monitoring modes of {} of integration {} as they were before "
                  "audit entry {}: {}.", by, groups_count(len(changed)), integration, code(r["source"]), counts)
    else:
        head = md(":white_check_mark: {} turned monitoring *{}* for {} of integration {}.",
                  by, onoff(r["to"]), groups_count(len(changed)), integration)
    lines = [head]
    if changed:
        lines.append(md("Changed: {}", _names(changed, arrows=r["kind"] == "restore")))
    if r.get("missing"):
        lines.append(md(":warning: 24Metrics did not confirm: {}", join(", ", (code(i) for i in r["missing"]))))
    audit_id = r.get("audit_id")
    undo = undo_items([[it["id"], it["name"], it["mode"], it["to"]] for it in changed])
    if not (audit_id and undo):
        return Rendered(head, [section(Mrkdwn("\n".join(lines)))])
    lines.append(md("Audit entry {} keeps the modes these groups had: {} or the button puts them back.",
                    code(audit_id), code(f"/adops monitor restore {audit_id}")))
    button = RESTORE.element(
        "Restore previous modes", BulkRestore(audit_id=audit_id, integration=r["integration"]),
        confirm=confirm("Restore previous modes?", md("{} Each goes back to the mode it had before.", effect(undo)),
                        "Restore", "Cancel", _style(undo)),
    )
    return Rendered(head, [section(Mrkdwn("\n".join(lines)), block_id="fg:bulk", accessory=button)])

"""What the streams page and its changes show in Slack (pure). A stream's mode is shown as state
with what it does to visitors; each button names a mode to set, and its confirm dialog says
what that mode does. Names and ids are the vendor's text: through ``md``/``code`` only."""

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
from workers.vendors.adspect.buttons import MODE_BUTTONS, NEXT_PAGE, PREVIOUS_PAGE, StreamMode, StreamPage
from workers.vendors.adspect.models import MODES

__all__ = ["DOES", "change_line", "list_message", "set_message", "style", "streams_count"]

#: What a mode does to visitors, in the words state lines and confirm dialogs use.
DOES = {
    "Filter": "check every visitor: real ones are sent to the offer, bots and reviewers to the safe page",
    "Review": "show every visitor the safe page while the ad is reviewed",
    "Money": "send every visitor to the offer, unfiltered",
    "White": "show every visitor the safe page",
}


#: A mode as state, for the listing.
STATE = {
    "Filter": "visitors are checked: real ones go to the offer, bots and reviewers to the safe page",
    "Review": "every visitor sees the safe page while the ad is reviewed",
    "Money": "every visitor goes to the offer, unfiltered",
    "White": "every visitor sees the safe page",
}


def style(mode: str) -> str:
    """Danger where the change stops filtering (Money); primary otherwise."""
    return "danger" if mode == "Money" else "primary"


def streams_count(n: int) -> str:
    return f"{n} stream" if n == 1 else f"{n} streams"


def _buttons(stream: dict[str, Any], where: StreamPage) -> dict[str, Any]:
    name = ellipsize(stream["name"] or "(no name)", 120)
    elements = []
    for mode in MODES:
        if mode == stream["mode"]:
            continue
        value = StreamMode(stream_id=stream["id"], to=mode, name=where.name, page=where.page, admin=where.admin)
        elements.append(MODE_BUTTONS[mode].element(
            mode, value,
            confirm=confirm(f"Switch to {mode}?", md("{} will {}.", name, DOES[mode]), f"Set {mode}", "Cancel",
                            style(mode)),
        ))
    return ActionsBlock(block_id=f"ad:{stream['id']}:set", elements=elements).to_dict()


def list_message(listing: dict[str, Any], changes: list[str] | None = None) -> Rendered:
    switches = bool(listing.get("admin", True))
    where = StreamPage(name=listing.get("name"), page=listing["page"], admin=switches)
    streams, total, page, pages = listing["streams"], listing["total"], listing["page"], listing["pages"]
    matching = md(" matching “{}”", listing["name"]) if listing.get("name") else ""
    counts = ", ".join(f"{n} {m}" for m, n in listing["modes"].items() if n)
    head = md("*Adspect streams*{} · {} · {}", matching, streams_count(total), counts or "none")
    if not streams:
        return Rendered(head, [section(md("{}\nNo streams.", head))])
    blocks: list[dict[str, Any]] = [section(head)]
    if changes:
        blocks.append(note(join(" · ", (sanitize(line, mentions=True) for line in changes)), block_id="ad:last"))
    for s in streams:
        text = md("*{}* {}\nMode: *{}* — {}", ellipsize(s["name"] or "(no name)", 200), code(s["id"]), s["mode"],
                  STATE.get(s["mode"], "a mode adops does not know"))
        blocks.append(section(text, block_id=f"ad:{s['id']}"))
        if switches:
            blocks.append(_buttons(s, where))
    footer = f"Page {page + 1} of {pages}" if pages > 1 else "All streams shown"
    how = "buttons ask before they change anything" if switches else "only admins can switch modes"
    blocks.append(note(md("{} · sorted by name · {}", footer, how)))
    if pages > 1:
        paging = []
        if page > 0:
            paging.append(PREVIOUS_PAGE.element("‹ Previous", where.model_copy(update={"page": page - 1})))
        if page + 1 < pages:
            paging.append(NEXT_PAGE.element("Next ›", where.model_copy(update={"page": page + 1})))
        blocks.append(ActionsBlock(block_id="ad:pages", elements=paging).to_dict())
    return Rendered(fallback("Adspect streams ({})", total), blocks)


def change_line(user_id: str, name: str, before: str, after: str) -> Mrkdwn:
    """One line of the board's log (stored, so plain: mentions and code spans survive sanitize)."""
    return md("{} switched “{}” from {} to {}", mention(user_id), name, before, after)


def set_message(job: Job) -> Rendered:
    r = job.result
    s = r["stream"]
    if "listing" in r:
        message = list_message(r["listing"], r.get("changes"))
        return Rendered(fallback("{}: {}", s["name"], r["after"]), message.blocks)
    if r["changed"]:
        text = md(":white_check_mark: Stream *{}* ({}) is in *{}* mode, was {}: it will {}.", s["name"], code(s["id"]),
                  r["after"], r["before"], DOES.get(r["after"], ""))
    else:
        text = md(":information_source: Stream *{}* ({}) was already in *{}* mode; nothing changed.", s["name"],
                  code(s["id"]), r["after"])
    return Rendered(text, [section(text)])

"""Block Kit as a terminal shows it (pure): what ``adops console`` prints for a message."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from workers.words import age

__all__ = ["blocks_to_text", "buttons_of", "duration", "plain"]

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<([^<>|]+)>")


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as a terminal shows it: links as `label (url)`, mentions as @id, dates (and
    the date tokens render uses to show `*`, `_`, `~` and backticks unformatted) as their fallback."""

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("!date^"):
            return label
        if target.startswith(("@", "#")):
            return label if label.startswith(("@", "#")) else target
        return f"{label} ({target})"

    text = _LINK.sub(link, mrkdwn)
    text = _BARE.sub(lambda m: m.group(1), text)
    # render.escape puts a soft hyphen before a quote's `>`; a terminal need not see it.
    return text.replace("\u00ad", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(blocks: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            # A section may hold text, labelled fields, or both (a lookup card's fields stand alone).
            if block.get("text"):
                lines.append(plain(block["text"]["text"]))
            for f in block.get("fields") or []:
                lines.append("  " + plain(f["text"]).replace("\n", ": ", 1))
        elif kind == "context":
            lines.append("  " + "  ".join(plain(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("  ────")
        elif kind == "image":
            lines.append(f"  [image] {block.get('alt_text', '')} ({block.get('image_url', '')})")
    return lines


def buttons_of(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(block, button element) of every button on a message, in the order they are shown."""
    for block in blocks:
        if block.get("type") == "actions":
            elements = block.get("elements", [])
        elif block.get("type") == "section" and block.get("accessory"):
            elements = [block["accessory"]]
        else:
            continue
        for element in elements:
            if element.get("type") == "button":
                yield block, element


def duration(seconds: float) -> str:
    """A wait, in the words every message uses (``workers.words.age``), rounded up: the console
    promises to wait *at most* this long."""
    return age(math.ceil(seconds))

"""Filter groups as the tasks and renderers handle them (pure): finding one by what a person
typed, the compact record kept in a job's result, and one page of a listing."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from workers.errors import Refused
from workers.vendors.metrics24.models import FilterGroup

__all__ = ["CANDIDATES", "FIELD_WORDS", "PAGE_SIZE", "compact", "listing", "nearest", "onoff", "resolve"]

#: Groups per message: one section each, plus header, footer and paging stay within Slack's 50.
PAGE_SIZE = 40
FIELD_WORDS = {"monitoring_mode": "Monitoring", "active": "Active"}
#: Names a refusal offers when a name is unknown or ambiguous.
CANDIDATES = 5


def resolve(groups: Sequence[FilterGroup], needle: str) -> FilterGroup:
    """The one group ``needle`` names: its id, its exact name (any case), or a unique part of
    its name. Ambiguity is refused with the candidates, never guessed; an unknown name with the
    nearest names there are."""
    wanted = needle.strip()
    if not wanted:
        raise Refused("Which filter group? Give its id or its name; `/adops filters` lists them. Nothing was changed.")
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
        near = nearest(groups, wanted)
        hint = f" The nearest: {_named(near)}." if near else " `/adops filters` lists them."
        raise Refused(f"No filter group is called or numbered “{wanted}”; nothing was changed.{hint}")
    shown = nearest(partial, wanted, cutoff=0.0)  # every one matches: the closest first
    more = f" and {len(partial) - len(shown)} more" if len(partial) > len(shown) else ""
    raise Refused(
        f"“{wanted}” matches {len(partial)} filter groups: {_named(shown)}{more}. "
        "Use the id or the full name; nothing was changed."
    )


def nearest(
    groups: Sequence[FilterGroup], wanted: str, limit: int = CANDIDATES, cutoff: float = 0.4
) -> list[FilterGroup]:
    """Up to ``limit`` groups whose names are closest to ``wanted``, closest first; none below
    ``cutoff`` (difflib's ratio)."""
    matcher = difflib.SequenceMatcher(b=wanted.casefold())
    scored = []
    for group in groups:
        matcher.set_seq1(group.name.casefold())
        score = matcher.ratio()
        if score >= cutoff:
            scored.append((-score, group.name.casefold(), group.id, group))
    return [entry[-1] for entry in sorted(scored, key=lambda e: e[:3])[:limit]]


def _named(groups: Sequence[FilterGroup]) -> str:
    return ", ".join(f"{g.name} (`{g.id}`)" for g in groups)


def compact(group: FilterGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "priority": group.priority,
        "active": group.active,
        "monitoring_mode": group.monitoring_mode,
    }


def listing(groups: Sequence[FilterGroup], integration: str, name: str | None, page: int) -> dict[str, Any]:
    """One page of groups, sorted by priority then name, with the counts its header shows."""
    ordered = sorted(groups, key=lambda g: (g.priority is None, g.priority or 0, g.name.casefold()))
    pages = max(1, math.ceil(len(ordered) / PAGE_SIZE))
    page = min(max(0, int(page)), pages - 1)
    return {
        "integration": integration,
        "name": name,
        "page": page,
        "pages": pages,
        "total": len(ordered),
        "monitoring": sum(1 for g in ordered if g.monitoring_mode),
        "groups": [compact(g) for g in ordered[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]],
    }


def onoff(value: bool | None) -> str:
    return "unset" if value is None else ("on" if value else "off")

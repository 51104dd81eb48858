"""Finding a stream by what a person typed (pure): its id, its name, or a unique part of it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from workers.errors import Refused
from workers.vendors.adspect.models import Stream

__all__ = ["nearest", "resolve"]


def resolve(streams: Sequence[Stream], needle: str) -> Stream:
    """The one stream ``needle`` names; ambiguity is refused with the candidates, never guessed."""
    wanted = needle.strip()
    if not wanted:
        raise Refused("Which stream? Give its id or its name; `/adops streams` lists them. Nothing was changed.")
    for s in streams:
        if s.stream_id == wanted:
            return s
    folded = wanted.casefold()
    exact = [s for s in streams if s.name.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [s for s in streams if folded in s.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        near = nearest(streams, wanted)
        hint = f" The nearest: {_named(near)}." if near else " `/adops streams` lists them."
        raise Refused(f"No Adspect stream is called or numbered “{wanted}”; nothing was asked.{hint}")
    shown = nearest(partial, wanted, cutoff=0.0)
    more = f" and {len(partial) - len(shown)} more" if len(partial) > len(shown) else ""
    raise Refused(f"“{wanted}” matches {len(partial)} streams: {_named(shown)}{more}. Use the id or the full name.")


def nearest(streams: Sequence[Stream], wanted: str, limit: int = 5, cutoff: float = 0.4) -> list[Stream]:
    matcher = difflib.SequenceMatcher(b=wanted.casefold())
    scored = []
    for s in streams:
        matcher.set_seq1(s.name.casefold())
        if (score := matcher.ratio()) >= cutoff:
            scored.append((-score, s.name.casefold(), s))
    return [entry[-1] for entry in sorted(scored, key=lambda e: e[:2])[:limit]]


def _named(streams: Sequence[Stream]) -> str:
    return ", ".join(f"{s.name} (`{s.stream_id}`)" for s in streams)

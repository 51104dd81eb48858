"""The search: every impression of a window, past a vendor that answers nothing over 10 000.

Everflow answers a request matching at most :data:`CAP` impressions with all of them, and one
matching more with *nothing*, exactly as it answers a window with no impressions. So an answer
with rows is complete for its window, and an empty answer is ambiguous.

A part is a *walk* over ``[start, end]`` (at most 14 days) carrying ``rho``, the density
(impressions a second) of the window it asked last. Each step asks one window at the walk's
start and hands back the rest as a follow-up part:

1. Sizing. With a density, the window is sized to hold :data:`TARGET` (85 % of the cap), and
   grows at most 8-fold while the density rests on few rows. Without one, a walk first looks at
   :data:`FIRST_LOOK` seconds (a cheap density sample that keeps its rows); when that is empty,
   and after a quiet stretch, it asks the whole rest at once (a sparse range costs one request).
2. Rows: written; the rest of the range follows with the density just seen.
3. Empty, where the density predicts at least :data:`OVER_CAP_EVIDENCE` rows: over the cap
   (a Poisson count with that mean is never 0); ask its first 70 %, then its first half (at most twice in a
   row: a third empty means the traffic may have stopped, so step 4 decides).
4. Empty, otherwise (no density, a low one, or a third empty): *probe* it. :data:`PROBES` short
   windows spread across it (centred in equal slices), each long enough that a window over the
   cap would put ~10 impressions in it even if spread evenly, and short enough for the density
   known so far to keep it far under the cap. Any probe with rows proves the window over the cap
   (it holds impressions, yet answered nothing): the window is split where the first probe
   found impressions; from there the walk goes on with that probe's density, and the stretch
   before it becomes a walk of its own, asked whole. All probes empty: the window is taken as quiet and the walk
   moves past it. Probe rows are counted, never written (the walk fetches that time again).

Cost: a quiet 14-day window costs 5 requests (first look, the rest, 3 probes); a dense range
costs about rows / 8 500 plus a few per density change. What it assumes: an empty window is
taken as quiet when every probe in it is empty, so a burst of over 10 000 impressions that
falls wholly between probes, with silence at all of them, would be missed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CAP", "FIRST_LOOK", "OVER_CAP_EVIDENCE", "PROBES", "TARGET", "Step", "Walk", "step"]

CAP = 10_000
TARGET = 8_500
FIRST_LOOK = 60
OVER_CAP_EVIDENCE = 50
PROBES = 3
#: A density from fewer rows than this is noisy: let windows grow at most GROWTH-fold on it.
SURE_ROWS = 100
GROWTH = 8
#: Halvings in a row before an empty answer is probed instead.
MAX_HALVINGS = 2

#: Ask Everflow for ``[start, end]`` (inclusive wall-clock seconds): the rows it answers.
Ask = Callable[[int, int], Sequence[dict[str, Any]]]


@dataclass(frozen=True)
class Walk:
    """A part's state (JSON-able through :meth:`params` / :meth:`of`)."""

    start: int
    end: int
    rho: float | None = None  # impressions a second in the window asked last; None: unknown
    wide: bool = False  # no density, but the last window was quiet: ask the whole rest
    empties: int = 0  # empty answers in a row at this start
    prev: float | None = None  # the density measured the window before last (the trend)
    over: int | None = None  # the end of a window known to hold over CAP impressions from ``start``
    seen: float | None = None  # the density measured in the last window that answered rows

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rho": self.rho, "wide": self.wide,
                "empties": self.empties, "prev": self.prev, "over": self.over, "seen": self.seen}

    @classmethod
    def of(cls, params: dict[str, Any]) -> Walk:
        def number(name: str) -> float | None:
            value = params.get(name)
            return None if value is None else float(value)

        over = params.get("over")
        return cls(int(params["start"]), int(params["end"]), number("rho"), bool(params.get("wide", False)),
                   int(params.get("empties", 0)), number("prev"), None if over is None else int(over),
                   number("seen"))


@dataclass
class Step:
    """What one step gave: rows to keep, the walk's next state (None when done), requests spent."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    then: tuple[Walk, ...] = ()
    requests: int = 0
    quiet: int = 0  # seconds taken as quiet on the probes' word


def window_length(walk: Walk) -> int:
    remaining = walk.end - walk.start + 1
    if walk.rho is None:
        length = remaining if walk.wide else FIRST_LOOK
    elif walk.rho <= 0:
        length = remaining
    else:
        rho = walk.rho
        if walk.prev and walk.empties == 0 and walk.seen:
            # Traffic follows curves: a density that rose (fell) over the last window likely goes
            # on rising (falling) over the next, so the change is carried forward, within 1.5x.
            rho *= min(1.5, max(1 / 1.5, walk.seen / walk.prev))
        length = math.floor(TARGET / rho)
    return max(1, min(length, remaining))


def step(walk: Walk, ask: Ask) -> Step:
    """One request at the walk's start (plus probes when its answer is ambiguous)."""
    length = window_length(walk)
    last = walk.start + length - 1
    rows = list(ask(walk.start, last))
    if rows:
        seen = len(rows) / length
        rho = seen
        if len(rows) < SURE_ROWS:
            rho = max(rho, TARGET / (length * GROWTH))  # a noisy density grows windows 8-fold at most
        if walk.over is not None and walk.over > last:
            # The window this one is the start of held over CAP: the rest of it holds the others.
            rho = max(rho, (CAP + 1 - len(rows)) / (walk.over - last))
        sure = len(rows) >= SURE_ROWS
        return Step(rows, _opt(_rest(walk, last, rho, walk.seen if sure else None, seen if sure else None)), 1)
    if walk.rho is None and not walk.wide and length < walk.end - walk.start + 1:
        # The first look saw nothing: ask the whole range (the first look's seconds included).
        return Step([], (Walk(walk.start, walk.end, None, True, walk.empties + 1),), 1)
    expected = (walk.rho or 0.0) * length
    if expected >= OVER_CAP_EVIDENCE and walk.empties < MAX_HALVINGS:
        # Over by a little is the usual case (the traffic rose): 70 % of the window first, then halves.
        half = max(1, length * 7 // 10 if walk.empties == 0 else length // 2)
        return Step([], (Walk(walk.start, walk.end, TARGET / half, False, walk.empties + 1, None, last),), 1)
    found, spent = probe(walk.start, last, walk.rho, ask)
    if found is not None:
        # Over the cap (it holds impressions, yet answered nothing). Split where the first probe
        # found some: from there the walk goes on with that probe's density; before it, a walk
        # of its own asks that stretch whole (often a quiet start: one request and its probes).
        at, rho = found
        rho = max(rho, TARGET / max(1, last - at + 1))
        right = Walk(at, walk.end, rho, False, walk.empties + 1 if at == walk.start else 0, None, last)
        left = () if at == walk.start else (Walk(walk.start, at - 1, None, True, walk.empties + 1),)
        return Step([], (*left, right), 1 + spent)
    return Step([], _opt(_rest(walk, last, None)), 1 + spent, quiet=length)


def probe_windows(start: int, end: int, rho: float | None) -> list[tuple[int, int]]:
    """The probes of an empty ``[start, end]``: centred in :data:`PROBES` equal slices."""
    length = end - start + 1
    # Long enough that a window just over the cap puts ~10 impressions in each probe ...
    size = math.ceil(10 * length / CAP)
    if rho:
        # ... and short enough that the density seen so far keeps a probe far under the cap.
        size = min(size, max(1, math.floor(TARGET / (4 * rho))))
    slice_ = length / PROBES
    size = max(1, min(size, math.floor(slice_)))
    out = []
    for i in range(PROBES):
        centre = start + int(slice_ * i + slice_ / 2)
        first = max(start, centre - size // 2)
        out.append((first, min(end, first + size - 1)))
    return sorted(set(out))


def probe(start: int, end: int, rho: float | None, ask: Ask) -> tuple[tuple[int, float] | None, int]:
    """Where the first probe with impressions starts and its density (None when all are empty),
    and the requests spent. Probes are asked in time order and stop at the first that finds any."""
    spent = 0
    for first, last in probe_windows(start, end, rho):
        spent += 1
        found = len(ask(first, last))
        if found:
            return (first, found / (last - first + 1)), spent
    return None, spent


def _opt(walk: Walk | None) -> tuple[Walk, ...]:
    return () if walk is None else (walk,)


def _rest(walk: Walk, last: int, rho: float | None, prev: float | None = None,
          seen: float | None = None) -> Walk | None:
    if last >= walk.end:
        return None
    return Walk(last + 1, walk.end, rho, rho is None, 0, prev, None, seen)

"""The search: every impression of a window, past a vendor that answers nothing over 10 000.

Everflow answers a request matching at most :data:`CAP` impressions with all of them, and one
matching more with *nothing*, exactly as it answers a window with no impressions. So an answer
with rows is complete for its window, and an empty answer is ambiguous.

A part is a *walk* over ``[start, end]`` (at most 14 days). Each step asks one window at the
walk's start and hands back the rest as a follow-up part carrying what the answers taught:

1. Sizing. Every answer gives its rows' exact times (``unix_timestamp``), so the walk keeps
   the traffic *at the end* of its last window (at least its last hour, and 300 rows back, at most
   its second half) and its slope, plus a day profile (impressions a second by hour of day, from
   the hours seen, kept in one unit so days of different levels make one shape). The next window
   is the profile's next hours times today's level (the end of the last window against the same
   hours of the profile), or, for hours the profile lacks, the end rate carried on its slope
   (within half and double, and at most :data:`GROWTH` times the last window); it is sized to
   hold :data:`TARGET` (the rest of the walk whole when predicted at most :data:`WHOLE`). An hour
   seen in a short window enters the profile at weight :data:`BLEND` (one hour is noisy). A
   walk's first window is :data:`FIRST_LOOK`; if empty, the whole rest.
2. One walk learns for the build: the plan starts only the first window's walk, which hands the
   build's other windows (``later``) their own walks, with its profile and level, as soon as it
   has a day's profile (or has ended, or found quiet). Their first window is sized for
   :data:`HANDED_BOOST` times the prediction (two weeks on, the level is a guess).
3. Empty, where at least :data:`OVER_CAP_EVIDENCE` rows were predicted: over the cap. The
   window held more than CAP where ``p`` was predicted, so the prediction is raised at least
   ``CAP / p`` (x1.1) and at least :data:`OVER_BOOST`-fold, and the walk remembers the bound
   (``over``/``need``): after a smaller window answers, the rest of the failed one must still be
   predicted to hold what is left of CAP + 1. At most :data:`MAX_EMPTIES` in a row, then step 5.
4. Empty after a window whose last hour had no rows where :data:`STOPPED` were expected (the
   traffic paused): the level was taken as 0, so this is step 5 at once, not step 3.
5. Empty, otherwise (no density, a low one, or empties in a row): *probe* it. :data:`PROBES` short
   windows spread across it (centred in equal slices), each long enough that a window over the
   cap would put ~10 impressions in it even if spread evenly, and short enough for the density
   known so far to keep it far under the cap. Any probe with rows proves the window over the cap:
   it is split where the first probe found impressions; from there the walk goes on with that
   probe's density, and the stretch before it becomes a walk of its own, asked whole. All probes
   empty: the window is taken as quiet and the walk moves past it. Probe rows are counted, never
   written (the walk fetches that time again).

Cost: a quiet 14-day window costs 5 requests (first look, the rest, 3 probes), 4 when handed on;
on the bench's dense 40 days 1.38x the least possible for all offers (1.32x by the issue's
formula) and 1.8x for one offer; over 15 seed/range pairs (bench/everflow_offline.py) 1.32-1.60x
for all offers by the issue's formula (bench/RESULTS.md). The waste is a failed window where the
level jumps (a dense day starting inside it), the smaller retry after it, and the warm-up.
What it assumes: an empty window is taken as quiet when every probe in it is empty, so a burst of over 10 000 impressions that falls wholly between
probes, with silence at all of them, would be missed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["CAP", "FIRST_LOOK", "OVER_CAP_EVIDENCE", "PROBES", "TARGET", "Step", "Walk", "step"]

CAP = 10_000
#: What a window is sized to hold.
TARGET = 8_000
#: A walk's first window when nothing is known (seconds).
FIRST_LOOK = 3_600
#: An empty answer where at least this many impressions were predicted means "over the cap".
OVER_CAP_EVIDENCE = 50
PROBES = 3
#: Over-the-cap retries in a row before an empty answer is probed instead.
MAX_EMPTIES = 3
#: Over the cap: the next window is sized for at least this many times the prediction.
OVER_BOOST = 2.0
#: A window handed to another walk of the build is sized for this many times the prediction.
HANDED_BOOST = 1.5
#: A window at most this many times the last one while no day profile is known.
GROWTH = 6
HOUR = 3_600
DAY = 86_400
#: Rows the density at a window's end is measured on (when there are that many in its second half).
TAIL_ROWS = 300
#: An hour is kept in the day profile when a window saw at least this much of it.
MIN_COVER = 900
#: A short window's hour enters the day profile at this weight (one hour is noisy; the profile
#: is the shape of many).
BLEND = 0.3
#: A last hour with no rows where this many were expected: the traffic stopped (a pause).
STOPPED = 30
#: The rest of a 14-day window predicted to hold at most this is asked whole.
WHOLE = 9_000

#: Ask Everflow for ``[start, end]`` (inclusive wall-clock seconds): the rows it answers.
Ask = Callable[[int, int], Sequence[dict[str, Any]]]
#: A row's wall-clock second (None when it has no usable timestamp).
Stamp = Callable[[dict[str, Any]], "int | None"]


@dataclass(frozen=True)
class Walk:
    """A part's state (JSON-able through :meth:`params` / :meth:`of`)."""

    start: int
    end: int
    rate: float | None = None  # impressions a second at the end of the last answered window; None: unknown
    slope: float = 0.0  # how that rate changed a second, over the last window's second half
    day: tuple[float, ...] = ()  # impressions a second by hour of day (-1: not seen), the latest seen
    scale: float | None = None  # today's traffic over ``day``'s, at the end of the last window
    boost: float = 1.0  # the prediction raised to agree with a window known to be over the cap
    wide: bool = False  # no density, but the last window was quiet: ask the whole rest
    empties: int = 0  # empty answers in a row at this start
    last: int = 0  # length of the window asked last (bounds growth while no profile is known)
    later: tuple[tuple[int, int], ...] = ()  # the build's other windows, started once this one has learnt
    over: int = 0  # the end of a window from ``start`` known to hold more than ``need`` (0: none)
    need: int = 0


    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rate": self.rate, "slope": self.slope,
                "day": [round(d, 6) for d in self.day], "scale": self.scale, "boost": self.boost,
                "wide": self.wide, "empties": self.empties, "last": self.last,
                "later": [list(w) for w in self.later], "over": self.over, "need": self.need}

    @classmethod
    def of(cls, params: dict[str, Any]) -> Walk:
        def number(name: str) -> float | None:
            value = params.get(name)
            return None if value is None else float(value)

        return cls(int(params["start"]), int(params["end"]), number("rate"), float(params.get("slope") or 0.0),
                   tuple(float(d) for d in params.get("day") or ()), number("scale"),
                   float(params.get("boost") or 1.0), bool(params.get("wide", False)),
                   int(params.get("empties", 0)), int(params.get("last", 0)),
                   tuple((int(a), int(b)) for a, b in params.get("later") or ()),
                   int(params.get("over") or 0), int(params.get("need") or 0))


@dataclass
class Step:
    """What one step gave: rows to keep, the walk's next state (None when done), requests spent."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    then: tuple[Walk, ...] = ()
    requests: int = 0
    quiet: int = 0  # seconds taken as quiet on the probes' word
    covered: int = 0  # seconds of the range this step finished (rows answered, or taken as quiet)


# -- prediction ---------------------------------------------------------------------------------


def _density(walk: Walk, t: int) -> float:
    """Predicted impressions a second at wall second ``t`` (before ``boost``)."""
    hod = (t // HOUR) % 24
    if walk.scale is not None and len(walk.day) == 24 and walk.day[hod] >= 0:
        return walk.day[hod] * walk.scale
    rate = walk.rate or 0.0
    # No profile for this hour: the rate at the end of the last window, carried on its slope,
    # within half and double (a straight line is only good for a few hours).
    return min(2 * rate, max(rate / 2, rate + walk.slope * (t - walk.start)))


def _segments(a: int, b: int) -> list[tuple[int, int]]:
    out, t = [], a
    while t <= b:
        last = min(b, (t // HOUR + 1) * HOUR - 1)
        out.append((t, last))
        t = last + 1
    return out


def predicted(walk: Walk, a: int, b: int) -> float:
    return walk.boost * sum(_density(walk, (x + y) // 2) * (y - x + 1) for x, y in _segments(a, b))


def window_length(walk: Walk) -> int:
    remaining = walk.end - walk.start + 1
    if walk.rate is None:
        return max(1, min(remaining if walk.wide else FIRST_LOOK, remaining))
    if walk.rate <= 0 and walk.scale is None:
        return remaining
    if walk.over > walk.start and walk.need > 0:
        # What a window over the cap taught: the prediction must agree that it held that many.
        known = predicted(walk, walk.start, walk.over)
        if 0 < known < walk.need:
            walk = replace(walk, boost=walk.boost * walk.need / known * 1.1)
    total, length = 0.0, 0
    for x, y in _segments(walk.start, walk.end):
        d = walk.boost * _density(walk, (x + y) // 2)
        if total + d * (y - x + 1) > TARGET:
            length += int((TARGET - total) / d) if d > 0 else y - x + 1
            break
        total += d * (y - x + 1)
        length += y - x + 1
    if length < remaining and predicted(walk, walk.start, walk.end) <= WHOLE:
        # The rest of the window a little over the target: one request, not a sliver after it.
        length = remaining
    if walk.scale is None and walk.last:
        length = min(length, GROWTH * walk.last)  # a rate from one stretch is a guess for long ones
    return max(1, min(length, remaining))


# -- learning from an answer ----------------------------------------------------------------------


def _learn(walk: Walk, first: int, last: int, times: list[int]) -> Walk:
    """:func:`_learned`, and whether the traffic stopped before the window's end: its last hour
    empty where the traffic seen predicts at least :data:`STOPPED` rows there. Then the level is
    taken as 0, so the next window is the whole rest and an empty answer is probed, not read as
    over the cap (an offer paused for days would otherwise cost retries at every start)."""
    out = _learned(walk, first, last, times)
    if last - first + 1 < 2 * HOUR or not times or times[-1] > last - HOUR:
        return out
    expected = predicted(replace(out, start=last - HOUR + 1, boost=1.0), last - HOUR + 1, last)
    average = len(times) / (last - first + 1) * HOUR
    if max(expected, average) >= STOPPED:
        return replace(out, rate=0.0, slope=0.0, scale=0.0 if out.scale is not None else None)
    return out


def _tail(first: int, last: int, times: list[int]) -> tuple[int, int]:
    """The end of a window that says best how dense the traffic is now: at least an hour and
    :data:`TAIL_ROWS` rows back from its end, at most its second half. (start second, rows)"""
    length = last - first + 1
    floor = last - max(1, length // 2) + 1
    at = max(floor, last - HOUR + 1)
    i = len(times)
    while i > 0 and times[i - 1] >= at:
        i -= 1
    if len(times) - i < TAIL_ROWS and at > floor:
        i = max(0, len(times) - TAIL_ROWS)
        at = max(floor, times[i] if i < len(times) else floor)
        i = next((j for j, t in enumerate(times) if t >= at), len(times))
    return at, len(times) - i


def _learned(walk: Walk, first: int, last: int, times: list[int]) -> Walk:
    """The walk's state after ``[first, last]`` answered rows at ``times`` (wall seconds, sorted)."""
    length = last - first + 1
    at, n = _tail(first, last, times)
    span = last - at + 1
    if n >= 30:
        rate = n / span
        before = sum(1 for t in times if at - span <= t < at) if at - span >= first else None
        slope = (n - before) / span / span if before is not None and before >= 30 else 0.0
        tail = (at, last)
    else:  # too few rows at the end to trust: the window's average
        rate, slope, tail, n = len(times) / length, 0.0, (first, last), len(times)
    old = walk.day if len(walk.day) == 24 else (-1.0,) * 24
    # Today's level against the profile (the same hours on an earlier day), at the window's end.
    scale = None
    if all(old[(x // HOUR) % 24] >= 0 for x, _ in _segments(*tail)):
        expected = predicted(Walk(0, 0, day=old, scale=1.0), *tail)
        scale = n / expected if expected > 0 else None
    # The hours seen, by hour of day (the latest wins), kept in the profile's units (divided by
    # today's level) so that hours from days of different levels still make one shape.
    counts: dict[int, int] = {}
    for t in times:
        counts[t // HOUR] = counts.get(t // HOUR, 0) + 1
    if length >= DAY:
        # A day or more seen at once: the shape is the window's traffic by hour of day (days of
        # different levels averaged), scaled to a mean of 1; the level is the one at its end.
        rows_at, secs_at = [0] * 24, [0] * 24
        for x, y in _segments(first, last):
            rows_at[(x // HOUR) % 24] += counts.get(x // HOUR, 0)
            secs_at[(x // HOUR) % 24] += y - x + 1
        mean = len(times) / length
        if mean > 0 and all(secs_at):
            shape = tuple(r / c / mean for r, c in zip(rows_at, secs_at, strict=True))
            level = n / max(1e-9, predicted(Walk(0, 0, day=shape, scale=1.0), *tail))
            return Walk(last + 1, walk.end, rate, slope, shape, level, 1.0, False, 0, length, walk.later)
    day = list(old)
    unit = scale if scale else 1.0
    for x, y in _segments(first, last):
        if y - x + 1 >= MIN_COVER:
            seen = counts.get(x // HOUR, 0) / (y - x + 1) / unit
            h = (x // HOUR) % 24
            day[h] = seen if day[h] < 0 else BLEND * seen + (1 - BLEND) * day[h]
    if scale is None and all(d >= 0 for d in day):
        scale = 1.0
    return Walk(last + 1, walk.end, rate, slope, tuple(day), scale, 1.0, False, 0, length, walk.later)


def step(walk: Walk, ask: Ask, stamp: Stamp | None = None) -> Step:
    """One request at the walk's start (plus probes when its answer is ambiguous)."""
    done = _step(walk, ask, stamp)
    if not walk.later:
        return done
    # The first walk of a build learns the traffic for all: the others start once it has a day's
    # profile (or has ended, or was quiet), with what it knows.
    mine = tuple(replace(w, later=walk.later) if w.start >= walk.start and w.end == walk.end else w
                 for w in done.then)
    ready = not mine or any(w.scale is not None or w.rate == 0 for w in mine if w.end == walk.end)
    if not ready:
        done.then = mine
        return done
    learnt = next((w for w in mine if w.end == walk.end), None)
    others = tuple(_handed(learnt, a, b) for a, b in walk.later)
    done.then = (*(replace(w, later=()) for w in mine), *others)
    return done


def _handed(learnt: Walk | None, start: int, end: int) -> Walk:
    """Another window of the build, starting with what the first walk learnt."""
    if learnt is None or learnt.rate is None:
        return Walk(start, end)
    # The level two weeks on is anyone's guess: its first window is sized for half the target.
    return Walk(start, end, learnt.rate, 0.0, learnt.day, learnt.scale, HANDED_BOOST, learnt.rate == 0,
                0, learnt.last)


def _step(walk: Walk, ask: Ask, stamp: Stamp | None) -> Step:
    length = window_length(walk)
    last = walk.start + length - 1
    rows = list(ask(walk.start, last))
    if rows:
        times = _times(rows, walk.start, last, stamp)
        nxt = _learn(walk, walk.start, last, times)
        if walk.over > last:
            nxt = replace(nxt, over=walk.over, need=max(1, walk.need - len(rows)))
        return Step(rows, () if last >= walk.end else (nxt,), 1, covered=length)
    if walk.rate is None and not walk.wide and length < walk.end - walk.start + 1:
        # The first look saw nothing: ask the whole range (the first look's seconds included).
        return Step([], (Walk(walk.start, walk.end, None, wide=True, empties=walk.empties + 1),), 1)
    expected = predicted(walk, walk.start, last) if walk.rate is not None else 0.0
    if expected >= OVER_CAP_EVIDENCE and walk.empties < MAX_EMPTIES:
        # Over the cap: the window held more than CAP where about ``expected`` was predicted, so
        # the prediction is at least CAP / expected too low; traffic that jumped is usually
        # more than a little over, so the next window is sized for at least twice as much.
        boost = walk.boost * max(OVER_BOOST, CAP / expected * 1.1)
        return Step([], (replace(walk, boost=boost, empties=walk.empties + 1, wide=False, over=last, need=CAP + 1),), 1)
    found, spent = probe(walk.start, last, walk.rate, ask)
    if found is not None:
        # Over the cap (it holds impressions, yet answered nothing). Split where the first probe
        # found some: from there the walk goes on with that probe's density; before it, a walk
        # of its own asks that stretch whole (often a quiet start: one request and its probes).
        at, rho = found
        rho = max(rho, TARGET / max(1, last - at + 1))
        right = Walk(at, walk.end, rho, 0.0, walk.day, None, 1.0, False,
                     walk.empties + 1 if at == walk.start else 0, last - at + 1)
        left = () if at == walk.start else (Walk(walk.start, at - 1, None, wide=True, empties=walk.empties + 1),)
        return Step([], (*left, right), 1 + spent)
    rest = () if last >= walk.end else (Walk(last + 1, walk.end, 0.0, 0.0, walk.day, None, 1.0, True, 0, length),)
    return Step([], rest, 1 + spent, quiet=length, covered=length)


def _times(rows: Sequence[dict[str, Any]], first: int, last: int, stamp: Stamp | None) -> list[int]:
    """The rows' wall seconds; spread evenly over the window when any has no usable time."""
    if stamp is not None:
        times = [stamp(row) for row in rows]
        if all(t is not None and first <= t <= last for t in times):
            return sorted(t for t in times if t is not None)
    n = len(rows)
    return [first + (last - first) * i // max(1, n - 1) for i in range(n)]


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

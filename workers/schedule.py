"""When to look at a vendor export again.

Geometric backoff from a short first look, capped: quick exports are noticed within seconds,
a 30 s export within a couple of seconds of being ready, and a 10 minute export costs 12 polls and is seen at most 90 s late
(the budget is 12). ``bench/exports_inflight.py`` measures the effect at scale.

``first`` is the first gap (``ADOPS_FIRST_POLL``, default :data:`FIRST_DELAY`); every later gap
grows from it by :data:`FACTOR`. The tests shorten it so an export the sandbox has ready at once
is not waited for as long as a real one.
"""

from __future__ import annotations

FIRST_DELAY = 3.0
FACTOR = 1.7
MAX_DELAY = 90.0


def poll_delay(polls_done: int, first: float = FIRST_DELAY) -> float:
    """Seconds to wait before poll number ``polls_done + 1``."""
    return min(MAX_DELAY, first * FACTOR**polls_done)


def poll_offset(polls_done: int, first: float = FIRST_DELAY) -> float:
    """When poll number ``polls_done + 1`` is due, in seconds after the export was created.

    Polls are due on this fixed timetable rather than a delay after the previous one, so a
    worker that runs a poll late (a burst of new exports, a restart) does not push every later
    poll back by as much.
    """
    return sum(poll_delay(n, first) for n in range(polls_done + 1))


def next_poll_delay(polls_done: int, requested_at: float, now: float, first: float = FIRST_DELAY) -> float:
    """Seconds from ``now`` until the next poll is due; never a burst of immediate polls after
    an outage (at least a quarter of the nominal gap, and half a second)."""
    due = requested_at + poll_offset(polls_done, first)
    return max(due - now, 0.25 * poll_delay(polls_done, first), 0.5)


def poll_times(horizon: float) -> list[float]:
    """Offsets (from the export's creation) of every poll up to and including the first at or
    after ``horizon``: the polls an export that is ready at ``horizon`` costs."""
    times: list[float] = []
    elapsed = 0.0
    while not times or times[-1] < horizon:
        elapsed += poll_delay(len(times))
        times.append(elapsed)
    return times

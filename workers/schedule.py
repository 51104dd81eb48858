"""When to look at a vendor export again.

Geometric backoff from a short first look, capped: quick exports are noticed within seconds,
a 30 s export within a couple of seconds of being ready, and a 10 minute export costs 12 polls and is seen at most 90 s late
(the budget is 12). ``bench/exports_inflight.py`` measures the effect at scale.
"""

from __future__ import annotations

FIRST_DELAY = 3.0
FACTOR = 1.7
MAX_DELAY = 90.0


def poll_delay(polls_done: int) -> float:
    """Seconds to wait before poll number ``polls_done + 1``."""
    return min(MAX_DELAY, FIRST_DELAY * FACTOR**polls_done)


def poll_times(horizon: float) -> list[float]:
    """Offsets (from the export's creation) of every poll up to and including the first at or
    after ``horizon``: the polls an export that is ready at ``horizon`` costs."""
    times: list[float] = []
    elapsed = 0.0
    while not times or times[-1] < horizon:
        elapsed += poll_delay(len(times))
        times.append(elapsed)
    return times

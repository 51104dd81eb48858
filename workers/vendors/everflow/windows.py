"""Time in the requested zone, exact to the second: the range, the 3-month retention, 14-day windows.

Everything here is pure. Times are *wall-clock seconds in the request's zone*: a naive local
time counted from 1970-01-01 00:00 as if it were UTC (``wall(datetime)``). Everflow reads
``from``/``to`` as wall-clock times in ``timezone_id``, so windows cut on this scale are exactly
the windows Everflow sees, and two windows ``[a, b]`` and ``[b + 1, c]`` never share a second
(``to`` is inclusive: an impression at ``b`` is in the first window only).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "FORMAT",
    "MAX_WINDOW",
    "Cut",
    "cut_windows",
    "fmt",
    "months_before",
    "parse",
    "retention_cut",
    "retention_start",
    "wall",
]

#: The longest window Everflow answers: 14 days, ``from`` and ``to`` inclusive.
MAX_WINDOW = 14 * 86400
#: How Everflow writes ``from`` and ``to`` (and how job params keep the range).
FORMAT = "%Y-%m-%d %H:%M:%S"
#: Raw impressions are kept this many months.
RETENTION_MONTHS = 3


def wall(moment: datetime) -> int:
    """Wall-clock seconds of a naive local time."""
    return calendar.timegm(moment.replace(tzinfo=None).timetuple())


def fmt(seconds: int) -> str:
    """``YYYY-mm-DD HH:MM:SS``, as Everflow takes ``from`` and ``to``."""
    return datetime.fromtimestamp(seconds, UTC).strftime(FORMAT)


def parse(text: str) -> int:
    """The wall-clock seconds of a ``YYYY-mm-DD HH:MM:SS`` (:func:`fmt`'s inverse)."""
    return wall(datetime.strptime(text, FORMAT))


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    month0 = moment.month - 1 - months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def retention_start(now: float, zone: str) -> int:
    """The first wall-clock second (in ``zone``) of raw data Everflow still holds at ``now``,
    rounded up to the next whole minute so a cut range reads cleanly."""
    local = datetime.fromtimestamp(now, ZoneInfo(zone)).replace(tzinfo=None)
    first = wall(months_before(local, RETENTION_MONTHS))
    return -(-first // 60) * 60


@dataclass(frozen=True)
class Cut:
    """A range after the retention check: what may be asked (``start`` > ``end`` when nothing)."""

    start: int
    end: int
    cut: bool  # the start was moved forward


def retention_cut(start: int, end: int, now: float, zone: str) -> Cut:
    first = retention_start(now, zone)
    if start >= first:
        return Cut(start, end, False)
    return Cut(first, end, True)


def cut_windows(start: int, end: int, size: int = MAX_WINDOW) -> list[tuple[int, int]]:
    """``[start, end]`` (inclusive seconds) as consecutive windows of at most ``size`` seconds."""
    if size < 1:
        raise ValueError("window size must be >= 1 s")
    out = []
    at = start
    while at <= end:
        last = min(at + size - 1, end)
        out.append((at, last))
        at = last + 1
    return out

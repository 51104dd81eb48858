"""Date ranges as people type them in Slack: `yesterday`, `last7d`, `2026-03-01..2026-03-31`.

Everything here is pure: the caller passes `today` (in whatever zone it reasons in), so a
digest that fires at 00:05 in Tokyo and a test pinned to a leap day get the same answers.

Times (`YYYY-MM-DDTHH:MM`, accepted only when the caller passes `allow_time`) name the start
of a minute and are naive: the command's `tz=` option, not this module, says which zone they
are in. When one end of a range carries a time and the other is a bare date, the bare start
means 00:00 of its day and the bare end 23:59 of its day, so `2026-03-01..2026-03-02T12:00`
reads as "from the start of the 1st". The end minute is inclusive: `..T23:59` covers up to
23:59:59.
"""

from __future__ import annotations

import calendar
import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

__all__ = ["RANGE_FORMS", "TIME_FORM", "DateRange", "RangeError", "parse_range"]

#: The accepted forms, for help text and error messages (Slack mrkdwn).
RANGE_FORMS = (
    "`YYYY-MM-DD`, `YYYY-MM-DD..YYYY-MM-DD`, `today`, `yesterday`, "
    "`last7d`, `last30d`, `this-month`, `last-month`"
)
#: The extra form accepted where `allow_time` is set.
TIME_FORM = "`YYYY-MM-DDTHH:MM` at either end of a range"

_KEYWORDS = ("today", "yesterday", "last7d", "last30d", "this-month", "last-month")
# Single-digit months, days and hours are accepted: they are unambiguous, and phones make
# typing the leading zero a chore.
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{2})")
_END_OF_DAY = time(23, 59)


class RangeError(ValueError):
    """A range that cannot be used; the message is written for the person who typed it."""


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of days, or of minutes when `has_time`.

    Both ends are `date`s, or both are naive `datetime`s; never one of each.
    """

    start: date | datetime
    end: date | datetime
    text: str

    @property
    def has_time(self) -> bool:
        return isinstance(self.start, datetime)

    @property
    def days(self) -> int:
        """Calendar days touched by the range, counting both ends."""
        return (_day(self.end) - _day(self.start)).days + 1

    def __str__(self) -> str:
        start, end = _format(self.start), _format(self.end)
        return start if start == end else f"{start}..{end}"


def parse_range(
    text: str, today: date, *, allow_time: bool = False, max_days: int | None = None
) -> DateRange:
    """Read one range in any accepted form; raise `RangeError` saying what is wrong."""
    raw = text.strip()
    if not raw:
        raise RangeError(f"Missing date range. Use one of: {_forms(allow_time)}.")
    start, end = _parse_ends(raw, today, allow_time)
    if isinstance(start, datetime) != isinstance(end, datetime):
        start = start if isinstance(start, datetime) else datetime.combine(start, time())
        end = end if isinstance(end, datetime) else datetime.combine(end, _END_OF_DAY)
    if end < start:
        raise RangeError(f"The range ends {_format(end)}, before it starts {_format(start)}.")
    if _day(end) > today:
        raise RangeError(
            f"The range ends {_format(end)}, which is in the future (today is {today.isoformat()})."
        )
    found = DateRange(start, end, raw)
    if max_days is not None and found.days > max_days:
        raise RangeError(f"The range covers {found.days} days; at most {max_days} are allowed here.")
    return found


def _parse_ends(raw: str, today: date, allow_time: bool) -> tuple[date, date]:
    lowered = raw.lower()
    if lowered in _KEYWORDS:
        return _keyword(lowered, today)
    if ".." not in raw:
        single = _endpoint(raw, today, allow_time, whole=raw)
        if isinstance(single, datetime):
            raise RangeError(
                f"{_format(single)} is a single minute; give a range such as "
                f"`{single:%Y-%m-%dT%H:%M}..{single:%Y-%m-%d}T23:59`."
            )
        return single, single
    parts = raw.split("..")
    if len(parts) != 2:
        raise RangeError(f"`{raw}` is not a date range. Use one of: {_forms(allow_time)}.")
    first, second = (part.strip() for part in parts)
    if not first or not second:
        missing = "start" if not first else "end"
        raise RangeError(f"`{raw}` is missing its {missing}. Write `YYYY-MM-DD..YYYY-MM-DD`.")
    return _endpoint(first, today, allow_time, whole=raw), _endpoint(second, today, allow_time, whole=raw)


def _keyword(word: str, today: date) -> tuple[date, date]:
    if word == "today":
        return today, today
    if word == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if word == "last7d":
        return today - timedelta(days=7), today - timedelta(days=1)
    if word == "last30d":
        return today - timedelta(days=30), today - timedelta(days=1)
    if word == "this-month":
        return today.replace(day=1), today
    # last-month
    last_day = today.replace(day=1) - timedelta(days=1)
    return last_day.replace(day=1), last_day


def _endpoint(part: str, today: date, allow_time: bool, *, whole: str) -> date:
    """One end of a `..` range (or a lone day): a date, a datetime, `today` or `yesterday`."""
    lowered = part.lower()
    # Only the single-day keywords make sense as one end of an explicit range.
    if lowered in ("today", "yesterday"):
        return _keyword(lowered, today)[0]
    if match := _DATETIME.fullmatch(part):
        if not allow_time:
            raise RangeError(
                f"{part}: this command takes dates, not times ({RANGE_FORMS}); "
                "`/adops help` names the commands that take times."
            )
        day = _date(part, *map(int, match.groups()[:3]))
        hour, minute = int(match[4]), int(match[5])
        if hour > 23 or minute > 59:
            raise RangeError(f"{part} is not a time (hours run 00-23, minutes 00-59).")
        return datetime.combine(day, time(hour, minute))
    if match := _DATE.fullmatch(part):
        return _date(part, *map(int, match.groups()))
    hint = difflib.get_close_matches(lowered, _KEYWORDS, n=1, cutoff=0.6)
    if hint:
        raise RangeError(f"`{whole}` is not a date range. Did you mean `{hint[0]}`?")
    raise RangeError(f"`{whole}` is not a date range. Use one of: {_forms(allow_time)}.")


def _date(text: str, year: int, month: int, day: int) -> date:
    if year < 1:
        raise RangeError(f"{text} is not a date: years start at 0001.")
    if not 1 <= month <= 12:
        raise RangeError(f"{text} is not a date: months run 01-12.")
    length = calendar.monthrange(year, month)[1]
    if not 1 <= day <= length:
        raise RangeError(f"{text} is not a date: {calendar.month_name[month]} {year} has {length} days.")
    return date(year, month, day)


def _forms(allow_time: bool) -> str:
    return f"{RANGE_FORMS}, or {TIME_FORM}" if allow_time else RANGE_FORMS


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _format(value: date) -> str:
    return value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, datetime) else value.isoformat()

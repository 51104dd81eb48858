"""Cron schedules for channel digests: parse what people type, find when it fires, say it in words.

Standard cron (vixie semantics), with an optional leading seconds field and the `@daily`-style
macros. When both day of month and day of week are restricted a day matches if EITHER does.

Fire times are wall-clock times in the digest's zone, turned into instants by zoneinfo, never by
hand-written offsets:

- a wall time that does not exist (the spring-forward gap) runs once, at the instant zoneinfo gives
  for fold=0 (02:30 on 2027-03-28 in Berlin runs at 03:30 CEST); wall times mapping to one instant
  run once;
- a wall time that occurs twice (fall-back) runs once, at its first occurrence. So an hourly digest
  skips the repeated hour on that day rather than posting twice into the same channel.

APScheduler's CronTrigger is not used for the arithmetic: in 3.11 it fires a fall-back 02:30 twice
and oscillates for `*/30` around the transitions (measured). Everything here is pure: no clock, no I/O.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Cron", "CronError", "parse_cron", "zone_words"]

_DAY = 86_400
# Wall clock -> UTC is not monotonic around a spring-forward gap, and no zone shifts by 3 h at once.
_SLACK = 3 * 3600
_WINDOW = 6 * 3600
_HORIZON_DAYS = 2922  # 8 years: every valid cron (even Feb 29) fires within this
_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()

_MONTH_NAMES = "January February March April May June July August September October November December".split()
_MONTHS = tuple(name[:3].upper() for name in _MONTH_NAMES)
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron numbering: 0 (and 7) is Sunday
_DAY_NAMES = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
_SHAPE = "5 fields (minute hour day-of-month month day-of-week), as in `0 9 * * MON-FRI`"
_ITEM = re.compile(r"(?:([*?])|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/(.*))?", re.ASCII)
_UTC_NAMES = {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}


class CronError(ValueError):
    """A schedule that cannot be used; str() is a sentence for the person who typed it."""

    field: str  # "minute", "hour", ..., "second", or "" when the whole schedule is wrong

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    rule: str  # the sentence after the colon when a value is wrong
    names: tuple[str, ...] = ()
    name_base: int = 0


_SECOND = _Field("second", 0, 59, "seconds go from 0 to 59.")
_FIELDS = (
    _Field("minute", 0, 59, "minutes go from 0 to 59."),
    _Field("hour", 0, 23, "hours go from 0 to 23."),
    _Field("day of month", 1, 31, "days of the month go from 1 to 31."),
    _Field("month", 1, 12, "use 1-12 or JAN..DEC.", _MONTHS, 1),
    _Field("day of week", 0, 7, "use 0-7 or MON..SUN.", _WEEKDAYS, 0),
)


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


@dataclass(frozen=True)
class Cron:
    """A parsed schedule; fire times need the zone, which the digest stores beside the text."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0=Monday .. 6=Sunday, as date.weekday()
    days_star: bool
    weekdays_star: bool
    # Sorted copies for bisecting within a day; derived, so left out of equality.
    _h: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _m: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _s: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, values in (("_h", self.hours), ("_m", self.minutes), ("_s", self.seconds)):
            object.__setattr__(self, name, tuple(sorted(values)))

    def day_matches(self, day: date) -> bool:
        """Vixie: both day fields restricted -> either may match; otherwise both must."""
        if day.month not in self.months:
            return False
        in_days, in_weekdays = day.day in self.days, day.weekday() in self.weekdays
        return in_days and in_weekdays if self.days_star or self.weekdays_star else in_days or in_weekdays

    def next_after(self, after: float, zone: ZoneInfo) -> float:
        """The first fire time strictly after `after` (UTC epoch seconds), in UTC epoch seconds."""
        after_i = math.floor(after)
        wall = after_i + int(datetime.fromtimestamp(after_i, zone).utcoffset().total_seconds())
        stop = (wall // _DAY + _HORIZON_DAYS) * _DAY
        best: int | None = None
        best_wall = low = wall - _SLACK
        while best is None or low <= best_wall + _SLACK:
            found = self._first_wall(low, stop)
            if found is None or (best is not None and found > best_wall + _SLACK):
                break
            low = max(low, found)
            high = low + _WINDOW
            for start, end, offset in _pieces(zone, low, high):
                # Within a piece of constant offset, wall order is instant order: the first
                # matching wall whose instant is after `after` is this piece's candidate.
                hit = self._first_wall(max(start, after_i + 1 + offset), end)
                if hit is not None and (best is None or hit - offset < best):
                    best, best_wall = hit - offset, hit  # its wall: the scan stops 3 h past it
            low = high
        if best is None:
            raise CronError(f"{_code(self.text)} never runs.")
        return float(best)

    def upcoming(self, after: float, zone: ZoneInfo, count: int) -> list[float]:
        return self.between(after, math.inf, zone, limit=count)

    def between(self, start: float, end: float, zone: ZoneInfo, limit: int = 10_000) -> list[float]:
        """Fire times t with start < t <= end, ascending, at most `limit` (for counting missed runs)."""
        times: list[float] = []
        while len(times) < limit and (start := self.next_after(start, zone)) <= end:
            times.append(start)
        return times

    def shortest_gap(self, after: float, zone: ZoneInfo, samples: int = 500) -> float:
        """The smallest distance in seconds between consecutive fires among the next `samples`."""
        times = self.upcoming(after, zone, samples)
        return min((b - a for a, b in zip(times, times[1:])), default=math.inf)

    def describe(self, zone_name: str) -> str:
        """The schedule in words; irregular schedules get a faithful field-by-field sentence."""
        time = _time_words(self)
        if time is None:
            return f"{_field_words(self)}, {zone_words(zone_name)}"
        return f"{time}{_day_words(self, ' every day' if time.startswith('at') else '')}, {zone_words(zone_name)}"

    def _first_wall(self, low: int, limit: int) -> int | None:
        """The first matching wall time (seconds since the epoch, naive) in [low, limit)."""
        days, second = divmod(low, _DAY)
        day = date.fromordinal(_EPOCH_ORDINAL + days)
        while days * _DAY < limit:
            if day.month not in self.months:  # months are skipped whole: yearly crons stay cheap
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            else:
                found = self._time_from(second) if self.day_matches(day) else None
                if found is not None:
                    return days * _DAY + found if days * _DAY + found < limit else None
                day += timedelta(days=1)
            days, second = day.toordinal() - _EPOCH_ORDINAL, 0
        return None

    def _time_from(self, second: int) -> int | None:
        """The first fire second of a day at or after `second`, bisecting instead of trying each one."""
        hour, minute, sec = second // 3600, second // 60 % 60, second % 60
        for h in self._h[bisect.bisect_left(self._h, hour):]:
            for m in self._m[bisect.bisect_left(self._m, minute) if h == hour else 0:]:
                for s in self._s[bisect.bisect_left(self._s, sec) if (h, m) == (hour, minute) else 0:]:
                    return h * 3600 + m * 60 + s
        return None


def _wall_offset(wall: int, zone: ZoneInfo) -> int:
    """UTC offset zoneinfo uses for a naive wall time with fold=0 (the gap's, and the first fold's)."""
    return int(zone.utcoffset(_EPOCH + timedelta(seconds=wall)).total_seconds())


def _pieces(zone: ZoneInfo, low: int, high: int) -> list[tuple[int, int, int]]:
    """[low, high) in wall seconds cut where the fold=0 offset changes: (start, end, offset)."""
    pieces = []
    offset = _wall_offset(low, zone)
    while _wall_offset(high - 1, zone) != offset:
        same, changed = low, high - 1
        while changed - same > 1:
            middle = (same + changed) // 2
            same, changed = (middle, changed) if _wall_offset(middle, zone) == offset else (same, middle)
        pieces.append((low, changed, offset))
        low, offset = changed, _wall_offset(changed, zone)
    pieces.append((low, high, offset))
    return pieces


def parse_cron(text: str) -> Cron:
    """Read a 5-field cron, a 6-field one with leading seconds, or a macro; raise `CronError`."""
    canonical = " ".join(text.split())
    if not canonical:
        raise CronError(f"The schedule is empty: it needs {_SHAPE}.")
    parts = (_MACROS.get(canonical.lower(), "") if canonical.startswith("@") else canonical).split()
    if not parts:
        raise CronError(f"{_code(canonical)} is not a schedule I know: use {_SHAPE}, or one of "
                        "`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.")
    if len(parts) not in (5, 6):
        extra = "" if len(parts) < 5 else " (6 at most, with an optional leading seconds field)"
        raise CronError(f"The schedule needs {_SHAPE}; {_code(canonical)} has {len(parts)}{extra}.")
    seconds = _parse_field(_SECOND, parts.pop(0)) if len(parts) == 6 else frozenset({0})
    minutes, hours, days, months, weekdays = (_parse_field(f, part) for f, part in zip(_FIELDS, parts))
    cron = Cron(canonical, seconds, minutes, hours, days, months, frozenset((n - 1) % 7 for n in weekdays),
                parts[2] in ("*", "?"), parts[4] in ("*", "?"))
    _check_runs(cron)
    return cron


def _parse_field(spec: _Field, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{_code(text)} has an empty item in the {spec.name} field: drop a comma.", spec.name)
        values.update(_parse_item(spec, item))
    return frozenset(values)


def _parse_item(spec: _Field, item: str) -> range:
    match = _ITEM.fullmatch(item)
    if match is None or (match[1] == "?" and spec.name not in ("day of month", "day of week")):
        raise CronError(f"{_code(item)} is not a valid {spec.name}: {spec.rule}", spec.name)
    star, first, last, step_text = match.groups()
    step = 1
    if step_text is not None:
        step = int(step_text) if step_text.isdigit() and step_text.isascii() else -1
        if step < 1:
            shown = "a step of 0" if step == 0 else "a step that is not a whole number"
            raise CronError(f"{_code(item)} has {shown} in the {spec.name} field: steps are 1 or more.", spec.name)
    if star:
        return range(spec.low, spec.high + 1, step)
    start = _value(spec, first)
    if last is None:
        # `N/S` runs from N to the field's maximum, as in vixie cron.
        return range(start, spec.high + 1, step) if step_text is not None else range(start, start + 1)
    end = _value(spec, last)
    if spec.names is _WEEKDAYS and end == 0 and start > 0:
        end = 7  # Sunday closes a range (`SAT-SUN`, `MON-SUN`) as 7, cron's other Sunday
    if start > end:
        # Suggest the wrapped range as two, written the way it was typed (`FRI-MON` -> `FRI-SUN,MON`).
        low, high = (1, 7) if spec.names is _WEEKDAYS else (spec.low, spec.high)
        named = last.isalpha() and bool(spec.names)
        show = (lambda v: spec.names[(v - spec.name_base) % len(spec.names)]) if named else str
        split = f"{first if start == high else f'{first}-{show(high)}'},{last if end == low else f'{show(low)}-{last}'}"
        advice = "" if step_text is not None else f": write {_code(split)}"
        raise CronError(f"{_code(item)} runs backwards in the {spec.name} field (the start is after the end){advice}.",
                        spec.name)
    return range(start, end + 1, step)


def _value(spec: _Field, text: str) -> int:
    named = spec.names.index(text.upper()) + spec.name_base if text.upper() in spec.names else -1
    value = int(text) if text.isdigit() else named
    if not spec.low <= value <= spec.high:
        raise CronError(f"{_code(text)} is not a valid {spec.name}: {spec.rule}", spec.name)
    return value


def _check_runs(cron: Cron) -> None:
    """Refuse `0 0 30 2 *`: restricted days (and only they) that no chosen month has."""
    if cron.days_star or not cron.weekdays_star:
        return  # every month has every weekday; with the OR rule the weekdays make it run
    lengths = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # Feb 29 exists in leap years
    if all(day > lengths[month - 1] for month in cron.months for day in cron.days):
        months = _join([_MONTH_NAMES[m - 1] for m in sorted(cron.months)])
        days = _join([_ordinal(d) for d in sorted(cron.days)], "or")
        verb = "has" if len(cron.months) == 1 else "have"
        raise CronError(f"{_code(cron.text)} never runs: {months} {verb} no {days}.", "day of month")


def zone_words(zone_name: str) -> str:
    """`Europe/Berlin` -> "Berlin time", `America/New_York` -> "New York time", UTC -> "UTC"."""
    return "UTC" if zone_name in _UTC_NAMES else zone_name.rsplit("/", 1)[-1].replace("_", " ") + " time"


def _step(values: frozenset[int], size: int) -> int | None:
    """N when `values` is exactly every Nth value from 0 and N divides the cycle (else words would lie)."""
    for step in range(1, size):
        if size % step == 0 and values == frozenset(range(0, size, step)):
            return step
    return None


def _time_words(cron: Cron) -> str | None:
    seconds, minutes, hours = cron.seconds, cron.minutes, cron.hours
    if len(minutes) == 60 and len(hours) == 24 and seconds != {0}:
        step = _step(seconds, 60)
        return None if step is None else "every second" if step == 1 else f"every {step} seconds"
    if len(seconds) == 1 and len(minutes) * len(hours) <= 6:
        (second,) = seconds
        clock = [f"{h:02}:{m:02}" + (f":{second:02}" if second else "") for h in cron._h for m in cron._m]
        return "at " + _join(clock)
    if seconds != {0}:
        return None
    first, last = cron._h[0], cron._h[-1]
    contiguous = last - first + 1 == len(hours)
    span = "" if len(hours) == 24 else f" from {first:02}:00 to {last:02}:{cron._m[-1]:02}"
    step = _step(minutes, 60)
    if step is not None and contiguous:
        return ("every minute" if step == 1 else f"every {step} minutes") + span
    if minutes == {0} and contiguous:
        return "every hour on the hour" + span
    if len(minutes) == 1 and len(hours) == 24:
        return f"every hour at {cron._m[0]} minutes past"
    return None


def _day_words(cron: Cron, every_day: str) -> str:
    all_days, all_weekdays = len(cron.days) == 31, len(cron.weekdays) == 7
    either = not (cron.days_star or cron.weekdays_star)  # vixie's OR rule
    if either and (all_days or all_weekdays) or (all_days and all_weekdays):
        return every_day + _months_suffix(cron)
    weekdays = sorted(cron.weekdays)
    plural = _join([_DAY_NAMES[d] + "s" for d in weekdays])
    if either:
        return f" on the {_join(_spans(cron.days, _ordinal))} of every month and on {plural}" + _months_suffix(cron)
    if not all_days:
        if len(cron.months) == 1:
            (month,) = cron.months
            return f" on {_numbers(cron.days)} {_MONTH_NAMES[month - 1]}"
        months = "every month" if len(cron.months) == 12 else _month_list(cron.months)
        return f" on the {_join(_spans(cron.days, _ordinal))} of {months}"
    if len(weekdays) >= 3 and weekdays[-1] - weekdays[0] + 1 == len(weekdays):
        return f", {_DAY_NAMES[weekdays[0]]} to {_DAY_NAMES[weekdays[-1]]}" + _months_suffix(cron, ",")
    return f" on {plural}" + _months_suffix(cron)


def _months_suffix(cron: Cron, separator: str = "") -> str:
    return "" if len(cron.months) == 12 else f"{separator} in {_month_list(cron.months)}"


def _field_words(cron: Cron) -> str:
    """Field by field, for schedules too irregular for a natural sentence."""
    minutes = "every minute of " if len(cron.minutes) == 60 else f"{_counted('minute', cron.minutes)} past "
    hours = "every hour" if len(cron.hours) == 24 else _counted("hour", cron.hours)
    words = minutes + hours
    if cron.seconds != {0}:
        seconds = "every second" if len(cron.seconds) == 60 else _counted("second", cron.seconds)
        words = f"{seconds} of {words}"
    parts = [words if words.startswith("every") else "at " + words]
    all_days, all_weekdays = len(cron.days) == 31, len(cron.weekdays) == 7
    days = f"on {_counted('day', cron.days)} of the month"
    weekdays = "on " + _join([_DAY_NAMES[d] + "s" for d in sorted(cron.weekdays)])
    if cron.days_star or cron.weekdays_star:
        parts += [days] if not all_days else [weekdays] if not all_weekdays else []
    elif not (all_days or all_weekdays):
        parts.append(f"{days} and {weekdays}")
    if len(cron.months) < 12:
        parts.append(f"in {_month_list(cron.months)}")
    return ", ".join(parts)


def _counted(unit: str, values: frozenset[int]) -> str:
    return f"{unit}{'s' if len(values) > 1 else ''} {_numbers(values)}"


def _spans(values: frozenset[int], show: Callable[[int], str] = str) -> list[str]:
    """Runs of three or more as "A to B", shorter ones value by value."""
    words: list[str] = []
    for _, pairs in itertools.groupby(enumerate(sorted(values)), lambda pair: pair[1] - pair[0]):
        run = [value for _, value in pairs]
        words.extend([f"{show(run[0])} to {show(run[-1])}"] if len(run) >= 3 else map(show, run))
    return words


def _numbers(values: frozenset[int]) -> str:
    ordered = sorted(values)
    step = ordered[1] - ordered[0] if len(ordered) > 1 else 0
    if len(ordered) >= 5 and step > 1 and ordered == list(range(ordered[0], ordered[-1] + 1, step)):
        return f"{ordered[0]} to {ordered[-1]} in steps of {step}"
    return _join(_spans(values))


def _month_list(months: frozenset[int]) -> str:
    return _join(_spans(months, lambda m: _MONTH_NAMES[m - 1]))


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _join(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"

from __future__ import annotations

from datetime import date, datetime

import pytest

from workers.grammar.dates import RANGE_FORMS, DateRange, RangeError, parse_range

TODAY = date(2026, 3, 15)


@pytest.mark.parametrize(
    ("text", "today", "start", "end"),
    [
        ("2026-03-01", TODAY, date(2026, 3, 1), date(2026, 3, 1)),
        ("2026-3-1", TODAY, date(2026, 3, 1), date(2026, 3, 1)),
        ("2026-03-01..2026-03-10", TODAY, date(2026, 3, 1), date(2026, 3, 10)),
        ("  2026-03-01 .. 2026-03-10 ", TODAY, date(2026, 3, 1), date(2026, 3, 10)),
        ("2026-03-10..2026-03-10", TODAY, date(2026, 3, 10), date(2026, 3, 10)),
        ("2026-03-01..today", TODAY, date(2026, 3, 1), TODAY),
        ("2026-03-01..Yesterday", TODAY, date(2026, 3, 1), date(2026, 3, 14)),
        ("today", TODAY, TODAY, TODAY),
        ("TODAY", TODAY, TODAY, TODAY),
        ("yesterday", TODAY, date(2026, 3, 14), date(2026, 3, 14)),
        ("yesterday", date(2026, 3, 1), date(2026, 2, 28), date(2026, 2, 28)),
        ("yesterday", date(2024, 3, 1), date(2024, 2, 29), date(2024, 2, 29)),
        ("yesterday", date(2026, 1, 1), date(2025, 12, 31), date(2025, 12, 31)),
        ("last7d", TODAY, date(2026, 3, 8), date(2026, 3, 14)),
        ("Last7D", date(2026, 3, 3), date(2026, 2, 24), date(2026, 3, 2)),
        ("last30d", TODAY, date(2026, 2, 13), date(2026, 3, 14)),
        ("last30d", date(2024, 3, 15), date(2024, 2, 14), date(2024, 3, 14)),
        ("this-month", TODAY, date(2026, 3, 1), TODAY),
        ("this-month", date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 1)),
        ("last-month", TODAY, date(2026, 2, 1), date(2026, 2, 28)),
        ("last-month", date(2024, 3, 31), date(2024, 2, 1), date(2024, 2, 29)),
        ("last-month", date(2026, 1, 10), date(2025, 12, 1), date(2025, 12, 31)),
        ("last-month", date(2026, 5, 31), date(2026, 4, 1), date(2026, 4, 30)),
        ("2024-02-29", TODAY, date(2024, 2, 29), date(2024, 2, 29)),
        ("2000-02-29", TODAY, date(2000, 2, 29), date(2000, 2, 29)),
    ],
)
def test_accepted_forms(text: str, today: date, start: date, end: date) -> None:
    found = parse_range(text, today)
    assert (found.start, found.end) == (start, end)
    assert not found.has_time
    assert found.text == text.strip()


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-03-01T10:00..2026-03-02T09:30", datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 2, 9, 30)),
        ("2026-03-01t7:05..2026-03-01T08:00", datetime(2026, 3, 1, 7, 5), datetime(2026, 3, 1, 8, 0)),
        # A bare date beside a time: 00:00 for the start, 23:59 for the end.
        ("2026-03-01..2026-03-02T12:00", datetime(2026, 3, 1, 0, 0), datetime(2026, 3, 2, 12, 0)),
        ("2026-03-01T12:00..2026-03-02", datetime(2026, 3, 1, 12, 0), datetime(2026, 3, 2, 23, 59)),
        ("2026-03-14T12:00..today", datetime(2026, 3, 14, 12, 0), datetime(2026, 3, 15, 23, 59)),
    ],
)
def test_times_where_allowed(text: str, start: datetime, end: datetime) -> None:
    found = parse_range(text, TODAY, allow_time=True)
    assert (found.start, found.end) == (start, end)
    assert found.has_time


@pytest.mark.parametrize("text", ["yesterday", "2026-03-01..2026-03-05", "last7d"])
def test_dates_stay_dates_when_times_are_allowed(text: str) -> None:
    found = parse_range(text, TODAY, allow_time=True)
    assert not found.has_time
    assert type(found.start) is date and type(found.end) is date


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, "Missing date range. Use one of: " + RANGE_FORMS),
        ("2026-02-30", {}, "2026-02-30 is not a date: February 2026 has 28 days."),
        ("2025-02-29", {}, "2025-02-29 is not a date: February 2025 has 28 days."),
        ("1900-02-29", {}, "1900-02-29 is not a date: February 1900 has 28 days."),
        ("2026-04-31..2026-05-01", {}, "2026-04-31 is not a date: April 2026 has 30 days."),
        ("2026-13-01", {}, "2026-13-01 is not a date: months run 01-12."),
        ("2026-00-10", {}, "2026-00-10 is not a date: months run 01-12."),
        ("0000-01-01", {}, "0000-01-01 is not a date: years start at 0001."),
        ("2026-03-05..2026-03-01", {}, "The range ends 2026-03-01, before it starts 2026-03-05."),
        ("today..yesterday", {}, "The range ends 2026-03-14, before it starts 2026-03-15."),
        ("2026-03-16", {}, "The range ends 2026-03-16, which is in the future (today is 2026-03-15)."),
        ("2026-03-01..2026-04-01", {}, "The range ends 2026-04-01, which is in the future"),
        ("2026-03-01..", {}, "`2026-03-01..` is missing its end."),
        ("..2026-03-01", {}, "`..2026-03-01` is missing its start."),
        ("2026-03-01..2026-03-02..2026-03-03", {}, "is not a date range. Use one of: " + RANGE_FORMS),
        ("last week", {}, "`last week` is not a date range. Use one of: " + RANGE_FORMS),
        ("lastmonth", {}, "`lastmonth` is not a date range. Did you mean `last-month`?"),
        ("lastweek", {}, "`lastweek` is not a date range. Use one of: " + RANGE_FORMS),
        ("last7days", {}, "Did you mean `last7d`?"),
        ("this_month", {}, "Did you mean `this-month`?"),
        ("03/01/2026", {}, "`03/01/2026` is not a date range. Use one of:"),
        ("last7d..today", {}, "`last7d..today` is not a date range."),
        ("2026-03-01T10:00..2026-03-02", {}, "2026-03-01T10:00: this command takes dates, not times"),
        ("2026-03-01..2026-03-02T10:00", {}, "2026-03-02T10:00: this command takes dates, not times"),
        (
            "2026-03-01T10:00..2026-03-01T09:00",
            {"allow_time": True},
            "The range ends 2026-03-01T09:00, before it starts 2026-03-01T10:00.",
        ),
        ("2026-03-01T24:00..2026-03-02", {"allow_time": True}, "2026-03-01T24:00 is not a time"),
        ("2026-03-01T10:60..2026-03-02", {"allow_time": True}, "2026-03-01T10:60 is not a time"),
        ("2026-02-30T10:00..2026-03-02", {"allow_time": True}, "2026-02-30T10:00 is not a date"),
        ("2026-03-16T00:00..2026-03-16T01:00", {"allow_time": True}, "which is in the future"),
        ("2026-03-01T10:00", {"allow_time": True}, "2026-03-01T10:00 is a single minute; give a range such as"),
        ("bogus", {"allow_time": True}, "`YYYY-MM-DDTHH:MM` at either end of a range"),
        ("last30d", {"max_days": 14}, "The range covers 30 days; at most 14 are allowed here."),
        ("2025-03-13..2026-03-14", {"max_days": 366}, "The range covers 367 days; at most 366"),
    ],
)
def test_errors_name_the_problem(text: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RangeError) as raised:
        parse_range(text, TODAY, **kwargs)  # type: ignore[arg-type]
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "max_days"),
    [("2025-03-15..2026-03-14", 365), ("2024-03-15..2025-03-15", 366), ("last30d", 30), ("today", 1)],
)
def test_max_days_is_inclusive(text: str, max_days: int) -> None:
    assert parse_range(text, TODAY, max_days=max_days).days == max_days


def test_range_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_range("nope", TODAY)


@pytest.mark.parametrize(
    ("found", "days", "shown"),
    [
        (DateRange(date(2026, 3, 1), date(2026, 3, 1), "x"), 1, "2026-03-01"),
        (DateRange(date(2026, 2, 27), date(2026, 3, 2), "x"), 4, "2026-02-27..2026-03-02"),
        (DateRange(date(2024, 2, 1), date(2024, 2, 29), "x"), 29, "2024-02-01..2024-02-29"),
        (DateRange(date(2025, 1, 1), date(2025, 12, 31), "x"), 365, "2025-01-01..2025-12-31"),
        (
            DateRange(datetime(2026, 3, 1, 23, 0), datetime(2026, 3, 2, 1, 0), "x"),
            2,
            "2026-03-01T23:00..2026-03-02T01:00",
        ),
        (DateRange(datetime(2026, 3, 1, 8, 0), datetime(2026, 3, 1, 9, 0), "x"), 1, "2026-03-01T08:00..2026-03-01T09:00"),
    ],
)
def test_days_and_str(found: DateRange, days: int, shown: str) -> None:
    assert found.days == days
    assert str(found) == shown


def test_str_of_a_keyword_range_shows_the_dates() -> None:
    assert str(parse_range("last-month", TODAY)) == "2026-02-01..2026-02-28"

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from workers.digests.cron import Cron, CronError, parse_cron, zone_words

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
ALL_MINUTES = frozenset(range(60))
WEEKDAYS = frozenset(range(5))


def at(*args: int, zone: ZoneInfo = UTC) -> float:
    """Epoch seconds of a wall time in `zone` (fold=0)."""
    return datetime(*args, tzinfo=zone).timestamp()


def utc(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("0 9 * * MON-FRI", {"minutes": {0}, "hours": {9}, "weekdays": WEEKDAYS, "days_star": True}),
        ("*/15 * * * *", {"minutes": {0, 15, 30, 45}, "hours": set(range(24)), "seconds": {0}}),
        ("5-20/5 1,2 * * *", {"minutes": {5, 10, 15, 20}, "hours": {1, 2}}),
        ("50/5 * * * *", {"minutes": {50, 55}}),  # N/S runs to the field's maximum
        ("0 0 1,15 jan,Jul ?", {"days": {1, 15}, "months": {1, 7}, "weekdays_star": True, "days_star": False}),
        ("0 0 * * 0", {"weekdays": {6}}),  # cron's 0 is Sunday: Python's 6
        ("0 0 * * 7", {"weekdays": {6}}),  # and so is 7
        ("0 0 * * 1-5", {"weekdays": WEEKDAYS}),
        ("0 0 * * */2", {"weekdays": {6, 1, 3, 5}}),  # 0,2,4,6: Sun, Tue, Thu, Sat
        ("0 0 * * SAT-SUN", {"weekdays": {5, 6}}),  # Sunday closing a range is 7, not a reversal
        ("0 0 * * MON-SUN", {"weekdays": set(range(7)), "weekdays_star": False}),
        ("0 0 * FEB-APR *", {"months": {2, 3, 4}}),
        ("*/5 * * * * *", {"seconds": set(range(0, 60, 5)), "minutes": ALL_MINUTES}),
        ("30 0 9 * * *", {"seconds": {30}, "minutes": {0}, "hours": {9}}),
        ("  0   9 * *   MON ", {"text": "0 9 * * MON"}),
        ("@hourly", {"minutes": {0}, "hours": set(range(24)), "text": "@hourly"}),
        ("@daily", {"minutes": {0}, "hours": {0}, "days_star": True}),
        ("@midnight", {"minutes": {0}, "hours": {0}}),
        ("@weekly", {"weekdays": {6}, "hours": {0}}),
        ("@monthly", {"days": {1}, "months": set(range(1, 13))}),
        ("@yearly", {"days": {1}, "months": {1}}),
        ("@ANNUALLY", {"days": {1}, "months": {1}}),
    ],
)
def test_parse(text: str, fields: dict[str, object]) -> None:
    cron = parse_cron(text)
    for name, expected in fields.items():
        assert getattr(cron, name) == expected, name


@pytest.mark.parametrize(
    ("text", "field", "shows"),
    [
        ("0 25 * * *", "hour", "`25` is not a valid hour: hours go from 0 to 23."),
        ("60 * * * *", "minute", "`60` is not a valid minute"),
        ("0 9 * *", "", "The schedule needs 5 fields (minute hour day-of-month month day-of-week), "
         "as in `0 9 * * MON-FRI`; `0 9 * *` has 4."),
        ("0 0 0 9 * * *", "", "`0 0 0 9 * * *` has 7"),
        ("", "", "empty"),
        ("0 9 * * FOO", "day of week", "`FOO` is not a valid day of week: use 0-7 or MON..SUN."),
        ("0 9 * * 8", "day of week", "`8`"),
        ("0 9 * FOO *", "month", "`FOO` is not a valid month: use 1-12 or JAN..DEC."),
        ("0 9 * 13 *", "month", "`13`"),
        ("0 9 0 * *", "day of month", "`0` is not a valid day of month"),
        ("0 9 32 * *", "day of month", "`32`"),
        ("0 MON * * *", "hour", "`MON` is not a valid hour"),
        ("*/0 * * * *", "minute", "`*/0` has a step of 0"),
        ("*/x * * * *", "minute", "`*/x`"),
        ("1,,2 * * * *", "minute", "`1,,2` has an empty item"),
        ("0 9 * * FRI-MON", "day of week", "`FRI-MON` runs backwards in the day of week field"),
        ("0 17-9 * * *", "hour", "write `17-23,0-9`"),
        ("0 9 * * 5-1", "day of week", "write `5-7,1`"),
        ("? 9 * * *", "minute", "`?` is not a valid minute"),
        ("0 9 * * MON#2", "day of week", "`MON#2`"),
        ("-5 * * * *", "minute", "`-5`"),
        ("61 * * * * *", "second", "`61` is not a valid second"),
        ("@often", "", "`@often` is not a schedule I know"),
        ("0 0 30 2 *", "day of month", "`0 0 30 2 *` never runs: February has no 30th."),
        ("0 0 31 4,6,9,11 *", "day of month", "never runs: April, June, September and November have no 31st."),
        ("0 0 30,31 2 *", "day of month", "February has no 30th or 31st."),
    ],
)
def test_parse_refuses(text: str, field: str, shows: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_cron(text)
    assert caught.value.field == field
    assert shows in str(caught.value)


def test_feb_30_runs_when_weekdays_also_count() -> None:
    # Vixie OR: the Mondays keep it alive, so it is not refused.
    assert parse_cron("0 0 30 2 MON").upcoming(at(2027, 1, 1), UTC, 1) == [at(2027, 2, 1)]


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        # vixie OR: the 13th or any Friday (2027-08-13 is itself a Friday)
        ("0 0 13 * FRI", at(2027, 8, 1), [at(2027, 8, 6), at(2027, 8, 13), at(2027, 8, 20)]),
        ("0 0 13 * MON", at(2027, 8, 1), [at(2027, 8, 2), at(2027, 8, 9), at(2027, 8, 13)]),
        # one side `*`: both must match (Fridays in August only)
        ("0 0 * 8 FRI", at(2027, 8, 28), [at(2028, 8, 4)]),
        # weekdays across a weekend (2027-01-08 is a Friday)
        ("0 9 * * MON-FRI", at(2027, 1, 8, 9), [at(2027, 1, 11, 9), at(2027, 1, 12, 9)]),
        ("0 9 * * 0", at(2027, 1, 8), [at(2027, 1, 10, 9)]),
        ("0 9 * * 7", at(2027, 1, 8), [at(2027, 1, 10, 9)]),
        # month ends
        ("0 0 31 * *", at(2027, 1, 31), [at(2027, 3, 31), at(2027, 5, 31), at(2027, 7, 31)]),
        ("59 23 28-31 2 *", at(2027, 2, 28, 23, 59), [at(2028, 2, 28, 23, 59), at(2028, 2, 29, 23, 59)]),
        ("0 0 29 2 *", at(2026, 3, 1), [at(2028, 2, 29), at(2032, 2, 29)]),  # leap day
        ("0 0 1 1 *", at(2026, 12, 31, 23, 59, 59), [at(2027, 1, 1), at(2028, 1, 1)]),
        # strictly after, and fractional `after`
        ("* * * * *", at(2027, 1, 1), [at(2027, 1, 1, 0, 1)]),
        ("* * * * *", at(2027, 1, 1) + 0.5, [at(2027, 1, 1, 0, 1)]),
        ("*/2 * * * * *", at(2027, 1, 1) + 0.5, [at(2027, 1, 1, 0, 0, 2), at(2027, 1, 1, 0, 0, 4)]),
        ("59 59 23 31 12 *", at(2027, 6, 1), [at(2027, 12, 31, 23, 59, 59)]),
    ],
)
def test_upcoming_utc(text: str, after: float, expected: list[float]) -> None:
    assert parse_cron(text).upcoming(after, UTC, len(expected)) == expected


@pytest.mark.parametrize(
    ("text", "zone", "after", "expected"),
    [
        ("0 9 * * MON-FRI", "America/New_York", at(2027, 1, 8, 15), ["2027-01-11 14:00:00"]),
        ("0 9 * * MON-FRI", "America/New_York", at(2027, 7, 9, 14), ["2027-07-12 13:00:00"]),
        ("0 9 * * *", "Asia/Kolkata", at(2027, 1, 1), ["2027-01-01 03:30:00", "2027-01-02 03:30:00"]),
        ("0 0 * * *", "Asia/Kolkata", at(2027, 1, 1), ["2027-01-01 18:30:00"]),
        # Lord Howe shifts by half an hour: 02:00 -> 02:30 on 2027-10-03, 02:00 -> 01:30 on 2027-04-04.
        ("15 2 * * *", "Australia/Lord_Howe", at(2027, 10, 2), ["2027-10-02 15:45:00"]),  # 02:15 is in the gap (+10:30)
        ("45 1 * * *", "Australia/Lord_Howe", at(2027, 4, 3), ["2027-04-03 14:45:00"]),  # first 01:45 (+11)
        ("0 9 * * *", "Europe/Berlin", at(2027, 3, 27, 12), ["2027-03-28 07:00:00", "2027-03-29 07:00:00"]),
    ],
)
def test_upcoming_zones(text: str, zone: str, after: float, expected: list[str]) -> None:
    assert [utc(t) for t in parse_cron(text).upcoming(after, ZoneInfo(zone), len(expected))] == expected


def test_dst_gap_runs_once_at_the_mapped_instant() -> None:
    fires = parse_cron("30 2 * * *").between(at(2027, 3, 27), at(2027, 3, 30), BERLIN)
    assert [utc(t) for t in fires] == ["2027-03-27 01:30:00", "2027-03-28 01:30:00", "2027-03-29 00:30:00"]


def test_dst_fold_runs_once_at_the_first_occurrence() -> None:
    fires = parse_cron("30 2 * * *").between(at(2027, 10, 30), at(2027, 11, 2), BERLIN)
    assert [utc(t) for t in fires] == ["2027-10-30 00:30:00", "2027-10-31 00:30:00", "2027-11-01 01:30:00"]


@pytest.mark.parametrize("day", [(2027, 3, 28), (2027, 10, 31)])
@pytest.mark.parametrize("text", ["0 * * * *", "*/30 * * * *", "*/20 2 * * *", "* 2-3 * * *"])
def test_dst_days_strictly_increasing(text: str, day: tuple[int, int, int]) -> None:
    start = at(*day, zone=BERLIN) - 3600
    fires = parse_cron(text).between(start, start + 2 * 86_400, BERLIN)
    assert fires == sorted(set(fires))
    assert all(b > a for a, b in zip(fires, fires[1:]))


def test_hourly_skips_the_repeated_hour_and_covers_the_gap() -> None:
    cron = parse_cron("0 * * * *")
    fall = cron.between(at(2027, 10, 30, 22), at(2027, 10, 31, 3), BERLIN)
    # 02:00 CEST (00:00 UTC) runs; 02:00 CET (01:00 UTC) is the repeat and does not.
    assert [utc(t)[11:16] for t in fall] == ["23:00", "00:00", "02:00", "03:00"]
    spring = cron.between(at(2027, 3, 27, 23), at(2027, 3, 28, 3), BERLIN)
    # 02:00 does not exist: it runs at 01:00 UTC, the same instant as 03:00 CEST, once.
    assert [utc(t)[11:16] for t in spring] == ["00:00", "01:00", "02:00", "03:00"]


def _oracle(cron: Cron, zone: ZoneInfo, start: datetime, minutes: int) -> list[float]:
    """Every wall minute turned into its fold=0 instant, kept when it matches: slow and obvious."""
    times = set()
    for n in range(minutes):
        wall = start + timedelta(minutes=n)
        if cron.day_matches(wall.date()) and wall.hour in cron.hours and wall.minute in cron.minutes:
            times.add(wall.replace(tzinfo=zone).timestamp())
    return sorted(times)


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/Berlin", (2027, 3, 27)), ("Europe/Berlin", (2027, 10, 30)), ("America/New_York", (2027, 3, 13)),
     ("America/New_York", (2027, 11, 6)), ("Australia/Lord_Howe", (2027, 4, 3)),
     ("Australia/Lord_Howe", (2027, 10, 2))],
)
@pytest.mark.parametrize("text", ["*/7 * * * *", "0,30 1-3 * * *", "45 1,2 * * *"])
def test_matches_brute_force_across_transitions(text: str, zone: str, day: tuple[int, int, int]) -> None:
    cron, tz = parse_cron(text), ZoneInfo(zone)
    start = datetime(*day)
    expected = _oracle(cron, tz, start, 3 * 24 * 60)
    first, end = start.replace(tzinfo=tz).timestamp(), (start + timedelta(days=2)).replace(tzinfo=tz).timestamp()
    got = cron.between(first - 1, end, tz)
    assert got == [t for t in expected if t <= end] and len(got) >= 4


def test_between_bounds_and_limit() -> None:
    cron = parse_cron("0 * * * *")
    start, end = at(2027, 1, 1), at(2027, 1, 2)
    fires = cron.between(start, end, UTC)
    assert len(fires) == 24  # start is exclusive, end inclusive
    assert fires[0] == at(2027, 1, 1, 1) and fires[-1] == end
    assert cron.between(start - 1, end - 1, UTC)[0] == start
    assert cron.between(start, end, UTC, limit=5) == fires[:5]
    assert cron.between(end, start, UTC) == []
    assert len(parse_cron("*/5 * * * * *").between(start, start + 3600, UTC)) == 720


@pytest.mark.parametrize(
    ("text", "gap"),
    [("*/5 * * * *", 300), ("0 9 * * *", 86_400), ("0,1 9 * * *", 60), ("0 9,10 * * *", 3600),
     ("*/5 * * * * *", 5), ("0 9 * * MON-FRI", 86_400)],
)
def test_shortest_gap(text: str, gap: float) -> None:
    assert parse_cron(text).shortest_gap(at(2027, 1, 1), UTC) == gap


def test_shortest_gap_sees_the_short_dst_day() -> None:
    # 500 daily fires from January cross Berlin's spring-forward: that day is 23 hours long.
    assert parse_cron("0 9 * * *").shortest_gap(at(2027, 1, 1), BERLIN) == 82_800


def test_shortest_gap_of_one_sample_is_infinite() -> None:
    assert parse_cron("0 9 * * *").shortest_gap(at(2027, 1, 1), BERLIN, samples=1) == float("inf")


@pytest.mark.parametrize(
    ("text", "zone", "words"),
    [
        ("0 9 * * MON-FRI", "Europe/Berlin", "at 09:00, Monday to Friday, Berlin time"),
        ("0 9 * * *", "Europe/Berlin", "at 09:00 every day, Berlin time"),
        ("30 8 * * MON", "Europe/Berlin", "at 08:30 on Mondays, Berlin time"),
        ("0 9,17 * * *", "Europe/Berlin", "at 09:00 and 17:00 every day, Berlin time"),
        ("0 8 1 * *", "Europe/Berlin", "at 08:00 on the 1st of every month, Berlin time"),
        ("*/15 * * * *", "Europe/Berlin", "every 15 minutes, Berlin time"),
        ("0 * * * *", "Europe/Berlin", "every hour on the hour, Berlin time"),
        ("*/5 * * * * *", "UTC", "every 5 seconds, UTC"),
        ("0 9 * * SAT,SUN", "Europe/Berlin", "at 09:00 on Saturdays and Sundays, Berlin time"),
        ("0 7 1 1 *", "Europe/Berlin", "at 07:00 on 1 January, Berlin time"),
        ("0 9 * * MON-FRI", "America/New_York", "at 09:00, Monday to Friday, New York time"),
        ("*/15 9-17 * * MON-FRI", "UTC", "every 15 minutes from 09:00 to 17:45, Monday to Friday, UTC"),
        ("0 9 1 * MON", "UTC", "at 09:00 on the 1st of every month and on Mondays, UTC"),
        ("0 9 1,15 1,7 *", "UTC", "at 09:00 on the 1st and 15th of January and July, UTC"),
        ("0 9 * 3-6 MON-FRI", "UTC", "at 09:00, Monday to Friday, in March to June, UTC"),
        ("0 9 * 3 *", "UTC", "at 09:00 every day in March, UTC"),
        ("15 * * * *", "UTC", "every hour at 15 minutes past, UTC"),
        ("30 0 9 * * *", "UTC", "at 09:00:30 every day, UTC"),
        ("@weekly", "UTC", "at 00:00 on Sundays, UTC"),
        # fallbacks: field by field, never a rounder but wrong sentence
        ("5,35 8-18 1,15 3-6 MON", "Europe/Berlin",
         "at minutes 5 and 35 past hours 8 to 18, on days 1 and 15 of the month and on Mondays, in March to June, "
         "Berlin time"),
        ("*/7 * * * *", "UTC", "at minutes 0 to 56 in steps of 7 past every hour, UTC"),  # not "every 7 minutes"
        ("0 0-23/2 * * *", "UTC", "at minute 0 past hours 0 to 22 in steps of 2, UTC"),
        ("* 8,18 * * *", "UTC", "every minute of hours 8 and 18, UTC"),
        ("10,20 * * * * *", "UTC", "at seconds 10 and 20 of every minute of every hour, UTC"),
        ("*/7 * * * * *", "UTC", "at seconds 0 to 56 in steps of 7 of every minute of every hour, UTC"),
        ("5,35 8-18 * * SAT,SUN", "UTC", "at minutes 5 and 35 past hours 8 to 18, on Saturdays and Sundays, UTC"),
    ],
)
def test_describe(text: str, zone: str, words: str) -> None:
    assert parse_cron(text).describe(zone) == words


@pytest.mark.parametrize(
    ("zone", "words"),
    [("Europe/Berlin", "Berlin time"), ("America/New_York", "New York time"), ("UTC", "UTC"), ("Etc/UTC", "UTC"),
     ("America/Argentina/Buenos_Aires", "Buenos Aires time")],
)
def test_zone_words(zone: str, words: str) -> None:
    assert zone_words(zone) == words


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo"]


def _items(low: int, high: int, size: int) -> st.SearchStrategy[str]:
    return st.sets(st.integers(low, high), min_size=1, max_size=size).map(lambda s: ",".join(map(str, sorted(s))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    fields=st.tuples(_items(0, 59, 3), _items(0, 23, 4), st.one_of(st.just("*"), _items(1, 31, 3)),
                     st.one_of(st.just("*"), _items(1, 12, 3)), st.one_of(st.just("*"), _items(0, 7, 3))),
    seconds=st.one_of(st.none(), _items(0, 59, 2)),
    after=st.integers(int(at(2026, 1, 1)), int(at(2030, 12, 31))),
    zone_name=st.sampled_from(ZONES),
)
def test_next_after_properties(fields: tuple[str, ...], seconds: str | None, after: int, zone_name: str) -> None:
    text = " ".join(((seconds,) if seconds else ()) + fields)
    try:
        cron = parse_cron(text)
    except CronError:
        assume(False)
    zone = ZoneInfo(zone_name)
    times = cron.upcoming(after, zone, 4)
    assert times[0] > after
    assert all(b > a for a, b in zip(times, times[1:]))
    for t in times:
        assert t == int(t)
        local = datetime.fromtimestamp(t, zone)
        assert _fires_at(cron, local.replace(tzinfo=None)) and local.fold == 0 or _gap_wall_fires(cron, t, zone)


def _fires_at(cron: Cron, wall: datetime) -> bool:
    return (cron.day_matches(wall.date()) and wall.hour in cron.hours and wall.minute in cron.minutes
            and wall.second in cron.seconds)


def _gap_wall_fires(cron: Cron, t: float, zone: ZoneInfo) -> bool:
    """`t` is where a matching wall time in a spring-forward gap was put (fold=0, the offset before)."""
    before = datetime.fromtimestamp(t - 3 * 3600, zone).utcoffset()
    wall = datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None) + before
    exists = datetime.fromtimestamp(wall.replace(tzinfo=zone).timestamp(), zone).replace(tzinfo=None) == wall
    return not exists and wall.replace(tzinfo=zone).timestamp() == t and _fires_at(cron, wall)

"""Everflow: the pure pieces (zones, countries, filters, retention, windows, rows) and the builder
driven by a tiny synchronous driver against the sandbox mounted in-process (the engine that runs
builds for real is tested on its own)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from bot.builtin import build_registry
from devkit.sandbox import Sandbox
from devkit.sandbox.server import Exchange
from tests.everflow_driver import build, client_for
from tests.harness import wait_until
from workers.errors import Refused, VendorError, VendorRateLimited, VendorTransient
from workers.intake import Context
from workers.vendors.everflow import sandbox_data as data
from workers.vendors.everflow.builder import EverflowImpressions
from workers.vendors.everflow.client import EverflowClient
from workers.vendors.everflow.countries import CountryError, country_name
from workers.vendors.everflow.filters import filters_of
from workers.vendors.everflow.limits import EverflowLimits
from workers.vendors.everflow.rows import column_order, flatten
from workers.vendors.everflow.search import PROBES, Walk, step
from workers.vendors.everflow.windows import MAX_WINDOW, cut_windows, fmt, months_before, retention_cut, wall
from workers.vendors.everflow.zones import ZoneError, zone_id
from workers.vendors.registry import CATALOGUE

DAY = 86400


@pytest.fixture(scope="module")
def everflow() -> Iterator[tuple[Sandbox, list[dict[str, Any]]]]:
    sandbox = Sandbox(apps=CATALOGUE.sandbox_apps)
    asked: list[dict[str, Any]] = []

    def watch(exchange: Exchange) -> None:
        if exchange.vendor == "everflow" and not exchange.answered:
            asked.append(exchange.request.json())

    sandbox.observer = watch
    yield sandbox, asked


def _params(start: date, end: date, *filters: tuple[str, str], tz: int = 67) -> dict[str, Any]:
    return {"op": "everflow-impressions", "start": f"{start} 00:00:00", "end": f"{end} 23:59:59", "timezone_id": tz,
            "filters": [{"resource_type": k, "filter_id_value": v} for k, v in filters]}


def _utc(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# -- pure ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "expected"), [("90", 90), ("America/Los_Angeles", 90), ("america/new_york", 80),
                                                 ("UTC", 67), ("67", 67), ("87", 87)])
def test_zones_by_id_or_name(typed: str, expected: int) -> None:
    assert zone_id(typed) == expected


@pytest.mark.parametrize("typed", ["91", "Europe/Berlin", "", "pacific"])
def test_unknown_zones_are_refused_with_the_list(typed: str) -> None:
    with pytest.raises(ZoneError, match="`90` \\(America/Los_Angeles\\)"):
        zone_id(typed)


@pytest.mark.parametrize(("typed", "expected"), [("united states", "United States"), ("US", "United States"),
                                                 ("usa", "United States"), ("  germany ", "Germany"), ("uk", "United Kingdom")])
def test_countries_by_name_code_or_alias(typed: str, expected: str) -> None:
    assert country_name(typed) == expected


def test_a_misspelt_country_gets_a_suggestion() -> None:
    with pytest.raises(CountryError, match="Did you mean `Germany`"):
        country_name("Germny")


def test_filters_follow_the_documented_shape_in_a_stable_order() -> None:
    got = filters_of({"country": ("us",), "offer": ("882", "883", "882")})
    assert got == [{"filter_id_value": "882", "resource_type": "offer"},
                   {"filter_id_value": "883", "resource_type": "offer"},
                   {"filter_id_value": "United States", "resource_type": "country"}]


@pytest.mark.parametrize(("moment", "expected"), [(datetime(2026, 5, 31, 12), datetime(2026, 2, 28, 12)),
                                                  (datetime(2026, 2, 15), datetime(2025, 11, 15)),
                                                  (datetime(2024, 5, 30), datetime(2024, 2, 29))])
def test_three_months_back(moment: datetime, expected: datetime) -> None:
    assert months_before(moment, 3) == expected


def test_retention_cuts_the_start_to_a_whole_minute() -> None:
    now = datetime(2026, 5, 20, 10, 30, 15, tzinfo=UTC).timestamp()
    start, end = wall(datetime(2026, 1, 1)), wall(datetime(2026, 3, 1))
    cut = retention_cut(start, end, now, "UTC")
    assert cut.cut and fmt(cut.start) == "2026-02-20 10:31:00" and cut.end == end
    assert not retention_cut(wall(datetime(2026, 3, 1)), end, now, "UTC").cut


@pytest.mark.parametrize("days", [1, 14, 15, 40, 93])
def test_windows_cover_the_range_without_overlap_or_gap(days: int) -> None:
    start = wall(datetime(2026, 1, 1))
    end = start + days * DAY - 1
    windows = cut_windows(start, end)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(b - a + 1 <= MAX_WINDOW for a, b in windows)
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in zip(windows, windows[1:], strict=False))


def test_rows_are_flattened_and_columns_ordered_known_first_then_sorted() -> None:
    row = {"unix_timestamp": 1, "zeta": 2, "relationship": {"offer": {"name": "A", "network_offer_id": 9}},
           "tags": ["x"], "alpha": None}
    flat = flatten(row)
    assert flat == {"unix_timestamp": 1, "zeta": 2, "relationship.offer.name": "A",
                    "relationship.offer.network_offer_id": 9, "tags": '["x"]', "alpha": None}
    assert column_order(reversed(list(flat))) == ["unix_timestamp", "relationship.offer.network_offer_id",
                                                  "relationship.offer.name", "alpha", "tags", "zeta"]


# -- the command -------------------------------------------------------------------------------


def test_the_command_makes_the_build_params() -> None:
    registry = build_registry(CATALOGUE)
    parsed = registry.parse('export everflow impressions 2026-01-05T09:00..2026-01-06T17:30 offer=882,883 '
                            'country="united states" tz=America/Los_Angeles', today=date(2026, 2, 1))
    assert parsed.spec.handler is not None
    submit = parsed.spec.handler(parsed, Context(rt=None, user_id="U1", channel_id="C1", today=date(2026, 2, 1)))  # type: ignore[arg-type]
    assert submit.kind == "build" and submit.vendor == "everflow"
    assert submit.params == {"op": "everflow-impressions", "start": "2026-01-05 09:00:00", "end": "2026-01-06 17:30:59",
                             "timezone_id": 90, "filters": filters_of({"offer": ("882", "883"), "country": ("US",)})}
    bad = "export everflow impressions yesterday country=Germny"
    with pytest.raises(Exception, match="Did you mean `Germany`"):
        registry.parse(bad, today=date(2026, 2, 1))


# -- the sandbox and the adapter -----------------------------------------------------------------


def test_more_than_14_days_is_a_400_we_call_our_bug(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = everflow
    with client_for(sandbox) as client, pytest.raises(VendorError, match="bug on our side") as caught:
        client.impressions("2026-01-01 00:00:00", "2026-01-15 00:00:00", 67, [])
    assert caught.value.status == 400 and not isinstance(caught.value, VendorTransient)


def test_over_the_cap_is_answered_with_nothing(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = everflow
    day = date.today() - timedelta(days=10)
    first = _utc(day)
    assert data.total(7, first, first + 3 * DAY - 1) > 10_000  # unfiltered days are dense
    with client_for(sandbox) as client:
        assert client.impressions(f"{day} 00:00:00", f"{day + timedelta(days=2)} 23:59:59", 67, []) == []
        assert len(client.impressions(f"{day} 00:00:00", f"{day} 00:09:59", 67, [])) == data.total(7, first, first + 599)


def test_filters_or_within_a_type_and_across_types(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = everflow
    day = date.today() - timedelta(days=12)
    with client_for(sandbox) as client:
        rows = client.impressions(f"{day} 10:00:00", f"{day} 13:59:59", 67,
                                  filters_of({"offer": ("883", "518"), "country": ("Germany", "France")}))
        both = client.impressions(f"{day} 10:00:00", f"{day} 13:59:59", 67, filters_of({"offer": ("883", "518")}))
    assert rows and {r["relationship"]["offer"]["network_offer_id"] for r in rows} <= {883, 518}
    assert {r["relationship"]["geolocation"]["country_name"] for r in rows} == {"Germany", "France"}
    assert len(rows) == sum(r["relationship"]["geolocation"]["country_name"] in ("Germany", "France") for r in both)


def test_a_window_in_another_zone_is_the_same_instants(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = everflow
    day = date.today() - timedelta(days=20)
    offer = filters_of({"offer": ("518",)})
    a = datetime.fromisoformat(f"{day}T01:00:00").replace(tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(UTC)
    b = a + timedelta(hours=3, seconds=-1)
    with client_for(sandbox) as client:
        la = client.impressions(f"{day} 01:00:00", f"{day} 03:59:59", 90, offer)
        same = client.impressions(a.strftime("%Y-%m-%d %H:%M:%S"), b.strftime("%Y-%m-%d %H:%M:%S"), 67, offer)
    assert la
    assert [r["impression_id"] for r in la] == [r["impression_id"] for r in same]


def test_429_hands_on_retry_after(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = everflow
    sandbox.inject("everflow", "impressions", "status", status=429, retry_after=7)
    with client_for(sandbox) as client, pytest.raises(VendorRateLimited) as caught:
        client.impressions("2026-01-01 00:00:00", "2026-01-01 00:00:59", 67, [])
    assert caught.value.retry_after == 7


def test_limits_are_shared_through_redis_and_a_busy_one_asks_for_a_retry(client: redis.Redis) -> None:
    limits = [EverflowLimits(RedisBackend(client=client), concurrent=2, patience=0.2) for _ in range(3)]
    holding, release = threading.Barrier(3), threading.Event()

    def hold(lim: EverflowLimits) -> None:
        with lim.slot():
            holding.wait(5)
            release.wait(5)

    threads = [threading.Thread(target=hold, args=(lim,)) for lim in limits[:2]]
    for t in threads:
        t.start()
    holding.wait(5)
    try:
        with pytest.raises(VendorTransient) as caught, limits[2].slot():
            pass
        assert caught.value.retry_after and "10 reporting requests" in str(caught.value)
    finally:
        release.set()
        for t in threads:
            t.join()
    with limits[2].slot():  # free again
        pass


def test_a_process_holds_at_most_its_answers_and_a_long_wait_asks_for_a_retry() -> None:
    limits = EverflowLimits(StubBackend(), answers=2, answer_wait=0.2)
    inside, most, lock = [0], [0], threading.Lock()
    go = threading.Barrier(8)

    def read() -> None:
        go.wait(5)
        with limits.answer(), limits.answer():  # re-entered by the same thread: one answer
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == limits.most_held == 2
    release = threading.Event()

    def hold() -> None:
        with limits.answer():
            release.wait(5)

    busy = [threading.Thread(target=hold) for _ in range(2)]
    for t in busy:
        t.start()
    try:
        wait_until(lambda: limits._holding == 2, timeout=5, what="two answers held")
        with pytest.raises(VendorTransient, match=r"at most 2 at once") as caught, limits.answer():
            pass
        assert caught.value.retry_after
    finally:
        release.set()
        for t in busy:
            t.join()


def test_a_fetch_writes_its_rows_while_holding_an_answer_many_threads_at_most_two(
    everflow: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, _ = everflow
    limits = EverflowLimits(StubBackend(), answers=2)
    client = EverflowClient(sandbox.base_url("everflow"), Sandbox.TOKEN, transport=sandbox.transport(), limits=limits)
    builder = EverflowImpressions()
    seen: list[int] = []

    class Sink:
        count = 0

        def write(self, row: Any) -> None:
            seen.append(limits._holding)  # a row is written while its answer is held
            self.count += 1
            if self.count == 1:
                time.sleep(0.05)  # a slow disk: the other threads want answers meanwhile

    def fetch(day: date, out: list[int]) -> None:
        params = _params(day, day, ("offer", "883"))
        part = builder.plan(client, params).parts[0]
        sink = Sink()
        out.append(builder.fetch(client, params, part, sink).rows)
        assert sink.count == out[-1]

    got: list[int] = []
    end = date.today() - timedelta(days=1)
    threads = [threading.Thread(target=fetch, args=(end - timedelta(days=i), got)) for i in range(8)]
    with client:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(got) == 8 and all(got), got
    assert limits.most_held == 2 and seen and 1 <= min(seen) and max(seen) <= 2


# -- the builder, end to end on the sandbox ------------------------------------------------------


def test_a_dense_40_day_range_comes_back_complete_once(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, asked = everflow
    asked.clear()
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=39)
    built = build(sandbox, _params(start, end, ("offer", "883")))
    expected = data.total(7, _utc(start), _utc(end) + DAY - 1, [883])
    ids = [row["impression_id"] for row in built.rows]
    assert len(ids) == expected and len(set(ids)) == expected, "every impression, none twice"
    assert any(not data.level(7, d, 883) == 1 for d in range(_utc(start) // DAY, _utc(end) // DAY)), "dense days in it"
    spans = [(datetime.fromisoformat(a["from"]), datetime.fromisoformat(a["to"])) for a in asked]
    assert all((b - a).total_seconds() + 1 <= MAX_WINDOW for a, b in spans), "no request over 14 days"
    assert built.columns[:3] == ["unix_timestamp", "impression_id", "transaction_id"] and "sandbox_tier" in built.columns
    assert sum(built.tally["offer"].values()) == expected and list(built.tally["offer"]) == ["Beta Games CPI (883)"]
    # The least possible is rows / 10 000 plus one per 14-day window (3 here); one offer
    # costs up to 2.0x of it over seeds and ranges (bench/everflow_offline.py): this catches a regression.
    assert built.requests <= 2.2 * (expected / 10_000 + 3), built.requests


def test_traffic_that_stops_inside_a_window_makes_the_next_empty_answer_a_probe() -> None:
    # 10 impressions a minute for 6 hours, then nothing: the window's last hour is silent where
    # 600 were expected, so the empty answer after it is probed (quiet), not retried as over the cap.
    stop = 6 * 3600

    def ask(first: int, last: int) -> list[dict[str, Any]]:
        return [{"unix_timestamp": t} for t in range(first - first % 6 + 6, min(last, stop - 1) + 1, 6) if t >= first]

    walk = Walk(0, 14 * DAY - 1, rate=1 / 6, last=10 * 3600)  # a window of about 13 hours
    first = step(walk, ask, lambda row: row["unix_timestamp"])
    assert first.rows and len(first.then) == 1
    paused = first.then[0]
    assert paused.rate == 0 and paused.start > stop, paused
    second = step(paused, ask, lambda row: row["unix_timestamp"])
    assert second.rows == [] and second.requests == 1 + PROBES and second.quiet == 14 * DAY - paused.start
    assert second.then == (), "the rest of the window is taken as quiet at once"


def test_a_quiet_range_is_cheap(everflow: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, asked = everflow
    asked.clear()
    end = date.today() - timedelta(days=1)
    built = build(sandbox, _params(end - timedelta(days=19), end, ("offer", "999")))
    assert built.rows == [] and built.requests == len(asked) <= 10, built.requests


def test_retention_refuses_a_range_wholly_older_and_cuts_one_partly_older(
    everflow: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, asked = everflow
    asked.clear()
    today = date.today()
    old = today - timedelta(days=200)
    with pytest.raises(Refused, match="3 months only"):
        build(sandbox, _params(old, old + timedelta(days=5)))
    assert asked == [], "refused before any request"
    built = build(sandbox, _params(today - timedelta(days=100), today - timedelta(days=85), ("offer", "518")))
    assert "3 months only, so this export starts at" in built.note
    oldest = min(a["from"] for a in asked)
    assert oldest > f"{today - timedelta(days=100)} 00:00:00" and oldest == built.note.split("starts at ")[1][:19]

"""The fraud summary's walk: resumable after a failure, with bounded memory.

Against the 24Metrics sandbox and the private Redis: a vendor that fails in the middle of a table
(or a worker that dies between reading a page and storing it) still ends with the same summary as
an undisturbed walk, and no page is read more than once again; the stored state stays the same
size however many pages the walk reads.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import redis

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.inprocess import InProcessStack
from tests.test_flow import queued_job
from tests.test_flow_metrics24 import final
from workers.errors import VendorTransient
from workers.vendors.metrics24 import fraud
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION

END = date.today() - timedelta(days=1)
WEEK = {"start_date": str(END - timedelta(days=6)), "end_date": str(END), "integration": DEFAULT_INTEGRATION}
FOREVER = float("inf")

Hook = Callable[["Recording", tuple[str, str | None]], None]


class Recording(httpx.BaseTransport):
    """Counts the report pages read (by table and cursor) and lets a test act after each one."""

    def __init__(self, hook: Hook | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.reads: Counter[tuple[str, str | None]] = Counter()
        self.failures = 0
        self.hook = hook

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        table = request.url.path.rsplit("/", 1)[-1]
        if table.endswith("-table"):
            key = (table, request.url.params.get("page[after]"))
            if response.status_code == 200:
                self.reads[key] += 1
                if self.hook is not None:
                    self.hook(self, key)
            else:
                self.failures += 1
        return response


@pytest.fixture()
def api(vendor: Sandbox) -> Callable[..., Metrics24Client]:
    """A 24Metrics client on the sandbox that gives a failed page straight to the step."""

    def make(transport: Recording) -> Metrics24Client:
        return Metrics24Client(
            vendor.base_url("24metrics"),
            vendor.TOKEN,
            integration_id=DEFAULT_INTEGRATION,
            transport=transport,
            page_retries=0,
        )

    return make


def store(client: redis.Redis, name: str) -> fraud.WalkStore:
    return fraud.WalkStore(client, f"test:fraud:{name}")


def as_the_actor_would(walk: Callable[[], dict[str, Any]], tries: int = 10) -> tuple[dict[str, Any], int]:
    """Run a step until it succeeds, as Dramatiq's retries would; (its result, the retries)."""
    for attempt in range(tries):
        try:
            return walk(), attempt
        except VendorTransient:
            continue
    raise AssertionError("the walk never finished")


def reference(
    api: Callable[..., Metrics24Client], client: redis.Redis, params: dict[str, Any]
) -> tuple[dict[str, Any], Recording]:
    clean = Recording()
    result = fraud.walk_range(api(clean), store(client, "clean"), params, deadline=FOREVER)
    return result, clean


def test_a_vendor_failing_in_the_middle_of_each_table_still_ends_with_the_complete_summary(
    api: Callable[..., Metrics24Client], client: redis.Redis, vendor: Sandbox
) -> None:
    expected, clean = reference(api, client, WEEK)
    assert expected["clicks"]["complete"] and expected["clicks"]["pages"] >= 5 and expected["conversions"]["pages"] >= 2
    injected: set[str] = set()

    def fail_midway(recording: Recording, key: tuple[str, str | None]) -> None:
        # The 503 hits the page after the 4th click page and the one after the 1st conversion page.
        table = key[0]
        done = sum(n for (t, _), n in recording.reads.items() if t == table)
        if table not in injected and done == (4 if table == "click-table" else 1):
            injected.add(table)
            vendor.inject("24metrics", "report." + table.removesuffix("-table"), "status", status=503)

    flaky = Recording(fail_midway)
    result, retries = as_the_actor_would(
        lambda: fraud.walk_range(api(flaky), store(client, "flaky"), WEEK, deadline=FOREVER)
    )
    assert injected == {"click-table", "conversion-table"} and flaky.failures == 2 and retries == 2
    assert result == expected, "the same summary as an undisturbed walk"
    assert max(flaky.reads.values()) <= 2, "no page read more than once again"
    assert sum(flaky.reads.values()) <= sum(clean.reads.values()) + flaky.failures


class DiesOnce(fraud.WalkStore):
    """A store whose ``nth`` save never happens: a worker killed after reading a page."""

    def __init__(self, client: redis.Redis, key: str, nth: int) -> None:
        super().__init__(client, key)
        self.saves = 0
        self.nth = nth

    def save(self, table: str, expected: str, state: Any) -> str | None:
        self.saves += 1
        if self.saves == self.nth:
            raise VendorTransient("24Metrics", "the worker died (simulated)")
        return super().save(table, expected, state)


def test_a_page_read_but_not_stored_is_read_once_more_and_counted_once(
    api: Callable[..., Metrics24Client], client: redis.Redis
) -> None:
    expected, clean = reference(api, client, WEEK)
    recording = Recording()
    dying = DiesOnce(client, "test:fraud:dies", nth=3)
    result, retries = as_the_actor_would(lambda: fraud.walk_range(api(recording), dying, WEEK, deadline=FOREVER))
    assert retries == 1 and result == expected
    assert sorted(recording.reads.values(), reverse=True)[:2] == [2, 1], "exactly one page, the one in flight, again"
    assert recording.reads - clean.reads == Counter({("click-table", _third_cursor(clean)): 1})


def _third_cursor(clean: Recording) -> str | None:
    """The cursor the third click page was asked with (the one whose store was lost)."""
    return [after for (table, after) in clean.reads if table == "click-table"][2]


def test_a_slow_vendor_is_read_in_slices_that_each_hand_the_thread_back(
    api: Callable[..., Metrics24Client], client: redis.Redis
) -> None:
    expected, clean = reference(api, client, WEEK)
    ticks = iter(range(10**6))  # every clock reading is one "second" later: two pages a slice

    def walk() -> dict[str, Any]:
        start = next(ticks)
        return fraud.walk_range(
            api(recording), store(client, "slow"), WEEK, deadline=start + 2.5, clock=lambda: next(ticks)
        )

    recording = Recording()
    with pytest.raises(VendorTransient) as first:
        walk()
    assert first.value.retry_after == 1 and "pages of the click report read so far" in str(first.value)
    result, slices = as_the_actor_would(walk, tries=50)
    assert result == expected and slices > 3
    assert recording.reads == clean.reads, "slices read every page exactly once"


def test_two_deliveries_of_the_step_cannot_both_store_the_same_page(client: redis.Redis) -> None:
    walks = store(client, "cas")
    first = fraud.fold(fraud.fresh(), [{"publisher": "1", "status": "Rejected"}], next_cursor="c1", total=9)
    saved = walks.save("click", "", first)
    assert saved is not None
    assert walks.save("click", "", first) is None, "a second writer that read the same state loses"
    second = fraud.fold(first, [{"publisher": "2", "status": "Approved"}], next_cursor=None, total=9)
    assert walks.save("click", saved, second) is not None
    assert walks.load("click")[1]["rows"] == 2 and client.ttl(walks.key) > 0


# -- memory ----------------------------------------------------------------------------------------


def _synthetic_pages(pages: int) -> Iterator[list[dict[str, Any]]]:
    """Pages in which every row has a publisher and a reason never seen before: the worst case."""
    for page in range(pages):
        yield [
            {
                "publisher": f"pub-{page}-{i}",
                "publisher_name": f"Publisher {page}/{i}",
                "status": "Rejected",
                "rejected_simple_reason": f"reason {page}/{i}",
            }
            for i in range(100)
        ]


def test_the_summary_state_stays_bounded_however_many_distinct_publishers_and_pages() -> None:
    state = fraud.fresh()
    sizes = []
    for items in _synthetic_pages(300):
        state = fraud.fold(state, items, next_cursor="next", total=None, budget=10**9)
        sizes.append(len(json.dumps(state)))
    assert state["rows"] == state["rejected"] == 30_000
    tracked = sum(seen for seen, _, _ in state["publishers"].values())
    assert tracked + state["folded"]["seen"] == 30_000, "folded counts still add up"
    assert sum(state["reasons"].values()) + state["other_reasons"] == 30_000
    assert len(state["publishers"]) <= 2 * fraud.PUBLISHER_SLOTS and len(state["reasons"]) <= 2 * fraud.REASON_SLOTS
    assert max(sizes) <= max(sizes[:30]) * 1.05, "no growth after the first pages"
    assert max(sizes) < 128_000
    assert fraud.summary(state)["approximate"], "the message will say the publisher table is approximate"


def test_the_stored_state_does_not_grow_with_the_page_count(
    api: Callable[..., Metrics24Client], client: redis.Redis
) -> None:
    def stored(days: int) -> tuple[int, int]:
        params = {**WEEK, "start_date": str(END - timedelta(days=days - 1))}
        walks = store(client, f"days{days}")
        result = fraud.walk_range(api(Recording()), walks, params, deadline=FOREVER)
        return result["clicks"]["pages"], len(client.hget(walks.key, "click") or b"")

    few_pages, small = stored(3)
    many_pages, large = stored(30)
    assert many_pages >= 8 * few_pages
    assert large <= small + 200, (small, large)  # a few more digits in the counts, nothing more
    assert large < 8_000


# -- end to end ----------------------------------------------------------------------------------


def test_fraud_job_survives_a_vendor_that_fails_between_the_tables(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox
) -> None:
    clean = queued_job(stack.command("fraud last7d"))
    expected = final(slack, clean, "checked", timeout=60)
    clean_reads = vendor.stats()["24metrics.report.click"]
    vendor.reset()
    # Every conversion page read fails for a while: past the in-place retries, so the step fails
    # and Dramatiq runs it again; the click table it had finished must not be read again.
    vendor.inject("24metrics", "report.conversion", "status", status=503, count=3)
    job_id = queued_job(stack.command("fraud last7d", user="UBOB"))
    text = final(slack, job_id, "checked", timeout=90)
    stats = vendor.stats()
    assert stats["24metrics.report.click"] == clean_reads, "the finished table was not read again"
    assert stats["24metrics.report.conversion"] >= 4
    summary = re.compile(r"\*Clicks\*.*?```.*?```.*?```.*?```", re.DOTALL)
    assert summary.search(text).group() == summary.search(expected).group(), "the same summary"

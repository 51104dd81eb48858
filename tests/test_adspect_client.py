"""The Adspect adapter against its sandbox mounted in-process, and its pure parts: Basic auth
with the key as user name, a 401 that names ADSPECT_API_KEY, 429 and 5xx as transient, every
page of streams found through ``HEAD /streams``, report lines as numbers, the table's totals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.sandbox import Sandbox
from devkit.sandbox.base import SANDBOX_TOKEN
from workers.errors import Refused, VendorAuthError, VendorRateLimited, VendorTransient
from workers.vendors.adspect.client import AdspectClient
from workers.vendors.adspect.collections import Collections
from workers.vendors.adspect.models import number, parse_row
from workers.vendors.adspect.sandbox import AdspectApp
from workers.vendors.adspect.table import fmt, totals


@pytest.fixture()
def box() -> Sandbox:
    return Sandbox(apps=(AdspectApp,))


@pytest.fixture()
def api(box: Sandbox) -> Iterator[AdspectClient]:
    with AdspectClient(box.base_url("adspect"), SANDBOX_TOKEN, transport=box.transport()) as client:
        yield client


def test_a_refused_key_names_the_setting_and_busy_answers_are_transient(box: Sandbox, api: AdspectClient) -> None:
    with AdspectClient(box.base_url("adspect"), "not-the-key", transport=box.transport()) as wrong:
        with pytest.raises(VendorAuthError) as refused:
            wrong.account()
    assert refused.value.key_variable == "ADSPECT_API_KEY" and "not-the-key" not in str(refused.value)
    box.inject("adspect", "funnel", "status", status=429)
    with pytest.raises(VendorRateLimited):
        api.funnel(["date"], ["clicks"], {})
    box.inject("adspect", "log", "status", status=503)
    with pytest.raises(VendorTransient), api.log(["timestamp"], {}) as rows:
        list(rows)


def test_every_page_of_streams_is_read(box: Sandbox, api: AdspectClient) -> None:
    assert api.stream_pages(per_page=20) == (45, 3)
    streams = api.all_streams()
    assert len({s.stream_id for s in streams}) == 45
    assert [s.name for s in streams] == sorted(s.name for s in streams)
    assert {s.mode for s in streams} == {"Filter", "Review", "Money", "White"}
    assert box.stats() == {"adspect.streams_meta": 2, "adspect.streams": 1}  # 100 a page: one GET


def test_funnel_rows_are_numbers_in_the_order_asked(api: AdspectClient) -> None:
    rows = api.funnel(["country_code", "target"], ["clicks", "quality", "cost"],
                      {"date_from": "2026-11-01", "date_to": "2026-11-02"})
    assert rows and all(isinstance(r[2], int) and isinstance(r[3], float) and isinstance(r[4], float) for r in rows)
    assert {r[1] for r in rows} == {0, 1}


@pytest.mark.parametrize(("line", "row"), [
    ('["2024-04-01", "931", "343", 0.368]', ["2024-04-01", "931", "343", 0.368]),
    ("", None), ("[", None), ('  ["a", 1],', ["a", 1]),
])
def test_answer_lines(line: str, row: list[object] | None) -> None:
    assert parse_row(line) == row


def test_counts_that_come_as_strings_are_numbers_and_totals_recompute_rates() -> None:
    assert (number("1453"), number("0.15"), number("US"), number(0.5)) == (1453, 0.15, "US", 0.5)
    metrics = ["clicks", "money_hits", "quality", "cpc"]
    total = totals(metrics, [[100, 50, 0.5, 0.1], [300, 30, 0.1, 0.3]])
    assert total[:2] == [400, 80] and total[2] == pytest.approx(0.2) and total[3] == pytest.approx(0.25)
    assert (fmt("clicks", 12345), fmt("quality", 0.5189), fmt("cost", 3.5), fmt("clicks", None)) == (
        "12,345", "51.9%", "3.50", "—")


def test_collections_are_read_once_and_typos_get_the_nearest(box: Sandbox, api: AdspectClient) -> None:
    checked = Collections(api)
    assert checked.check("by", ["DATE", "stream_id"]) == ["date", "stream_id"]
    with pytest.raises(Refused, match=r"Did you mean `by=country_code`\?"):
        checked.check("by", ["contry_code"])
    with pytest.raises(Refused, match="Valid: Filter, Review, Money, White"):
        checked.check("mode", ["Cloak"])
    assert box.stats() == {"adspect.collection": 2}


def test_the_click_log_result_reads_rows_top_countries_and_the_file() -> None:
    from workers.jobs import Job
    from workers.vendors.adspect.clicklog import CLICKS

    job = Job(id="J1", kind="build", vendor="adspect", command="", summary="", user_id="U", channel_id="C",
              created_at=0, deadline=1, params={"op": CLICKS.op, "start": "2026-11-01", "end": "2026-11-02", "tz": "UTC"},
              result={"rows": 200_000, "tally": {"country": {"US": 150_000, "DE": 50_000}},
                      "file": {"name": "adspect-clicks-2026-11-01..2026-11-02.csv"}, "note": ""})
    assert CLICKS.file_name(job) == "adspect-clicks-2026-11-01..2026-11-02.csv"
    text = str(CLICKS.render(job).blocks)
    assert "*200,000* clicks" in text and "US 150,000, DE 50,000" in text  # the file: the delivery's lines

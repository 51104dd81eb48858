"""The 24Metrics adapter against the sandbox over real HTTP, plus its pure parts."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from devkit.sandbox import Sandbox
from workers.errors import (
    VendorAuthError,
    VendorError,
    VendorProtocolError,
    VendorRateLimited,
    VendorRejected,
    VendorTransient,
)
from workers.vendors.exports import ExportAdapter, ExportStatus
from workers.vendors.metrics24.api import PAGE_SIZE_MAX
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.models import (
    BulkResult,
    Export,
    bulk_result,
    export_query,
    signed_url_expiry,
    status_of,
    unwrap,
)
from workers.vendors.metrics24.rows import is_rejected, publisher_of, rejection_reason
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, ORGANIZATION, SECOND_INTEGRATION, group_id
from workers.vendors.registry import CATALOGUE

EXPORT = {"kind": "clicks", "start_date": "2024-03-01", "end_date": "2024-03-03"}
G1, G2, G3 = (group_id(DEFAULT_INTEGRATION, n) for n in (1, 2, 3))


class Recorder(httpx.HTTPTransport):
    """A real transport that remembers what it sent, to check what we ask the vendor for."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        return super().handle_request(request)

    def params(self, path_end: str) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests if r.url.path.endswith(path_end)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0.4) as running:
        yield running


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(sandbox: Sandbox, recorder: Recorder) -> Iterator[Metrics24Client]:
    sandbox.reset()
    with Metrics24Client(
        sandbox.base_url("24metrics"), SecretStr(Sandbox.TOKEN), integration_id=DEFAULT_INTEGRATION,
        organization_id=ORGANIZATION, timeout=5, transport=recorder,
    ) as metrics:
        yield metrics


def wait_until_finished(client: Metrics24Client, export_id: str, *, deadline: float = 5.0) -> list[ExportStatus]:
    seen = []
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        status = client.check(export_id)
        seen.append(status)
        if status.finished:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"export {export_id} not finished within {deadline} s: {seen[-1]}")


def test_client_is_an_export_adapter(client: Metrics24Client) -> None:
    assert isinstance(client, ExportAdapter)


# -- filter groups ------------------------------------------------------------------------------

def test_listing_walks_every_page_within_the_page_limit(
    sandbox: Sandbox, client: Metrics24Client, recorder: Recorder
) -> None:
    groups = client.list_filter_groups()
    assert len(groups) == 130 and len({g.id for g in groups}) == 130
    assert [g.priority for g in groups] == sorted(g.priority for g in groups if g.priority is not None)
    sent = recorder.params("/filter-groups")
    assert [p["page[number]"] for p in sent] == ["1", "2"]
    assert all(int(p["page[size]"]) <= PAGE_SIZE_MAX for p in sent)
    assert sandbox.stats() == {"24metrics.filter_groups.list": 2}
    first = groups[0]
    assert (first.id, first.name, first.monitoring_mode, first.active) == (G1, "EU Mobile – strict", False, True)
    assert first.integration == DEFAULT_INTEGRATION and first.tags == ["eu", "mobile"]
    assert first.model_extra and "filters" in first.model_extra  # vendor fields we do not model are kept


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("EU Mobile – strict", ["EU Mobile – strict", "EU Mobile – strict (legacy)"]),
        ("eu mobile", ["EU Mobile – strict", "EU Mobile – strict (legacy)", "EU Mobile – relaxed",
                       "EU Mobile – monitoring"]),
        ("bot shield", ["Global Bot Shield"]),
        ("no such group", []),
    ],
)
def test_name_contains_matches_case_insensitively(client: Metrics24Client, text: str, names: list[str]) -> None:
    assert [g.name for g in client.list_filter_groups(name_contains=text)] == names


def test_other_integration_and_missing_integration(sandbox: Sandbox, client: Metrics24Client) -> None:
    assert [g.name for g in client.list_filter_groups(SECOND_INTEGRATION)] == [
        "APAC In-App – strict", "APAC In-App – relaxed", "Global Bot Shield"]
    with pytest.raises(VendorRejected) as caught:
        client.list_filter_groups("64b7f0c2e1a94d0012c3ffff")
    assert caught.value.status == 404
    with pytest.raises(VendorRejected, match="not a 24Metrics integration id"):
        client.list_filter_groups("../../admin")
    with Metrics24Client(sandbox.base_url("24metrics"), Sandbox.TOKEN) as bare:
        with pytest.raises(ValueError, match="METRICS24_INTEGRATION_ID"):
            bare.list_filter_groups()
        with pytest.raises(ValueError, match="METRICS24_ORGANIZATION_ID"):
            bare.create_filter_group({"name": "x", "priority": 1}, DEFAULT_INTEGRATION)


@pytest.mark.parametrize("fields", [{"monitoring_mode": True}, {"active": False}, {"monitoring_mode": True, "active": False}])
def test_update_persists(client: Metrics24Client, fields: dict[str, Any]) -> None:
    updated = client.update_filter_group(G1, fields)
    assert {k: getattr(updated, k) for k in fields} == fields
    again = client.get_filter_group(G1)
    assert {k: getattr(again, k) for k in fields} == fields
    listed = next(g for g in client.list_filter_groups() if g.id == G1)
    assert {k: getattr(listed, k) for k in fields} == fields


def test_bulk_update_reports_changed_ids(client: Metrics24Client) -> None:
    result = client.bulk_update_filter_groups([G1, G2, "66a0ffffffffffffffffffff", G1], True)
    assert result == BulkResult(requested=[G1, G2, "66a0ffffffffffffffffffff"], changed=[G1, G2], confirmed=True)
    assert result.missing == ["66a0ffffffffffffffffffff"]
    assert [client.get_filter_group(g).monitoring_mode for g in (G1, G2, G3)] == [True, True, True]
    client.bulk_update_filter_groups([G3], False)
    assert client.get_filter_group(G3).monitoring_mode is False


def test_bulk_update_of_every_group(client: Metrics24Client, recorder: Recorder) -> None:
    ids = [g.id for g in client.list_filter_groups()]
    result = client.bulk_update_filter_groups(ids, True)
    assert result.changed == ids and result.confirmed and not result.missing
    assert all(g.monitoring_mode for g in client.list_filter_groups())
    bodies = [r for r in recorder.requests if r.method == "PATCH"]
    assert len(bodies) == 2  # 130 ids in chunks of at most 100


def test_bulk_update_of_only_unknown_ids_is_404(client: Metrics24Client) -> None:
    with pytest.raises(VendorRejected) as caught:
        client.bulk_update_filter_groups(["66a0ffffffffffffffffffff"], True)
    assert caught.value.status == 404


def test_delete_and_bulk_delete(client: Metrics24Client) -> None:
    client.delete_filter_group(G1)
    with pytest.raises(VendorRejected) as caught:
        client.get_filter_group(G1)
    assert caught.value.status == 404 and f"no filter group {G1}" in str(caught.value)
    with pytest.raises(VendorRejected) as caught:
        client.delete_filter_group(G1)
    assert caught.value.status == 404

    result = client.bulk_delete_filter_groups([G2, G3, G1])
    assert result.changed == [G2, G3] and result.missing == [G1]
    assert len(client.list_filter_groups()) == 127


def test_create_and_unique_priority(client: Metrics24Client) -> None:
    created = client.create_filter_group({"name": "LATAM CTV – trial", "priority": 5, "monitoring_mode": True})
    assert created.name == "LATAM CTV – trial" and created.priority == 5 and created.monitoring_mode is True
    assert created.organization == ORGANIZATION and created.integration == DEFAULT_INTEGRATION
    assert client.get_filter_group(created.id) == created

    with pytest.raises(VendorRejected) as caught:
        client.create_filter_group({"name": "Clash", "priority": 10})
    assert caught.value.status == 400
    assert "priority 10 is already used by filter group 'EU Mobile – strict'" in str(caught.value)
    with pytest.raises(VendorRejected, match="already used"):
        client.update_filter_group(G2, {"priority": 5})
    assert client.update_filter_group(G2, {"priority": 20}).priority == 20  # its own priority is no clash


# -- Download Center ----------------------------------------------------------------------------

def test_export_lifecycle_to_a_signed_url(sandbox: Sandbox, client: Metrics24Client) -> None:
    export_id = client.create(EXPORT)
    seen = wait_until_finished(client, export_id)
    states = [s.vendor_state for s in seen]
    assert states[0] == "PENDING" and "IN_PROGRESS" in states and states[-1] == "COMPLETED"
    assert all(s.state == "pending" for s in seen[:-1])
    assert seen[states.index("IN_PROGRESS")].note == "24Metrics is building the file"

    final = seen[-1]
    assert final.state == "ready" and final.note is None
    assert final.url and final.url.startswith(f"{sandbox.url}/files/24metrics/")
    assert final.expires_at is not None
    assert timedelta(minutes=55) < final.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    rows = list(csv.reader(io.StringIO(httpx.get(final.url).text)))  # signed: no key needed
    assert rows[0][:2] == ["request_time", "tx_id"]
    assert final.rows == len(rows) - 1 > 0
    assert sandbox.stats()["24metrics.export.url"] == 1


def test_export_fields_extra_and_delimiter_reach_the_file(sandbox: Sandbox, client: Metrics24Client) -> None:
    sandbox.set_ready_after(0)
    export_id = client.create({**EXPORT, "kind": "conversions", "fields": ["hash", "publisher_name"],
                               "extra": "aff_click_id", "delimiter": "semicolon"})
    status = client.check(export_id)
    lines = httpx.get(status.url or "").text.splitlines()
    assert lines[0] == "hash;publisher_name;aff_click_id"
    assert len(lines) - 1 == status.rows
    export = client.get_export(export_id)
    assert export.kind == "conversions" and export.format == {"delimiter": ";"}


def test_export_failed_and_canceled(sandbox: Sandbox, client: Metrics24Client) -> None:
    sandbox.set_ready_after(30)
    failing, canceled = client.create(EXPORT), client.create(EXPORT)
    sandbox.inject("24metrics", "export.get", "failed")
    status = client.check(failing)
    assert (status.state, status.vendor_state) == ("failed", "ERROR")
    assert status.reason == "Query exceeded the maximum execution time while scanning the logs (sandbox fault)."
    assert client.check(failing).state == "failed"  # stays failed
    sandbox.inject("24metrics", "export.get", "canceled")
    assert client.check(canceled) == ExportStatus(
        state="failed", vendor_state="CANCELED", reason="the export was canceled at 24Metrics")
    sandbox.inject("24metrics", "export.create", "failed")
    assert client.check(client.create(EXPORT)).vendor_state == "ERROR"


def test_truncated_range_is_noted(sandbox: Sandbox, client: Metrics24Client) -> None:
    sandbox.set_ready_after(0)
    status = client.check(client.create({**EXPORT, "start_date": "2024-01-01", "end_date": "2024-06-30"}))
    assert status.state == "ready"
    assert status.note == "24Metrics cut the range to 2024-04-02 – 2024-06-30 (asked 2024-01-01 – 2024-06-30)."


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({**EXPORT, "fields": ["tx_id", "colour"]}, "unknown field 'colour'"),
        ({**EXPORT, "kind": "installs"}, "not 'installs'"),
        ({**EXPORT, "start_date": "2024-03-05"}, "ends (2024-03-03) before it starts"),
        ({**EXPORT, "end_date": "03/03/2024"}, "end_date must be a date"),
        ({**EXPORT, "delimiter": "::"}, "delimiter must be one character"),
    ],
)
def test_bad_export_requests_are_the_users_to_fix(
    client: Metrics24Client, params: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(VendorRejected) as caught:
        client.create(params)
    assert fragment in str(caught.value)


def test_list_get_delete_exports(client: Metrics24Client) -> None:
    first, second = client.create(EXPORT), client.create({**EXPORT, "kind": "impressions"})
    listed = client.list_exports(page_size=500)  # clamped, or the sandbox would answer 400
    assert [e.id for e in listed][:2] == [second, first]  # then the sandbox's history export
    assert isinstance(listed[0], Export) and listed[0].kind == "impressions"
    assert listed[0].requested_range == ("2024-03-01", "2024-03-03")
    client.delete_export(first)
    with pytest.raises(VendorRejected) as caught:
        client.check(first)
    assert caught.value.status == 404 and f"no longer knows export {first}" in str(caught.value)
    assert [e.id for e in client.list_exports()][:1] == [second]
    with pytest.raises(VendorRejected) as caught:
        client.export_url("download-center/gone.csv")
    assert caught.value.status == 404 and "no longer has the file of that export" in str(caught.value)
    with pytest.raises(ValueError):
        client.check("../../admin")


# -- reports and lookups ------------------------------------------------------------------------

RANGE = {"start_date": "2024-03-01", "end_date": "2024-03-10"}


def test_report_rows_stop_at_max_rows(client: Metrics24Client, recorder: Recorder) -> None:
    page = client.report_rows("click", RANGE, max_rows=450)
    assert (len(page.rows), page.complete, page.pages) == (450, False, 5)
    assert page.total is not None and page.total > 450
    times = [row["request_time"] for row in page.rows]
    assert times == sorted(times, reverse=True)  # newest first, across pages
    assert len({row["real_tx_id"] for row in page.rows}) == 450
    sent = recorder.params("/click-table")
    assert [int(p["page[size]"]) for p in sent] == [100, 100, 100, 100, 50]
    assert "page[after]" not in sent[0] and all("page[after]" in p and "page[before]" not in p for p in sent[1:])
    assert sent[1]["page[after]"] == page.rows[99]["real_tx_id"]
    assert all(p["integration_id"] == DEFAULT_INTEGRATION for p in sent)


@pytest.mark.parametrize("max_rows", [1000, None])  # None: exactly as many as there are
def test_report_rows_complete_when_exhausted(client: Metrics24Client, max_rows: int | None) -> None:
    one_day = {"start_date": date(2024, 3, 1), "end_date": date(2024, 3, 1)}
    total = client.report_rows("conversion", one_day, max_rows=1, page_size=1).total
    assert total is not None
    page = client.report_rows("conversion", one_day, max_rows=max_rows or total, page_size=10)
    assert page.complete and len(page.rows) == total
    assert page.pages == -(-total // 10)


def test_report_rows_refuses_to_be_paged_by_the_caller(client: Metrics24Client) -> None:
    with pytest.raises(ValueError):
        client.report_rows("click", {**RANGE, "page[after]": "x"}, max_rows=10)


def test_rejection_and_publisher_fields(client: Metrics24Client) -> None:
    clicks = client.report_rows("click", RANGE, max_rows=300).rows
    conversions = client.report_rows("conversion", RANGE, max_rows=300).rows
    for rows, reasons in ((clicks, {"Proxy/VPN", "Click spamming", "Bot", "Blacklisted IP"}),
                          (conversions, {"Click injection", "Click spamming", "Proxy/VPN", "Bot", "Blacklisted IP"})):
        rejected = [row for row in rows if is_rejected(row)]
        assert 0.03 < len(rejected) / len(rows) < 0.35
        assert {rejection_reason(row) for row in rejected} <= reasons
        assert all(rejection_reason(row) is None for row in rows if not is_rejected(row))
    assert all(publisher_of(row)[1] for row in conversions)  # conversion rows carry publisher_name


def test_lookups_found_and_not_found(client: Metrics24Client) -> None:
    row = client.report_rows("click", RANGE, max_rows=5).rows[-1]
    where = {"request_date": row["request_date"], "offer": row["offer"], "publisher": row["publisher"]}
    assert client.click(row["tx_id"], where) == row
    assert client.click(row["tx_id"], {**where, "publisher": "9999"}) is None
    assert client.click("c2024030100000deadbeef", where) is None

    conv = client.report_rows("conversion", RANGE, max_rows=5).rows[0]
    where = {"request_date": conv["conversion_time"][:10], "offer": conv["offer_id"], "publisher": conv["publisher"]}
    assert client.conversion(conv["hash"], where) == conv
    assert client.conversion(conv["hash"], {**where, "request_date": "2024-01-01"}) is None

    with pytest.raises(VendorRejected) as caught:
        client.click(row["tx_id"], {"request_date": row["request_date"]})
    assert caught.value.status == 400 and "offer, publisher are required" in str(caught.value)


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "retry_after", "expected", "fragments"),
    [
        (400, None, VendorRejected, ["24Metrics rejected the request (400 Bad Request)", "sandbox fault"]),
        (402, None, VendorRejected, ["402 Payment Required", "account needs attention"]),
        (403, None, VendorRejected, ["403 Forbidden", "Our 24Metrics key lacks the rights"]),
        (404, None, VendorRejected, ["no longer knows export"]),
        (429, 3, VendorRateLimited, ["rate limiting us (429 Too Many Requests)", "wait 3 s"]),
        (500, None, VendorTransient, ["500 Internal Server Error", "usually temporary"]),
        (503, 4, VendorTransient, ["503 Service Unavailable"]),
    ],
)
def test_every_status_class(
    sandbox: Sandbox, client: Metrics24Client, status: int, retry_after: float | None,
    expected: type[VendorError], fragments: list[str],
) -> None:
    export_id = client.create(EXPORT)
    sandbox.inject("24metrics", "export.get", "status", status=status, retry_after=retry_after)
    with pytest.raises(expected) as caught:
        client.check(export_id)
    assert type(caught.value) is expected
    assert caught.value.status == status
    for fragment in fragments:
        assert fragment in str(caught.value)
    if retry_after is not None:
        assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert Sandbox.TOKEN not in str(caught.value) and Sandbox.TOKEN not in repr(caught.value)


@pytest.mark.parametrize("key", ["wrong-key-0123456789", SecretStr("wrong-key-0123456789")])
def test_wrong_key_names_the_variable_and_never_the_key(sandbox: Sandbox, key: str | SecretStr) -> None:
    with Metrics24Client(sandbox.base_url("24metrics"), key, integration_id=DEFAULT_INTEGRATION) as metrics:
        assert "wrong-key" not in repr(metrics)
        for call in (metrics.list_filter_groups, lambda: metrics.create(EXPORT), lambda: metrics.check("67e0")):
            with pytest.raises(VendorAuthError) as caught:
                call()
            assert str(caught.value) == "24Metrics refused our API key; an admin needs to check it."
            assert "wrong-key" not in str(caught.value) and "wrong-key" not in repr(caught.value)


def test_timeout_and_malformed_are_transient(sandbox: Sandbox) -> None:
    sandbox.reset()
    with Metrics24Client(sandbox.base_url("24metrics"), Sandbox.TOKEN, integration_id=DEFAULT_INTEGRATION,
                         timeout=0.3) as metrics:
        sandbox.inject("24metrics", "filter_groups.get", "timeout", delay=0.8)
        with pytest.raises(VendorTransient, match="did not answer within 0.3 s"):
            metrics.get_filter_group(G1)
        sandbox.inject("24metrics", "filter_groups.get", "malformed")
        with pytest.raises(VendorProtocolError):
            metrics.get_filter_group(G1)
        assert metrics.get_filter_group(G1).id == G1


def test_pages_are_retried_in_place_briefly(sandbox: Sandbox, client: Metrics24Client) -> None:
    sandbox.inject("24metrics", "filter_groups.list", "status", status=429, retry_after=0.05)
    sandbox.inject("24metrics", "filter_groups.list", "status", status=502, retry_after=0.05)
    assert len(client.list_filter_groups()) == 130
    assert sandbox.stats() == {"24metrics.filter_groups.list": 4}

    sandbox.inject("24metrics", "report.click", "status", status=429, retry_after=0.05, count=3)
    with pytest.raises(VendorRateLimited):
        client.report_rows("click", RANGE, max_rows=10)
    assert sandbox.stats()["24metrics.report.click"] == 3  # first try and two retries

    sandbox.inject("24metrics", "filter_groups.list", "status", status=429, retry_after=60)
    with pytest.raises(VendorRateLimited) as caught:
        client.list_filter_groups()
    assert caught.value.retry_after == 60  # too long to wait in a worker thread: the actor's call
    assert sandbox.stats()["24metrics.filter_groups.list"] == 5


def test_key_never_in_any_error_text(sandbox: Sandbox, client: Metrics24Client) -> None:
    export_id = client.create(EXPORT)
    calls = {
        "export.get": lambda: client.check(export_id),
        "filter_groups.update": lambda: client.update_filter_group(G1, {"active": False}),
        "filter_groups.bulk_update": lambda: client.bulk_update_filter_groups([G1], True),
        "lookup.click": lambda: client.click("c", {"request_date": "2024-03-01", "offer": "1", "publisher": "1"}),
    }
    for op, call in calls.items():
        for kind, status in (("status", 400), ("status", 401), ("status", 403), ("status", 500), ("malformed", None)):
            if kind == "malformed" and op == "filter_groups.bulk_update":
                continue  # a bulk answer it cannot read is not an error: the status said it worked
            sandbox.inject("24metrics", op, kind, status=status)
            with pytest.raises(VendorError) as caught:
                call()
            assert Sandbox.TOKEN not in str(caught.value) and Sandbox.TOKEN not in repr(caught.value)


def test_one_client_serves_many_threads(sandbox: Sandbox, client: Metrics24Client) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(4):
            export_id = client.create(EXPORT)
            client.check(export_id)
            with lock:
                ids.append(export_id)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(ids) == len(set(ids)) == 24


def test_empty_key_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="METRICS24_API_KEY"):
        Metrics24Client("http://127.0.0.1:9", SecretStr(" "))


# -- pure parts ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("params", "kind", "query"),
    [
        (EXPORT, "clicks", {"start_date": "2024-03-01", "end_date": "2024-03-03",
                            "fields": "request_time,tx_id,publisher,offer_id,country,status,rejected_simple_reason,"
                                      "rejected_advanced_reason", "extra_parameters": ""}),
        ({"kind": "impressions", "start_date": date(2024, 3, 1), "end_date": datetime(2024, 3, 2, 5),
          "fields": "tx_id, publisher", "extra": ["a", "b"], "delimiter": "tab", "integration": "x"},
         "impressions", {"start_date": "2024-03-01", "end_date": "2024-03-02", "fields": "tx_id,publisher",
                         "extra_parameters": "a,b", "delimiter": "\t"}),
        ({**EXPORT, "kind": "conversions", "fields": ["hash"], "delimiter": "|"},
         "conversions", {"start_date": "2024-03-01", "end_date": "2024-03-03", "fields": "hash",
                         "extra_parameters": "", "delimiter": "|"}),
    ],
)
def test_export_query(params: dict[str, Any], kind: str, query: dict[str, str]) -> None:
    assert export_query(params) == (kind, query)


def test_export_query_refuses_parameters_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="stop_date"):
        export_query({**EXPORT, "stop_date": "2024-03-03"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://storage.googleapis.com/b/o.csv?X-Goog-Date=20240301T120000Z&X-Goog-Expires=900&X-Goog-Signature=x",
         datetime(2024, 3, 1, 12, 15, tzinfo=UTC)),
        ("https://s3.example/o.csv?X-Amz-Date=20240301T120000Z&X-Amz-Expires=3600", datetime(2024, 3, 1, 13, tzinfo=UTC)),
        ("https://cdn.example/o.csv?Expires=1709294400&Signature=x", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("https://cdn.example/o.csv", None),
        ("https://cdn.example/o.csv?X-Goog-Date=garbage&X-Goog-Expires=900", None),
    ],
)
def test_signed_url_expiry(url: str, expected: datetime | None) -> None:
    assert signed_url_expiry(url) == expected


def _export(**fields: Any) -> Export:
    return Export.model_validate({"id": "e1", "type": "click_logs", **fields})


@pytest.mark.parametrize(
    ("export", "url", "expected"),
    [
        (_export(status="PENDING"), None, ("pending", "PENDING", None, None, "queued at 24Metrics")),
        (_export(status="UNKNOWN"), None, ("pending", "UNKNOWN", None, None, "24Metrics says: unknown")),
        (_export(status="ERROR", error="  disk\nfull "), None, ("failed", "ERROR", "disk full", None, None)),
        (_export(status="ERROR"), None, ("failed", "ERROR", None, None, None)),
        (_export(status="CANCELED", error=""), None,
         ("failed", "CANCELED", "the export was canceled at 24Metrics", None, None)),
        (_export(status="COMPLETED", results_meta={"total": "12", "range_truncated": False}), "https://x/f.csv",
         ("ready", "COMPLETED", None, 12, None)),
        (_export(status="COMPLETED", results_meta={"total": 3, "range_truncated": True},
                 reports_query_option={"start_date": "2024-01-01", "end_date": "2024-06-30"}), "https://x/f.csv",
         ("ready", "COMPLETED", None, 3,
          "24Metrics cut the range to less than asked (asked 2024-01-01 – 2024-06-30); the file does not cover all of it.")),
    ],
)
def test_status_of(export: Export, url: str | None, expected: tuple[Any, ...]) -> None:
    status = status_of(export, url)
    assert (status.state, status.vendor_state, status.reason, status.rows, status.note) == expected


@pytest.mark.parametrize("url", [None, "", "ftp://x/f.csv"])
def test_completed_without_a_link_is_a_protocol_error(url: str | None) -> None:
    with pytest.raises(VendorProtocolError):
        status_of(_export(status="COMPLETED"), url)


def test_export_error_text_is_scrubbed_of_the_key() -> None:
    status = status_of(_export(status="ERROR", error="key key-0123456789 revoked"), secrets=("key-0123456789",))
    assert status.reason == "key [redacted] revoked"


@pytest.mark.parametrize(
    ("payload", "action", "changed", "confirmed"),
    [
        ({"updated_item_ids": ["a"]}, "update", ["a"], True),
        ({"data": {"updated_item_ids": ["a", 7]}}, "update", ["a", "7"], True),
        ({"data": ["b"]}, "delete", ["b"], True),
        ({"deleted_item_ids": ["a"]}, "delete", ["a"], True),
        ({"deleted_item_ids": ["a"]}, "update", ["a", "b"], False),  # not an answer to an update
        ({}, "update", ["a", "b"], False),
        (None, "delete", ["a", "b"], False),
    ],
)
def test_bulk_result(payload: Any, action: Any, changed: list[str], confirmed: bool) -> None:
    result = bulk_result(payload, ["a", "b"], action)
    assert (result.changed, result.confirmed) == (changed, confirmed)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [({"data": {"id": "x"}}, {"id": "x"}), ({"url": "u"}, {"url": "u"}), ({"data": [1]}, [1]), ({"data": None}, None)],
)
def test_unwrap(payload: Any, expected: Any) -> None:
    assert unwrap(payload, "x") == expected


@pytest.mark.parametrize("payload", [[1], "text", None])
def test_unwrap_refuses_what_is_not_an_object(payload: Any) -> None:
    with pytest.raises(VendorProtocolError):
        unwrap(payload, "x")


@pytest.mark.parametrize(
    ("row", "rejected", "reason", "publisher"),
    [
        ({"status": "Approved", "publisher": "1042"}, False, None, ("1042", None)),
        ({"status": "Rejected", "rejected_simple_reason": "Bot", "publisher": "1204"}, True, "Bot", ("1204", None)),
        ({"status": "Approved", "blocked": 1, "rejected_primary_reason": "Proxy/VPN", "publisher": "1"}, True,
         "Proxy/VPN", ("1", None)),
        ({"status": "Rejected", "rejections": ["Click spamming"], "real_publisher": "7"}, True, "Click spamming",
         ("7", None)),
        ({"status": "Rejected"}, True, "Unknown", ("", None)),
        ({"rejected": 1, "status": "Approved", "real_rejected_simple_reason": "Click injection", "publisher": "1190",
          "publisher_name": "Install Rush"}, True, "Click injection", ("1190", "Install Rush")),
        ({"rejected": 0, "status": "Approved", "publisher": "1042", "publisher_name": "Adverge Media"}, False, None,
         ("1042", "Adverge Media")),
    ],
)
def test_fraud_fields(row: dict[str, Any], rejected: bool, reason: str | None, publisher: tuple[str, Any]) -> None:
    assert (is_rejected(row), rejection_reason(row), publisher_of(row)) == (rejected, reason, publisher)

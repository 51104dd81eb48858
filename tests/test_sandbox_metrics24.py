"""The 24Metrics emulation on its own, over HTTP and (each ``api`` test again) mounted: auth, pages, exports, faults."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from devkit.sandbox import Sandbox
from workers.vendors.metrics24.sandbox import (
    CLICK_REASONS,
    CONVERSION_REASONS,
    DEFAULT_INTEGRATION,
    ORGANIZATION,
    PUBLISHERS,
    SECOND_INTEGRATION,
    day_rows,
    group_id,
)
from workers.vendors.metrics24.sandbox.exports import HISTORY_ID
from workers.vendors.registry import CATALOGUE

AUTH = {"API-KEY": Sandbox.TOKEN}
GROUPS = f"/integrations/{DEFAULT_INTEGRATION}/filter-groups"
G1 = group_id(DEFAULT_INTEGRATION, 1)
CLICKS = f"/integrations/{DEFAULT_INTEGRATION}/download-center/clicks"
EXPORT_QUERY = {"start_date": "2024-03-01", "end_date": "2024-03-02", "fields": "tx_id,publisher,status"}
TABLE = {"integration_id": DEFAULT_INTEGRATION, "start_date": "2024-03-01", "end_date": "2024-03-03"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0.3) as running:
        yield running


@pytest.fixture(params=["http", "mounted"])
def api(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    sandbox.reset()
    transport = sandbox.transport() if request.param == "mounted" else None
    with httpx.Client(base_url=sandbox.base_url("24metrics") + "/api/v2", headers=AUTH, timeout=5,
                      transport=transport) as client:
        yield client


def detail(response: httpx.Response) -> str:
    return response.json()["errors"][0]["detail"]


def new_export(api: httpx.Client, **query: str) -> dict[str, Any]:
    response = api.post(CLICKS, params={**EXPORT_QUERY, **query})
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(api: httpx.Client, export_id: str, status: str, deadline: float = 5.0) -> dict[str, Any]:
    stop = time.monotonic() + deadline
    while (export := api.get(f"/download-center/exports/{export_id}").json()["data"])["status"] != status:
        assert time.monotonic() < stop, f"{export_id} not {status} within {deadline} s"
        time.sleep(0.05)
    return export


# -- auth --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"API-KEY": ""}, 401), ({"API-KEY": "nope"}, 401),
        ({"API-KEY": "", "Authorization": f"Token {Sandbox.TOKEN}"}, 401),
        ({"API-KEY": "", "Authorization": f"Bearer {Sandbox.TOKEN}"}, 200),  # the docs list Bearer too
        ({"api-key": Sandbox.TOKEN}, 200),
    ],
)
@pytest.mark.parametrize("path", [GROUPS, "/download-center/exports", "/reports/v2/click-table"])
def test_api_key_is_required(api: httpx.Client, headers: dict[str, str], status: int, path: str) -> None:
    params = {**TABLE, "page[size]": "5"} if "table" in path else {}
    response = api.get(path, params=params, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"errors": [{"status": "401", "title": "Unauthorized",
                                               "detail": "No valid API key provided."}]}


# -- filter groups -----------------------------------------------------------------------------

def test_seeded_groups_page_by_number(api: httpx.Client) -> None:
    first = api.get(GROUPS, params={"page[size]": 100, "page[number]": 1}).json()
    second = api.get(GROUPS, params={"page[size]": 100, "page[number]": 2}).json()
    assert first["meta"]["total_count"] == 130 and first["meta"]["total_page"] == 2
    assert first["meta"]["links"]["next"] == {"page[number]": 2, "page[size]": 100}
    assert len(first["data"]) == 100 and len(second["data"]) == 30 and "next" not in second["meta"]["links"]
    groups = first["data"] + second["data"]
    assert len({g["id"] for g in groups}) == len({g["priority"] for g in groups}) == len({g["name"] for g in groups}) == 130
    assert [(g["id"], g["name"], g["priority"]) for g in groups[:3]] == [
        (G1, "EU Mobile – strict", 10),
        (group_id(DEFAULT_INTEGRATION, 2), "EU Mobile – strict (legacy)", 20),
        (group_id(DEFAULT_INTEGRATION, 3), "EU Mobile – relaxed", 30),
    ]
    assert api.get(GROUPS).json()["meta"]["total_page"] == 13  # ten a page by default
    assert api.get(GROUPS, params={"page[number]": 99}).json()["data"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page[size]": 101}, "page[size] must be between 1 and 100"),
        ({"page[size]": 0}, "page[size] must be between 1 and 100"),
        ({"page[number]": 0}, "page[number] must be a positive integer"),
        ({"page[number]": "two"}, "page[number] must be a positive integer"),
    ],
)
def test_page_limits_are_enforced(api: httpx.Client, params: dict[str, Any], message: str) -> None:
    response = api.get(GROUPS, params=params)
    assert response.status_code == 400 and detail(response) == message


def test_second_and_unknown_integration(api: httpx.Client) -> None:
    names = [g["name"] for g in api.get(f"/integrations/{SECOND_INTEGRATION}/filter-groups").json()["data"]]
    assert names == ["APAC In-App – strict", "APAC In-App – relaxed", "Global Bot Shield"]
    assert api.get("/integrations/nope/filter-groups").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"priority": 5}, 400, "name is required"),
        ({"name": "x"}, 400, "priority is required"),
        ({"name": "x", "priority": "5"}, 400, "priority must be an integer"),
        ({"name": "x", "priority": True}, 400, "priority must be an integer"),
        ({"name": " ", "priority": 5}, 400, "name must not be empty"),
        ({"name": "x", "priority": 5, "monitoring_mode": "yes"}, 400, "monitoring_mode must be a boolean"),
        ({"name": "x", "priority": 5, "colour": "red"}, 400, "colour cannot be set"),
        ({"name": "x", "priority": 10}, 400, "priority 10 is already used by filter group 'EU Mobile – strict'"),
        ({"name": "x", "priority": 5, "organization": "other"}, 403, "the API key has no access to that organization"),
        ({"name": "x", "priority": 5, "integration": SECOND_INTEGRATION}, 400, "integration does not match the path"),
    ],
)
def test_create_validates(api: httpx.Client, body: dict[str, Any], status: int, message: str) -> None:
    full = {"integration": DEFAULT_INTEGRATION, "organization": ORGANIZATION, **body}
    response = api.post(GROUPS, json=full)
    assert response.status_code == status and detail(response).startswith(message)


def test_create_update_delete_and_reset(sandbox: Sandbox, api: httpx.Client) -> None:
    created = api.post(GROUPS, json={"name": "Trial", "priority": 1, "integration": DEFAULT_INTEGRATION,
                                     "organization": ORGANIZATION})
    assert created.status_code == 201
    new_id = created.json()["created_item_id"]
    assert new_id not in {group_id(DEFAULT_INTEGRATION, n) for n in range(1, 131)}
    assert api.patch(f"{GROUPS}/{new_id}", json={"monitoring_mode": True, "name": "Trial 2"}).json() == {}
    group = api.get(f"{GROUPS}/{new_id}").json()["data"]
    assert (group["name"], group["monitoring_mode"], group["name_with_id"]) == ("Trial 2", True, f"Trial 2 ({new_id})")
    assert api.patch(f"{GROUPS}/{new_id}", json={"integration": "x"}).status_code == 400
    assert api.patch(f"{GROUPS}/{new_id}", json={}).status_code == 400
    assert api.delete(f"{GROUPS}/{new_id}").json() == {}
    assert api.delete(f"{GROUPS}/{new_id}").status_code == 404
    assert api.get(f"{GROUPS}/{new_id}").status_code == 404

    api.patch(f"{GROUPS}/{G1}", json={"monitoring_mode": True})
    sandbox.reset()
    assert api.get(f"{GROUPS}/{G1}").json()["data"]["monitoring_mode"] is False
    assert api.get(GROUPS).json()["meta"]["total_count"] == 130


@pytest.mark.parametrize(
    ("method", "body", "status", "answer"),
    [
        ("PATCH", {"data": [G1, "zz"], "monitoring_mode": True}, 200, {"updated_item_ids": [G1]}),
        ("PATCH", {"data": [G1], "monitoring_mode": "on"}, 400, None),
        ("PATCH", {"data": [], "monitoring_mode": True}, 400, None),
        ("PATCH", {"data": ["zz"], "monitoring_mode": True}, 404, None),
        ("DELETE", {"data": [G1, "zz"]}, 200, {"deleted_item_ids": [G1]}),
        ("DELETE", {"data": "all"}, 400, None),
        ("DELETE", {"data": ["zz"]}, 404, None),
    ],
)
def test_bulk_operations(api: httpx.Client, method: str, body: dict[str, Any], status: int, answer: Any) -> None:
    response = api.request(method, GROUPS, json=body, params={"organization": ORGANIZATION})
    assert response.status_code == status
    if answer is not None:
        assert response.json() == answer


def test_bulk_for_another_organization_is_forbidden(api: httpx.Client) -> None:
    response = api.patch(GROUPS, json={"data": [G1], "monitoring_mode": True}, params={"organization": "x"})
    assert response.status_code == 403


# -- Download Center ---------------------------------------------------------------------------

def test_export_walks_to_completed_and_serves_a_signed_csv(sandbox: Sandbox, api: httpx.Client) -> None:
    export = new_export(api, delimiter=";", extra_parameters="creative")
    assert "data" not in export and export["status"] == "PENDING" and export["type"] == "click_logs"
    assert export["artifact"]["name"] == "" and export["results_meta"]["range_truncated"] is False
    assert api.get("/download-center/url", params={"artifact_name": "download-center/x.csv"}).status_code == 404
    wait_for(api, export["id"], "IN_PROGRESS")
    done = wait_for(api, export["id"], "COMPLETED")
    name = done["artifact"]["name"]
    assert name == f"download-center/{ORGANIZATION}/{export['id']}/click_logs_2024-03-01_2024-03-02.csv"

    url = api.get("/download-center/url", params={"artifact_name": name}).json()["url"]
    assert url.startswith(f"{sandbox.url}/files/24metrics/{name}?X-Goog-Algorithm=GOOG4-RSA-SHA256")
    rows = list(csv.reader(io.StringIO(httpx.get(url).text), delimiter=";"))
    assert rows[0] == ["tx_id", "publisher", "status", "creative"]
    assert len(rows) - 1 == done["results_meta"]["total"]
    expected = [r for d in (date(2024, 3, 1), date(2024, 3, 2)) for r in day_rows(7, DEFAULT_INTEGRATION, "click", d)]
    assert [row[0] for row in rows[1:]] == [r["tx_id"] for r in expected]

    assert httpx.get(url.replace("X-Goog-Expires=3600", "X-Goog-Expires=7200")).status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403  # unsigned
    assert api.delete(f"/download-center/exports/{export['id']}").json() == {}
    assert httpx.get(url).status_code == 404
    assert api.get(f"/download-center/exports/{export['id']}").status_code == 404


def test_long_ranges_are_truncated(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.set_ready_after(0)
    export = new_export(api, start_date="2024-01-01", end_date="2024-06-30")
    assert export["results_meta"]["range_truncated"] is True
    assert export["reports_query_option"]["start_date"] == "2024-01-01"
    assert export["export_list_options"]["filters"]["date_range"] == {
        "start": "2024-04-02T00:00:00Z", "end": "2024-06-30T23:59:59Z"}
    assert not new_export(api, start_date="2024-04-02", end_date="2024-06-30")["results_meta"]["range_truncated"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start_date": ""}, "start_date is required"),
        ({"end_date": "2024-02-30"}, "end_date must be a date formatted YYYY-MM-DD"),
        ({"end_date": "2024-02-01"}, "end_date must be on or after start_date"),
        ({"fields": ""}, "fields is required"),
        ({"fields": "tx_id,hash"}, "unknown field 'hash' for click_logs"),
        ({"delimiter": ";;"}, "delimiter must be a single character"),
    ],
)
def test_export_create_validates(api: httpx.Client, query: dict[str, str], message: str) -> None:
    response = api.post(CLICKS, params={**EXPORT_QUERY, **query})
    assert response.status_code == 400 and detail(response) == message


def test_export_list_is_newest_first_and_filters(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.set_ready_after(30)
    first = new_export(api)["id"]
    second = api.post(f"/integrations/{DEFAULT_INTEGRATION}/download-center/conversions",
                      params={**EXPORT_QUERY, "fields": "hash"}).json()["id"]
    listed = api.get("/download-center/exports").json()
    # The Download Center starts with one finished export of last week's clicks.
    assert [e["id"] for e in listed["data"]] == [second, first, HISTORY_ID] and listed["meta"]["total_count"] == 3
    only = api.get("/download-center/exports", params={"filter[type]": "click_logs"}).json()["data"]
    assert [e["id"] for e in only] == [first, HISTORY_ID]
    done = api.get("/download-center/exports", params={"filter[status]": "COMPLETED"}).json()["data"]
    assert [e["id"] for e in done] == [HISTORY_ID]
    assert api.get("/download-center/exports", params={"page[size]": 101}).status_code == 400


TIMED_OUT = "Query exceeded the maximum execution time while scanning the logs (sandbox fault)."


@pytest.mark.parametrize(
    ("op", "kind", "status", "error"),
    [("export.get", "failed", "ERROR", TIMED_OUT), ("export.get", "canceled", "CANCELED", ""),
     ("export.create", "failed", "ERROR", TIMED_OUT), ("export.create", "canceled", "CANCELED", "")],
)
def test_export_outcome_faults(sandbox: Sandbox, api: httpx.Client, op: str, kind: str, status: str, error: str) -> None:
    sandbox.set_ready_after(30)
    if op == "export.create":
        sandbox.inject("24metrics", op, kind)
    export_id = new_export(api)["id"]
    if op == "export.get":
        sandbox.inject("24metrics", op, kind)
    for _ in range(2):  # and it stays that way
        export = api.get(f"/download-center/exports/{export_id}").json()["data"]
        assert (export["status"], export["error"]) == (status, error)


def test_outcome_faults_only_where_declared(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sandbox.inject("24metrics", "export.url", "canceled")
    with pytest.raises(ValueError, match="unknown op"):
        sandbox.inject("24metrics", "export.check", "failed")


# -- report tables and lookups ------------------------------------------------------------------

def walk(api: httpx.Client, table: str, size: int, **extra: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {**TABLE, **extra, "page[size]": size}
    while True:
        body = api.get(f"/reports/v2/{table}-table", params=params).json()["data"]
        rows += body["data"]
        if not body["pageInfo"]["hasNextPage"]:
            return rows
        params["page[after]"] = body["pageInfo"]["endCursor"]


@pytest.mark.parametrize("table", ["click", "conversion", "impression"])
def test_cursor_pages_cover_the_range_newest_first(api: httpx.Client, table: str) -> None:
    rows = walk(api, table, 100)
    days = [date(2024, 3, d) for d in (3, 2, 1)]
    expected = [r for d in days for r in reversed(day_rows(7, DEFAULT_INTEGRATION, table, d))]
    assert rows == expected
    first = api.get(f"/reports/v2/{table}-table", params={**TABLE, "page[size]": 1}).json()["data"]
    assert first["count"] == len(rows) and first["pageInfo"]["hasPreviousPage"] is False
    time_field = "conversion_time" if table == "conversion" else "request_time"
    assert [r[time_field] for r in rows] == sorted((r[time_field] for r in rows), reverse=True)


def test_page_before_returns_the_previous_page(api: httpx.Client) -> None:
    table = "/reports/v2/click-table"
    first = api.get(table, params={**TABLE, "page[size]": 50}).json()["data"]
    second = api.get(table, params={**TABLE, "page[size]": 50, "page[after]": first["pageInfo"]["endCursor"]}).json()["data"]
    assert second["pageInfo"]["hasPreviousPage"] is True
    back = api.get(table, params={**TABLE, "page[size]": 50, "page[before]": second["pageInfo"]["startCursor"]}).json()["data"]
    assert back["data"] == first["data"] and back["pageInfo"]["hasPreviousPage"] is False


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"page[size]": 101}, 400, "page[size] must be between 1 and 100"),
        ({}, 400, "page[size] is required"),
        ({"page[size]": 10, "page[after]": "c2024030100001aaaaaaaa", "page[before]": "c2024030100001aaaaaaaa"}, 400,
         "page[after] and page[before] are mutually exclusive"),
        ({"page[size]": 10, "page[after]": "c2024030100001aaaaaaaa"}, 400, "invalid cursor"),
        ({"page[size]": 10, "page[after]": "nonsense"}, 400, "invalid cursor"),
        ({"page[size]": 10, "start_date": ""}, 400, "start_date is required"),
        ({"page[size]": 10, "integration_id": ""}, 400, "integration_id is required"),
        ({"page[size]": 10, "integration_id": "nope"}, 404, "integration nope not found"),
    ],
)
def test_report_table_validates(api: httpx.Client, params: dict[str, Any], status: int, message: str) -> None:
    response = api.get("/reports/v2/click-table", params={**TABLE, **params})
    assert response.status_code == status and detail(response).startswith(message)


def test_rejections_by_reason_and_publisher_look_real(api: httpx.Client) -> None:
    clicks = walk(api, "click", 100)
    conversions = walk(api, "conversion", 100)
    rejected = [r for r in clicks if r["status"] != "Approved"]
    assert 0.08 < len(rejected) / len(clicks) < 0.25
    assert {r["rejected_simple_reason"] for r in rejected} <= set(CLICK_REASONS)
    assert all(r["rejected_advanced_reason"] and r["rejections"] == [r["rejected_simple_reason"]] for r in rejected)
    assert all(r["blocked"] == (0 if r["monitoring_mode"] else 1) for r in rejected)
    assert all(r["rejected_simple_reason"] == "" and r["blocked"] == 0 for r in clicks if r["status"] == "Approved")
    by_publisher = Counter(r["publisher"] for r in rejected)
    assert by_publisher.most_common(1)[0][0] in {"1077", "1123", "1204"}  # the shady ones
    assert set(by_publisher) <= {p[0] for p in PUBLISHERS}
    flagged = [r for r in conversions if r["rejected"]]
    assert flagged and {r["rejected_simple_reason"] for r in flagged} <= set(CONVERSION_REASONS)
    assert all(r["status"] == "Rejected" for r in flagged)
    clicks_by_tx = {r["tx_id"]: r for r in clicks}
    linked = [r for r in conversions if r["click_tx_id"] in clicks_by_tx]
    assert linked and all(clicks_by_tx[r["click_tx_id"]]["publisher"] == r["publisher"] for r in linked)


def test_lookups(api: httpx.Client) -> None:
    click = day_rows(7, DEFAULT_INTEGRATION, "click", date(2024, 3, 2))[17]
    query = {"integration_id": DEFAULT_INTEGRATION, "request_date": "2024-03-02", "offer": click["offer"],
             "publisher": click["publisher"], "tx_id": click["tx_id"]}
    assert api.get("/reports/v2/click", params=query).json() == {"data": click}
    assert api.get("/reports/v2/click", params={**query, "request_date": "2024-03-01"}).status_code == 404
    assert api.get("/reports/v2/click", params={**query, "publisher": "0"}).status_code == 404
    missing = api.get("/reports/v2/click", params={**query, "offer": ""})
    assert missing.status_code == 400 and detail(missing) == "offer is required"

    conversion = day_rows(7, DEFAULT_INTEGRATION, "conversion", date(2024, 3, 2))[3]
    query = {"integration_id": DEFAULT_INTEGRATION, "request_date": "2024-03-02", "offer": conversion["offer_id"],
             "publisher": conversion["publisher"], "hash": conversion["hash"]}
    assert api.get("/reports/v2/conversion", params=query).json() == {"data": conversion}
    assert api.get("/reports/v2/conversion", params={**query, "hash": conversion["hash"][:-1] + "x"}).status_code == 404


def test_data_is_deterministic_per_seed(api: httpx.Client) -> None:
    with Sandbox(apps=CATALOGUE.sandbox_apps, seed=7) as same, Sandbox(apps=CATALOGUE.sandbox_apps, seed=8) as other:
        def first_page(box: Sandbox) -> list[dict[str, Any]]:
            url = box.base_url("24metrics") + "/api/v2/reports/v2/click-table"
            return httpx.get(url, params={**TABLE, "page[size]": 20}, headers=AUTH).json()["data"]["data"]

        assert first_page(same) == api.get("/reports/v2/click-table", params={**TABLE, "page[size]": 20}).json()["data"]["data"]
        assert first_page(other) != first_page(same)


# -- faults and counters ------------------------------------------------------------------------

def test_faults_and_counters_per_op(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.inject("24metrics", "filter_groups.list", "status", status=429)
    sandbox.inject("24metrics", "filter_groups.update", "malformed")
    limited = api.get(GROUPS)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert detail(limited) == "Too Many Requests (sandbox fault)."
    with pytest.raises(ValueError):
        api.patch(f"{GROUPS}/{G1}", json={"active": False}).json()
    assert api.get(GROUPS).status_code == 200
    api.patch(GROUPS, json={"data": [G1], "monitoring_mode": True})
    api.get("/reports/v2/click-table", params={**TABLE, "page[size]": 1})
    assert sandbox.stats() == {
        "24metrics.filter_groups.list": 2,
        "24metrics.filter_groups.update": 1,
        "24metrics.filter_groups.bulk_update": 1,
        "24metrics.report.click": 1,
    }

"""The Instal export adapter against the sandbox, plus its pure answer mapping."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from devkit.sandbox import Sandbox
from workers.errors import (
    VendorAuthError,
    VendorError,
    VendorExportFailed,
    VendorProtocolError,
    VendorRateLimited,
    VendorRejected,
    VendorTransient,
)
from workers.vendors.exports import ExportAdapter, ExportStatus
from workers.vendors.instal.client import InstalClient, export_body, status_from_answer, task_id_from_answer
from workers.vendors.instal.sandbox import COLUMNS
from workers.vendors.registry import CATALOGUE

PARAMS = {"start_date": "2024-03-01", "stop_date": "2024-03-03"}
CDN = "https://cdn.example/x.csv"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0.8) as running:
        yield running


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[InstalClient]:
    sandbox.reset()
    with InstalClient(sandbox.base_url("instal"), SecretStr(Sandbox.TOKEN), timeout=5) as instal:
        yield instal


def wait_until_finished(client: InstalClient, task_id: str, *, deadline: float = 5.0) -> list[ExportStatus]:
    seen = []
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        status = client.check(task_id)
        seen.append(status)
        if status.finished:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"export {task_id} not finished within {deadline} s: {seen[-1]}")


def test_client_is_an_export_adapter(client: InstalClient) -> None:
    assert isinstance(client, ExportAdapter)


def test_lifecycle_pending_started_success(sandbox: Sandbox, client: InstalClient) -> None:
    task_id = client.create({**PARAMS, "interval": "daily", "csv_headers": True})
    seen = wait_until_finished(client, task_id)

    states = [s.vendor_state for s in seen]
    assert states[0] == "PENDING" and "STARTED" in states and states[-1] == "SUCCESS"
    order = {"PENDING": 0, "STARTED": 1, "SUCCESS": 2}
    assert [order[s] for s in states] == sorted(order[s] for s in states)
    assert all(s.state == "pending" for s in seen[:-1])
    assert seen[states.index("STARTED")].note == "Instal is building the file"

    final = seen[-1]
    assert final.state == "ready"
    assert final.url == f"{sandbox.url}/files/instal/{task_id}.csv"
    download = httpx.get(final.url)  # a signed link: no token needed
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.text)))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 1 + 3 * 3  # three days, three rows a day
    assert sandbox.stats() == {"instal.create": 1, "instal.retrieve": len(seen), "instal.file": 1}


def test_task_failure_is_reported_with_its_reason(sandbox: Sandbox, client: InstalClient) -> None:
    task_id = client.create(PARAMS)
    sandbox.inject("instal", "retrieve", "failed")
    status = client.check(task_id)
    assert status.state == "failed" and status.vendor_state == "FAILURE"
    assert status.reason and "report generation failed" in status.reason
    assert client.check(task_id).state == "failed"  # stays failed


def test_create_answering_error_raises_export_failed(sandbox: Sandbox, client: InstalClient) -> None:
    sandbox.inject("instal", "create", "failed")
    with pytest.raises(VendorExportFailed) as caught:
        client.create(PARAMS)
    assert caught.value.reason == "Export queue unavailable (sandbox fault)."
    assert "Instal refused to start the export: Export queue unavailable (sandbox fault)" in str(caught.value)


def test_unknown_task_is_404(client: InstalClient) -> None:
    with pytest.raises(VendorRejected) as caught:
        client.check("00000000-0000-4000-8000-00000000ffff")
    assert caught.value.status == 404
    assert "no longer knows export 00000000-0000-4000-8000-00000000ffff" in str(caught.value)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start_date": "2024-13-01", "stop_date": "2024-03-03"}, "start_date: Date has wrong format"),
        ({"start_date": "01/03/2024", "stop_date": "2024-03-03"}, "start_date: Date has wrong format"),
        ({"start_date": "2024-03-05", "stop_date": "2024-03-03"}, "stop_date must be on or after start_date"),
        ({**PARAMS, "interval": "weekly"}, 'interval: "weekly" is not a valid choice'),
        ({**PARAMS, "sorting": "clicks"}, 'sorting: "clicks" is not a valid choice'),
        ({**PARAMS, "format": "xlsx"}, 'format: "xlsx" is not a valid choice'),
    ],
)
def test_invalid_requests_are_the_users_to_fix(client: InstalClient, params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(VendorRejected) as caught:
        client.create(params)
    assert caught.value.status == 400
    assert fragment in str(caught.value)


def test_transient_fault_then_recovery(sandbox: Sandbox, client: InstalClient) -> None:
    task_id = client.create(PARAMS)
    sandbox.inject("instal", "retrieve", "status", status=429, retry_after=2)
    sandbox.inject("instal", "retrieve", "malformed")
    with pytest.raises(VendorRateLimited) as caught:
        client.check(task_id)
    assert caught.value.retry_after == 2
    with pytest.raises(VendorProtocolError):
        client.check(task_id)
    assert client.check(task_id).vendor_state in ("PENDING", "STARTED", "SUCCESS")


@pytest.mark.parametrize("token", ["wrong-token-0123456789", SecretStr("wrong-token-0123456789")])
def test_wrong_token_names_the_variable_and_never_the_token(sandbox: Sandbox, token: str | SecretStr) -> None:
    secret = "wrong-token-0123456789"
    with InstalClient(sandbox.base_url("instal"), token) as instal:
        assert secret not in repr(instal)
        for call in (lambda: instal.create(PARAMS), lambda: instal.check("00000000-0000-4000-8000-000000000001")):
            with pytest.raises(VendorAuthError) as caught:
                call()
            assert str(caught.value) == "Instal refused our token; an admin needs to check it."
            assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_token_never_in_any_error_text(sandbox: Sandbox, client: InstalClient) -> None:
    task_id = client.create(PARAMS)
    for op, kind, status in [("create", "status", 400), ("create", "status", 403), ("retrieve", "status", 500),
                             ("retrieve", "malformed", None), ("create", "failed", None)]:
        sandbox.inject("instal", op, kind, status=status)
        with pytest.raises(VendorError) as caught:
            client.create(PARAMS) if op == "create" else client.check(task_id)
        assert Sandbox.TOKEN not in str(caught.value) and Sandbox.TOKEN not in repr(caught.value)


def test_one_client_serves_many_threads(sandbox: Sandbox, client: InstalClient) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            task_id = client.create(PARAMS)
            client.check(task_id)
            with lock:
                ids.append(task_id)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(ids) == len(set(ids)) == 40
    assert sandbox.stats() == {"instal.create": 40, "instal.retrieve": 40}


def test_check_refuses_an_id_that_could_leave_the_path(client: InstalClient) -> None:
    with pytest.raises(ValueError):
        client.check("../../admin")


def test_empty_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="INSTAL_TOKEN"):
        InstalClient("http://127.0.0.1:9", SecretStr(" "))


# -- pure mapping -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("params", "body"),
    [
        (PARAMS, PARAMS),
        ({"start_date": date(2024, 3, 1), "stop_date": date(2024, 3, 3), "csv_headers": False, "interval": "hourly"},
         {"start_date": "2024-03-01", "stop_date": "2024-03-03", "csv_headers": False, "interval": "hourly"}),
        ({**PARAMS, "sorting": None, "format": "csv"}, {**PARAMS, "format": "csv"}),
    ],
)
def test_export_body(params: dict[str, Any], body: dict[str, Any]) -> None:
    assert export_body(params) == body


@pytest.mark.parametrize("params", [{"stop_date": "2024-03-03"}, {**PARAMS, "fields": "x"}])
def test_export_body_refuses_what_instal_does_not_take(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        export_body(params)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"result": "QUEUED", "task_id": "abc-123"}, "abc-123"),
        ({"result": "QUEUED", "task_id": 42, "extra": True}, "42"),
        ({"result": "ERROR", "task_id": None, "detail": "Range too long"}, VendorExportFailed),
        ({"result": "ERROR"}, VendorExportFailed),
        ({"result": "QUEUED"}, VendorProtocolError),
        ({"result": "QUEUED", "task_id": "../x"}, VendorProtocolError),
        ({"task_id": "abc"}, VendorProtocolError),
        (["QUEUED"], VendorProtocolError),
    ],
)
def test_task_id_from_answer(payload: Any, expected: str | type) -> None:
    if isinstance(expected, str):
        assert task_id_from_answer(payload) == expected
    else:
        with pytest.raises(expected):
            task_id_from_answer(payload)


def test_export_failed_reason_is_kept() -> None:
    with pytest.raises(VendorExportFailed) as caught:
        task_id_from_answer({"result": "ERROR", "error": "Range too long", "task_id": None})
    assert caught.value.reason == "Range too long"
    assert not isinstance(caught.value, VendorTransient)


@pytest.mark.parametrize(
    ("payload", "state", "vendor_state", "url", "reason"),
    [
        ({"state": "SUCCESS", "result": CDN}, "ready", "SUCCESS", CDN, None),
        ({"state": "success", "result": CDN}, "ready", "SUCCESS", CDN, None),
        ({"state": "SUCCESS", "result": "/media/x.csv"}, "ready", "SUCCESS", "https://dashboard.example/media/x.csv",
         None),
        ({"state": "PENDING", "result": None}, "pending", "PENDING", None, None),
        ({"state": "STARTED", "result": None}, "pending", "STARTED", None, None),
        ({"state": "RETRY", "result": None}, "pending", "RETRY", None, None),
        ({"state": "RECEIVED"}, "pending", "RECEIVED", None, None),
        ({"state": "QUEUED_SOMEWHERE", "extra": 1}, "pending", "QUEUED_SOMEWHERE", None, None),
        ({"state": "FAILURE", "result": "MemoryError: rows"}, "failed", "FAILURE", None, "MemoryError: rows"),
        ({"state": "FAILURE", "result": {"exc_type": "ValueError", "exc_message": ["bad range"]}},
         "failed", "FAILURE", None, "bad range"),
        ({"state": "ERROR", "result": None}, "failed", "ERROR", None, None),
        ({"state": "ERROR", "result": None, "detail": "quota exceeded"}, "failed", "ERROR", None, "quota exceeded"),
        ({"state": "REVOKED", "result": None}, "failed", "REVOKED", None, "the export was cancelled at Instal"),
    ],
)
def test_status_from_answer(
    payload: dict[str, Any], state: str, vendor_state: str, url: str | None, reason: str | None
) -> None:
    status = status_from_answer(payload, base_url="https://dashboard.example")
    assert (status.state, status.vendor_state, status.url, status.reason) == (state, vendor_state, url, reason)


@pytest.mark.parametrize(
    "payload",
    [{"state": "SUCCESS", "result": None}, {"state": "SUCCESS", "result": "ftp://x"}, {"result": "x"}, "SUCCESS", None],
)
def test_status_from_answer_refuses_answers_it_cannot_use(payload: Any) -> None:
    with pytest.raises(VendorProtocolError):
        status_from_answer(payload)


def test_failure_reason_is_scrubbed_of_the_token() -> None:
    answer = {"state": "FAILURE", "result": "auth tok-0123456789 expired"}
    status = status_from_answer(answer, secrets=("tok-0123456789",))
    assert status.reason == "auth [redacted] expired"

"""The sandbox mounted in-process: vendor clients over ``sandbox.transport()``, no server, no socket.

The mounted sandbox is never started, so ``sandbox.url`` raises; its base URLs are under
``http://sandbox.local``, which resolves nowhere, so only the mounted transport can answer.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date

import httpx
import pytest

from devkit.sandbox import Sandbox
from workers.errors import VendorError, VendorRateLimited, VendorTransient
from workers.vendors.instal.client import InstalClient
from workers.vendors.instal.sandbox import COLUMNS, InstalApp
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, day_rows
from workers.vendors.registry import CATALOGUE

AUTH = {"Authorization": f"Token {Sandbox.TOKEN}"}
BODY = {"start_date": "2024-02-27", "stop_date": "2024-03-02"}
PARAMS = {"start_date": "2024-01-01", "stop_date": "2024-01-30", "interval": "hourly"}


def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    stop = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < stop, f"not true within {deadline} s"
        time.sleep(0.02)
@pytest.fixture
def mounted() -> Iterator[Sandbox]:
    box = Sandbox(ready_after=0, apps=[InstalApp])  # never started
    yield box
    box.stop()


def mounted_instal(box: Sandbox, timeout: float = 5.0) -> InstalClient:
    return InstalClient(box.base_url("instal"), Sandbox.TOKEN, timeout=timeout, transport=box.transport())


def test_mounted_instal_client_meets_a_429_then_exports_and_streams_the_file(mounted: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="not serving HTTP"):
        mounted.url
    assert mounted.base_url("instal") == f"{Sandbox.MOUNTED_URL}/instal" == "http://sandbox.local/instal"
    mounted.inject("instal", "create", "status", status=429, retry_after=4)
    with mounted_instal(mounted) as instal:
        with pytest.raises(VendorRateLimited) as caught:
            instal.create(PARAMS)
        assert (caught.value.status, caught.value.retry_after) == (429, 4.0)
        task_id = instal.create(PARAMS)
        status = instal.check(task_id)
    assert status.state == "ready" and status.url == f"http://sandbox.local/files/instal/{task_id}.csv"
    with httpx.Client(transport=mounted.transport()) as client, client.stream("GET", status.url) as response:
        assert response.status_code == 200 and "content-length" not in response.headers
        chunks = list(response.iter_raw())
    assert len(chunks) == 2  # 720 hourly rows, 500 a chunk: handed over as the app yields them
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 30 * 24
    assert mounted.stats() == {"instal.create": 2, "instal.retrieve": 1, "instal.file": 1}


def test_mounted_timeout_fault_ends_at_the_clients_read_timeout(mounted: Sandbox) -> None:
    mounted.inject("instal", "create", "timeout", delay=30)
    mounted.inject("instal", "create", "timeout", delay=0.2)
    with mounted_instal(mounted, timeout=0.3) as instal:
        # Held past the read timeout: the client gives up, as over a socket (and, since the
        # request reached the vendor, says the export may have started rather than retry it).
        with pytest.raises(VendorError, match="may have started this export") as raised:
            instal.create(PARAMS)
        assert isinstance(raised.value.__cause__, VendorTransient)
        assert "did not answer within 0.3 s" in str(raised.value.__cause__)
        assert instal.create(PARAMS)  # held 0.2 s, less than the timeout: answered


def test_mounted_stop_drops_held_answers_and_stays_mounted(mounted: Sandbox) -> None:
    mounted.inject("instal", "create", "timeout")  # 30 s by default
    url = mounted.base_url("instal") + "/advertiser/api/v1/reports/exports/"
    outcome: list[str] = []

    def call() -> None:
        with httpx.Client(transport=mounted.transport(), timeout=60) as client:
            try:
                outcome.append(client.post(url, json=BODY, headers=AUTH).json()["result"])
            except httpx.RemoteProtocolError:
                outcome.append("dropped")

    thread = threading.Thread(target=call)
    thread.start()
    until(lambda: mounted.stats().get("instal.create") == 1)
    started = time.monotonic()
    mounted.stop()
    thread.join(timeout=5)
    assert outcome == ["dropped"] and time.monotonic() - started < 3
    call()
    assert outcome == ["dropped", "QUEUED"]


def test_mounted_controls_and_links_follow_the_host_asked(mounted: Sandbox) -> None:
    assert mounted.vendors == ("instal",)
    with httpx.Client(transport=mounted.transport(), base_url="http://elsewhere.test:8080/instal") as client:
        fault = {"vendor": "instal", "op": "create", "kind": "status", "status": 503}
        assert client.post("http://elsewhere.test:8080/_sandbox/faults", json=fault).status_code == 201
        exports = "/advertiser/api/v1/reports/exports/"
        assert client.post(exports, json=BODY, headers=AUTH).status_code == 503
        task_id = client.post(exports, json=BODY, headers=AUTH).json()["task_id"]
        link = client.get(f"{exports}{task_id}/", headers=AUTH).json()["result"]
        assert link == f"http://elsewhere.test:8080/files/instal/{task_id}.csv"
        assert client.head(link).content == b"" and client.get(link).text.startswith("aff_sub_id,")


def test_mounted_metrics24_client_retries_a_429_and_streams_an_export() -> None:
    box = Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0)  # never started
    with pytest.raises(RuntimeError, match="not serving HTTP"):
        box.url
    box.inject("24metrics", "filter_groups.list", "status", status=429, retry_after=0.1)
    with Metrics24Client(box.base_url("24metrics"), Sandbox.TOKEN, integration_id=DEFAULT_INTEGRATION,
                         timeout=5, transport=box.transport()) as client:
        assert len(client.list_filter_groups()) == 130  # the page answered 429 was asked again
        status = client.check(client.create({"kind": "clicks", "start_date": "2024-03-01", "end_date": "2024-03-08"}))
    url = status.url or ""
    assert status.state == "ready" and url.startswith("http://sandbox.local/files/24metrics/")
    with httpx.Client(transport=box.transport()) as raw, raw.stream("GET", url) as response:
        assert response.status_code == 200 and "content-length" not in response.headers
        chunks = [chunk for chunk in response.iter_raw() if chunk]
    expected = sum(len(day_rows(7, DEFAULT_INTEGRATION, "click", date(2024, 3, d))) for d in range(1, 9))
    assert len(chunks) == -(-expected // 1000)  # a chunk per thousand rows, as the app yields them
    assert len(b"".join(chunks).decode().splitlines()) == 1 + expected
    assert box.stats()["24metrics.filter_groups.list"] == 3  # the 429, then pages one and two

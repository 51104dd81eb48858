"""The vendor sandbox itself: controls, faults, counters, Instal's documented behaviour and data."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devkit.sandbox import Sandbox
from workers.vendors.instal.sandbox import COLUMNS
from workers.vendors.registry import CATALOGUE

AUTH = {"Authorization": f"Token {Sandbox.TOKEN}"}
BODY = {"start_date": "2024-02-27", "stop_date": "2024-03-02"}
WRONG_DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0.4) as running:
        yield running


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    sandbox.reset()
    with httpx.Client(base_url=sandbox.base_url("instal") + "/advertiser/api/v1/reports/exports/", timeout=5) as client:
        yield client


def create(api: httpx.Client, **body: Any) -> str:
    response = api.post("", json={**BODY, **body}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "QUEUED"
    return response.json()["task_id"]


def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    stop = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < stop, f"not true within {deadline} s"
        time.sleep(0.02)


def wait_for_file(api: httpx.Client, task_id: str, deadline: float = 5.0) -> str:
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        answer = api.get(f"{task_id}/", headers=AUTH).json()
        if answer["state"] == "SUCCESS":
            return httpx.get(answer["result"]).text
        time.sleep(0.05)
    raise AssertionError(f"{task_id} not ready within {deadline} s")


# -- Instal: authentication and validation ------------------------------------------------------

@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": f"Bearer {Sandbox.TOKEN}"}, "Invalid token header. No credentials provided."),
        ({"Authorization": "Token"}, "Invalid token header. No credentials provided."),
        ({"Authorization": "Token nope"}, "Invalid token."),
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_token_is_required(api: httpx.Client, headers: dict[str, str], detail: str, method: str) -> None:
    task = "" if method == "POST" else "00000000-0000-4000-8000-000000000001/"
    response = api.request(method, task, json=BODY if method == "POST" else None, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"stop_date": "2024-03-02"}, {"start_date": ["This field is required."]}),
        ({}, {"start_date": ["This field is required."], "stop_date": ["This field is required."]}),
        ({**BODY, "stop_date": "2024-02-30"}, {"stop_date": [WRONG_DATE]}),
        ({**BODY, "start_date": 20240227}, {"start_date": [WRONG_DATE]}),
        ({**BODY, "stop_date": "2024-02-01"}, {"non_field_errors": ["stop_date must be on or after start_date."]}),
        ({**BODY, "interval": "weekly"}, {"interval": ['"weekly" is not a valid choice.']}),
        ({**BODY, "sorting": "clicks"}, {"sorting": ['"clicks" is not a valid choice.']}),
        ({**BODY, "csv_headers": "maybe"}, {"csv_headers": ["Must be a valid boolean."]}),
        ([BODY], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_create_validates_like_django_rest_framework(
    api: httpx.Client, body: Any, errors: dict[str, list[str]]
) -> None:
    response = api.post("", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == errors


def test_create_refuses_a_body_that_is_not_json(api: httpx.Client) -> None:
    response = api.post("", content=b"start_date=2024-01-01", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_unknown_task_and_unready_file_are_404(sandbox: Sandbox, api: httpx.Client) -> None:
    assert api.get("no-such-task/", headers=AUTH).status_code == 404
    task_id = create(api)
    assert httpx.get(f"{sandbox.url}/files/instal/{task_id}.csv").status_code == 404  # not ready yet


def test_wrong_method_is_405(api: httpx.Client) -> None:
    response = api.delete("", headers=AUTH)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


# -- Instal: lifecycle and data -----------------------------------------------------------------

def test_task_walks_pending_started_success(sandbox: Sandbox, api: httpx.Client) -> None:
    task_id = create(api)
    states = []
    stop = time.monotonic() + 5
    while time.monotonic() < stop:
        answer = api.get(f"{task_id}/", headers=AUTH).json()
        states.append(answer["state"])
        if answer["state"] == "SUCCESS":
            break
        assert answer["result"] is None
        time.sleep(0.04)
    assert states[0] == "PENDING" and "STARTED" in states and states[-1] == "SUCCESS"
    assert answer["result"] == f"{sandbox.url}/files/instal/{task_id}.csv"


def test_task_ids_are_counter_based_and_never_reused(sandbox: Sandbox, api: httpx.Client) -> None:
    first, second = create(api), create(api)
    assert first != second
    assert int(second.rsplit("-", 1)[1], 16) == int(first.rsplit("-", 1)[1], 16) + 1
    sandbox.reset()
    assert api.get(f"{first}/", headers=AUTH).status_code == 404  # reset forgot it
    assert create(api) not in (first, second)


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        ({"interval": "daily"}, 5 * 3),  # 2024-02-27..03-02 is five days (leap year)
        ({"interval": "hourly"}, 5 * 24),
        ({"interval": "monthly"}, 2 * 3),
    ],
)
def test_csv_has_the_documented_columns_and_rows_per_interval(
    sandbox: Sandbox, api: httpx.Client, body: dict[str, Any], rows: int
) -> None:
    sandbox.set_ready_after(0)
    text = wait_for_file(api, create(api, **body))
    table = list(csv.DictReader(io.StringIO(text)))
    assert tuple(table[0]) == COLUMNS
    assert len(table) == rows
    assert all(BODY["start_date"][:7] <= row["time"][:7] <= BODY["stop_date"][:7] for row in table)


def test_csv_headers_off_and_sorting(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.set_ready_after(0)
    text = wait_for_file(api, create(api, csv_headers=False, sorting="time"))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] != "aff_sub_id" and len(rows) == 15
    times = [row[1] for row in rows]
    assert times == sorted(times)
    default = list(csv.DictReader(io.StringIO(wait_for_file(api, create(api)))))
    assert [r["campaign_id"] for r in default] == sorted(r["campaign_id"] for r in default)


def test_data_is_deterministic_per_seed(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.set_ready_after(0)

    def export(seed: int) -> str:
        with Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0, seed=seed) as other, httpx.Client(timeout=5) as client:
            url = other.base_url("instal") + "/advertiser/api/v1/reports/exports/"
            task_id = client.post(url, json=BODY, headers=AUTH).json()["task_id"]
            link = client.get(f"{url}{task_id}/", headers=AUTH).json()["result"]
            return client.get(link).text

    assert export(7) == export(7) == wait_for_file(api, create(api))
    assert export(8) != export(7)


# -- faults, counters, controls -----------------------------------------------------------------

def test_faults_are_consumed_fifo_and_counted(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.inject("instal", "create", "status", status=500, count=2)
    sandbox.inject("instal", "create", "status", status=429, retry_after=4)
    sandbox.inject("instal", "create", "malformed")
    answers = [api.post("", json=BODY, headers=AUTH) for _ in range(5)]
    assert [a.status_code for a in answers] == [500, 500, 429, 200, 200]
    assert answers[0].json() == {"detail": "Internal Server Error (sandbox fault)."}
    assert answers[2].headers["Retry-After"] == "4"
    with pytest.raises(ValueError):
        answers[3].json()
    assert answers[4].json()["result"] == "QUEUED"
    assert sandbox.stats() == {"instal.create": 5}


def test_rate_limit_fault_always_says_when_to_retry(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.inject("instal", "create", "status", status=429)
    assert api.post("", json=BODY, headers=AUTH).headers["Retry-After"] == "1"


def test_faults_apply_per_op(sandbox: Sandbox, api: httpx.Client) -> None:
    task_id = create(api)
    sandbox.inject("instal", "retrieve", "status", status=503)
    assert api.post("", json=BODY, headers=AUTH).status_code == 200
    assert api.get(f"{task_id}/", headers=AUTH).status_code == 503
    assert api.get(f"{task_id}/", headers=AUTH).status_code == 200
    assert sandbox.stats() == {"instal.create": 2, "instal.retrieve": 2}


def test_timeout_fault_holds_then_answers(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.inject("instal", "create", "timeout", delay=0.5, count=2)
    # Held: a client that waits less than the hold gets no answer...
    with pytest.raises(httpx.ReadTimeout):
        api.post("", json=BODY, headers=AUTH, timeout=0.05)
    # ...and one that waits long enough gets the normal one.
    assert api.post("", json=BODY, headers=AUTH, timeout=10).json()["result"] == "QUEUED"


def test_stop_releases_held_responses() -> None:
    held = Sandbox(apps=CATALOGUE.sandbox_apps).start()
    held.inject("instal", "create", "timeout")  # 30 s by default
    outcome: list[str] = []

    def call() -> None:
        try:
            url = held.base_url("instal") + "/advertiser/api/v1/reports/exports/"
            httpx.post(url, json=BODY, headers=AUTH, timeout=10)
            outcome.append("answered")
        except httpx.TransportError:
            outcome.append("dropped")

    thread = threading.Thread(target=call)
    thread.start()
    until(lambda: held.stats().get("instal.create") == 1)
    started = time.monotonic()
    held.stop()
    thread.join(timeout=5)
    assert outcome == ["dropped"]
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody", "create", "status"), "unknown vendor"),
        (("instal", "delete", "status"), "unknown op"),
        (("instal", "create", "explode"), "unknown fault kind"),
        (("instal", "file", "failed"), "unknown fault kind"),
        (("instal", "create", "status"), "needs status"),
    ],
)
def test_inject_refuses_faults_that_would_never_fire(
    sandbox: Sandbox, args: tuple[str, str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sandbox.inject(*args)


def test_controls_over_http(sandbox: Sandbox, api: httpx.Client) -> None:
    control = f"{sandbox.url}/_sandbox"
    assert httpx.post(f"{control}/config", json={"ready_after": 0}).json() == {"ready_after": 0.0, "seed": 7}
    fault = {"vendor": "instal", "op": "create", "kind": "status", "status": 402}
    assert httpx.post(f"{control}/faults", json=fault).status_code == 201
    assert api.post("", json=BODY, headers=AUTH).status_code == 402
    task_id = create(api)
    assert api.get(f"{task_id}/", headers=AUTH).json()["state"] == "SUCCESS"  # ready_after 0
    assert httpx.get(f"{control}/stats").json() == {"instal.create": 2, "instal.retrieve": 1}

    bad = httpx.post(f"{control}/faults", json={**fault, "vendor": "nobody"})
    assert bad.status_code == 400 and "unknown vendor" in bad.json()["detail"]
    assert httpx.post(f"{control}/faults", json={**fault, "colour": "red"}).status_code == 400
    assert httpx.post(f"{control}/config", json={"ready_after": -1}).status_code == 400

    assert httpx.post(f"{control}/reset").json() == {"ok": True}
    assert httpx.get(f"{control}/stats").json() == {}
    assert sandbox.config.ready_after == 0.4  # back to the start-up value
    assert api.get(f"{task_id}/", headers=AUTH).status_code == 404


def test_reset_drops_queued_faults(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.inject("instal", "create", "status", status=500, count=3)
    sandbox.reset()
    assert api.post("", json=BODY, headers=AUTH).status_code == 200


def test_standalone_entry_point() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.sandbox", "--port", "0", "--ready-after", "0"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split()[3]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/_sandbox/stats", timeout=5).json() == {}
        assert f"instal: {url}/instal" in process.stdout.readline()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    assert process.returncode == 0


def test_main_set_sizes_a_vendor_app_for_the_process_only() -> None:
    """``python -m devkit.sandbox --set adspect.clicks_per_day=N`` (a bench sizes the click log)."""
    import pytest

    from devkit.sandbox.__main__ import tuned
    from workers.vendors.adspect.sandbox import AdspectApp
    from workers.vendors.registry import CATALOGUE

    apps = tuned(tuple(CATALOGUE.sandbox_apps), ["adspect.clicks_per_day=7"])
    (sized,) = [app for app in apps if app.name == "adspect"]
    assert sized.clicks_per_day == 7 and issubclass(sized, AdspectApp) and AdspectApp.clicks_per_day == 1_500
    assert [a for a in apps if a.name != "adspect"] == [a for a in CATALOGUE.sandbox_apps if a.name != "adspect"]
    for bad in ("adspect.nope=1", "nobody.clicks_per_day=1", "adspect.clicks_per_day", "adspect.routes=1"):
        with pytest.raises(SystemExit):
            tuned(tuple(CATALOGUE.sandbox_apps), [bad])

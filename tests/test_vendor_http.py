"""The vendor HTTP boundary: every status class, timeouts, broken connections, garbled bodies.

Classification is exercised over real HTTP against the sandbox (faults on demand); the pure
parts (Retry-After, reasons, redaction) are table-driven on hand-built httpx responses.
"""

from __future__ import annotations

import base64
import gzip
import pickle
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

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
from workers.vendors.http import MAX_RESPONSE_BYTES, VendorHTTP
from workers.vendors.instal.client import EXPORTS_PATH
from workers.vendors.reasons import error_reason
from workers.vendors.registry import CATALOGUE
from workers.vendors.statuses import parse_retry_after, raise_for_status

BODY = {"start_date": "2024-03-01", "stop_date": "2024-03-02"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(apps=CATALOGUE.sandbox_apps, ready_after=0.2) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset()


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[VendorHTTP]:
    client = VendorHTTP(
        "Instal", sandbox.base_url("instal"), headers={"Authorization": f"Token {Sandbox.TOKEN}"},
        key_variable="INSTAL_TOKEN", timeout=5.0,
    )
    yield client
    client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- status classes over real HTTP ------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "retry_after", "expected", "fragments"),
    [
        (400, None, VendorRejected, ["rejected the request (400 Bad Request)", "sandbox fault", "Check the dates"]),
        (401, None, VendorAuthError, ["Instal refused our token; an admin needs to check it."]),
        (402, None, VendorRejected, ["402 Payment Required", "account needs attention"]),
        (403, None, VendorRejected, ["403 Forbidden", "Our Instal key lacks the rights", "an admin needs to check it"]),
        (404, None, VendorRejected, ["404 Not Found", "expired"]),
        (422, None, VendorRejected, ["422 Unprocessable Entity", "Check the dates"]),
        (429, 7, VendorRateLimited, ["rate limiting us (429 Too Many Requests)", "wait 7 s"]),
        (500, None, VendorTransient, ["500 Internal Server Error", "usually temporary"]),
        (502, None, VendorTransient, ["502 Bad Gateway"]),
        (503, 12, VendorTransient, ["503 Service Unavailable"]),
    ],
)
def test_status_maps_to_one_exception(
    sandbox: Sandbox, http: VendorHTTP, status: int, retry_after: float | None, expected: type, fragments: list[str]
) -> None:
    sandbox.inject("instal", "create", "status", status=status, retry_after=retry_after)
    with pytest.raises(VendorError) as caught:
        http.json("POST", EXPORTS_PATH, json=BODY)
    exc = caught.value
    assert type(exc) is expected
    assert exc.vendor == "Instal" and exc.status == status
    for fragment in fragments:
        assert fragment in str(exc)
    if isinstance(exc, VendorTransient):
        assert exc.retry_after == retry_after
    assert Sandbox.TOKEN not in str(exc) and Sandbox.TOKEN not in repr(exc)


def test_rate_limit_without_a_hint_still_carries_the_sandbox_default(sandbox: Sandbox, http: VendorHTTP) -> None:
    sandbox.inject("instal", "create", "status", status=429)
    with pytest.raises(VendorRateLimited) as caught:
        http.json("POST", EXPORTS_PATH, json=BODY)
    assert caught.value.retry_after == 1.0


def test_answer_after_a_consumed_fault_is_normal(sandbox: Sandbox, http: VendorHTTP) -> None:
    sandbox.inject("instal", "create", "status", status=503)
    with pytest.raises(VendorTransient):
        http.json("POST", EXPORTS_PATH, json=BODY)
    assert http.json("POST", EXPORTS_PATH, json=BODY)["result"] == "QUEUED"


def test_wrong_token_is_a_configuration_error_that_never_shows_the_token(sandbox: Sandbox,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-instal-token-0123456789"
    with VendorHTTP("Instal", sandbox.base_url("instal"), headers={"Authorization": f"Token {secret}"},
                    key_variable="INSTAL_TOKEN") as http:
        with pytest.raises(VendorAuthError) as caught:
            http.json("POST", EXPORTS_PATH, json=BODY)
        assert secret not in repr(http)
    exc = caught.value
    # The setting's name is for the operator (the log), not the person who reads the message.
    assert exc.key_variable == "INSTAL_TOKEN" and "INSTAL_TOKEN" not in str(exc)
    assert "INSTAL_TOKEN" in caplog.text and secret not in caplog.text
    for text in (str(exc), repr(exc), str(exc.__cause__), repr(exc.args)):
        assert secret not in text


def test_timeout_is_transient(sandbox: Sandbox) -> None:
    sandbox.inject("instal", "create", "timeout", delay=3)
    with VendorHTTP("Instal", sandbox.base_url("instal"), headers={"Authorization": f"Token {Sandbox.TOKEN}"},
                    key_variable="INSTAL_TOKEN", timeout=0.3) as http:
        with pytest.raises(VendorTransient) as caught:
            http.json("POST", EXPORTS_PATH, json=BODY)
    assert type(caught.value) is VendorTransient
    assert "did not answer within 0.3 s" in str(caught.value)
    assert sandbox.stats()["instal.create"] == 1


def test_malformed_json_is_a_protocol_error(sandbox: Sandbox, http: VendorHTTP) -> None:
    sandbox.inject("instal", "create", "malformed")
    with pytest.raises(VendorProtocolError) as caught:
        http.json("POST", EXPORTS_PATH, json=BODY)
    assert isinstance(caught.value, VendorTransient)
    assert "could not read" in str(caught.value)


def test_connection_refused_is_transient() -> None:
    with VendorHTTP("Instal", f"http://127.0.0.1:{_free_port()}", key_variable="INSTAL_TOKEN", timeout=2) as http:
        with pytest.raises(VendorTransient) as caught:
            http.json("GET", EXPORTS_PATH)
    assert type(caught.value) is VendorTransient
    assert "Could not connect to Instal" in str(caught.value)


def test_a_base_url_that_is_not_http_is_a_configuration_error() -> None:
    with VendorHTTP("Instal", "ftp://127.0.0.1/", key_variable="INSTAL_TOKEN") as http:
        with pytest.raises(VendorError) as caught:
            http.request("GET", EXPORTS_PATH)
    assert not isinstance(caught.value, VendorTransient)
    assert "base URL" in str(caught.value)


# -- raise_for_status on hand-built responses ---------------------------------------------------

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def _response(status: int, body: bytes | str = b"", *, headers: dict[str, str] | None = None,
              request_headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://vendor.example/api/", headers=request_headers or {})
    return httpx.Response(status, content=body.encode() if isinstance(body, str) else body,
                          headers=headers or {}, request=request)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("0", 0.0),
        ("5", 5.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("99999", 3600.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        (format_datetime(NOW + timedelta(days=2), usegmt=True), 3600.0),
        ("Friday, 01-May-26 12:01:00 GMT", 60.0),  # RFC 850
        ("Fri May  1 12:00:10 2026", 10.0),  # asctime
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_http_date_retry_after_reaches_the_exception() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with pytest.raises(VendorRateLimited) as caught:
        raise_for_status(_response(429, headers={"Retry-After": when}), "Instal", "INSTAL_TOKEN")
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (204, None),
        (301, VendorProtocolError),
        (302, VendorProtocolError),
        (400, VendorRejected),
        (401, VendorAuthError),
        (405, VendorRejected),
        (408, VendorTransient),
        (409, VendorRejected),
        (429, VendorRateLimited),
        (501, VendorTransient),
        (504, VendorTransient),
    ],
)
def test_raise_for_status_table(status: int, expected: type | None) -> None:
    response = _response(status, '{"detail": "nope"}', headers={"Content-Type": "application/json"})
    if expected is None:
        assert raise_for_status(response, "Instal", "INSTAL_TOKEN") is None
        return
    with pytest.raises(VendorError) as caught:
        raise_for_status(response, "Instal", "INSTAL_TOKEN")
    assert type(caught.value) is expected


@pytest.mark.parametrize(("status", "message"), [
    (401, "24Metrics refused our API key; an admin needs to check it."),
    (403, "Our 24Metrics key lacks the rights for this; an admin needs to check it."),
])
def test_key_trouble_names_the_variable_in_the_log_only(caplog: pytest.LogCaptureFixture, status: int,
                                                        message: str) -> None:
    with pytest.raises(VendorError) as caught:
        raise_for_status(_response(status), "24Metrics", "METRICS24_API_KEY")
    assert message in str(caught.value) and "METRICS24_API_KEY" not in str(caught.value)
    assert "METRICS24_API_KEY" in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"detail": "Invalid page."}', "application/json", "Invalid page."),
        ('{"start_date": ["Enter a valid date."], "non_field_errors": ["Too long."]}', "application/json",
         "start_date: Enter a valid date; Too long"),
        ('{"errors": [{"title": "Bad filter", "detail": "page[size] must be <= 100"}]}', "application/json",
         "page[size] must be <= 100"),
        ('[{"field": "metrics", "message": "Metrics cannot be blank."}]', "application/json",
         "metrics: Metrics cannot be blank"),
        ('{"Error": "Window too wide"}', "application/json", "Window too wide"),
        ('{"error": {"message": "quota"}}', "application/json", "quota"),
        ("plain   text\nreason", "text/plain", "plain text reason"),
        ("<html><body>502</body></html>", "text/html", None),
        ("<html>no type</html>", "", None),
        ("", "application/json", None),
        ('{"ok": 1}', "application/json", None),
        ('{"detail": "' + "x" * 500 + '"}', "application/json", "x" * 199 + "…"),
    ],
)
def test_error_reason(body: str, content_type: str, expected: str | None) -> None:
    assert error_reason(_response(400, body, headers={"Content-Type": content_type})) == expected


@pytest.mark.parametrize(
    ("request_headers", "secret"),
    [
        ({"Authorization": "Token tok_0123456789abcdef"}, "tok_0123456789abcdef"),
        ({"API-KEY": "k-24m-0123456789"}, "k-24m-0123456789"),
        ({"X-Eflow-API-Key": "eflow-0123456789"}, "eflow-0123456789"),
        ({"Authorization": "Basic " + base64.b64encode(b"adspect-key-0123456789:").decode()}, "adspect-key-0123456789"),
    ],
)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_a_vendor_echoing_our_key_never_gets_it_into_the_message(
    request_headers: dict[str, str], secret: str, status: int
) -> None:
    body = f'{{"detail": "key {secret} is not valid for this account"}}'
    response = _response(status, body, headers={"Content-Type": "application/json"}, request_headers=request_headers)
    with pytest.raises(VendorError) as caught:
        raise_for_status(response, "Vendor", "VENDOR_KEY")
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in (getattr(caught.value, "reason", None) or "")


# -- the error tree itself ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "exc",
    [
        VendorRejected("Instal", "bad dates", status=400, reason="start_date"),
        VendorAuthError("Instal", "check INSTAL_TOKEN", key_variable="INSTAL_TOKEN"),
        VendorRateLimited("Instal", "slow down", status=429, retry_after=3.0),
        VendorProtocolError("Instal", "garbled"),
        VendorExportFailed("Instal", "failed", reason="boom", vendor_state="FAILURE"),
    ],
)
def test_errors_survive_pickling_with_their_attributes(exc: VendorError) -> None:
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert copy.__dict__ == exc.__dict__
    assert str(copy) == exc.user_message


# -- the size of an answer -----------------------------------------------------------------------


class _BigAnswers:
    """A loopback HTTP server whose answer is as large as the test says; counts what it sent."""

    def __init__(self) -> None:
        self.sent = 0
        self.mode = "endless"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if self.mode == "announced":  # says a terabyte is coming, sends nothing
            handler.send_header("Content-Length", str(10**12))
            handler.end_headers()
            return
        if self.mode == "gzip":  # 64 KiB on the wire, 32 MiB once decoded
            body = gzip.compress(b" " * (32 << 20))
            handler.send_header("Content-Encoding", "gzip")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b" " * 65536
        try:
            while self.sent < (256 << 20):  # a body that, for the client, never ends
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.sent += len(chunk)
        except OSError:
            return  # the client stopped reading and hung up

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def big() -> Iterator[_BigAnswers]:
    server = _BigAnswers()
    yield server
    server.stop()


def test_the_default_cap_is_16_mib() -> None:
    assert MAX_RESPONSE_BYTES == 16 * 1024 * 1024
    with VendorHTTP("Instal", "http://127.0.0.1:9", key_variable="INSTAL_TOKEN") as http:
        assert http.max_body == MAX_RESPONSE_BYTES


@pytest.mark.parametrize("mode", ["endless", "announced", "gzip"])
def test_an_answer_over_the_cap_is_a_protocol_error_read_no_further(big: _BigAnswers, mode: str) -> None:
    big.mode = mode
    cap = 1 << 20
    with VendorHTTP("Instal", big.url, key_variable="INSTAL_TOKEN", timeout=5, max_body=cap) as http, \
            pytest.raises(VendorProtocolError) as caught:
        http.json("GET", "/report")
    assert "too large" in str(caught.value) and caught.value.status == 200
    # The client stopped at the cap: the server got to send the cap plus what the sockets buffer,
    # far from the 256 MiB it had.
    assert big.sent < 64 << 20


def test_an_answer_under_the_cap_is_read_whole(big: _BigAnswers, sandbox: Sandbox, http: VendorHTTP) -> None:
    with VendorHTTP("Instal", big.url, key_variable="INSTAL_TOKEN", timeout=5, max_body=64 << 20) as roomy:
        big.mode = "gzip"
        with pytest.raises(VendorProtocolError, match="could not read"):  # 32 MiB of spaces: not JSON, but read
            roomy.json("GET", "/report")
    assert http.json("POST", EXPORTS_PATH, json=BODY)  # an ordinary answer is unaffected

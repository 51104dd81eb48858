"""Every vendor request is counted once in ``adops_vendor_requests_total``, with its latency,
whether the vendor answered or not: a request that timed out (the sandbox's ``timeout`` fault,
an answer held past the client's timeout), one that could not connect (a closed port) and one
whose connection was dropped before any answer (the ``drop`` fault) are counted under the
statuses ``timeout``, ``connect_error`` and ``broken``; an answer whose body breaks off after
its headers is counted once, by its status. Scraped from ``/metrics`` and parsed as
``tests/test_metrics.py`` does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devkit.sandbox import Sandbox
from tests.harness import free_port
from tests.inprocess import InProcessStack
from tests.test_flow import queued_job
from tests.test_metrics import grew, scrape
from workers.errors import VendorTransient
from workers.vendors.http import VendorHTTP
from workers.vendors.instal.client import EXPORTS_PATH

REQUESTS, SECONDS = "adops_vendor_requests_total", "adops_vendor_request_duration_seconds"


def test_an_export_whose_first_poll_times_out_counts_the_timeout_with_its_latency(
        make_stack: Callable[..., InProcessStack], vendor: Sandbox) -> None:
    stack = make_stack(ADOPS_VENDOR_TIMEOUT="0.5")
    _, before = scrape(stack.http)
    # A poll held past the client's 0.5 s (a create is never asked twice; a poll is, later).
    vendor.inject("instal", "retrieve", "timeout", delay=5)
    job_id = queued_job(stack.command("export instal 2026-11-01..2026-11-02"))
    stack.wait_job(job_id, ("delivered",))
    stack.wait_idle()
    _, after = scrape(stack.http)
    assert grew(before, after, REQUESTS, vendor="instal", status="timeout") == 1
    # Every request the sandbox saw, the timed-out one included, is counted, each with a latency.
    assert grew(before, after, REQUESTS, vendor="instal") == sum(
        n for op, n in vendor.stats().items() if op.startswith("instal."))
    assert grew(before, after, SECONDS + "_count", vendor="instal") == grew(before, after, REQUESTS, vendor="instal")
    # The timed-out request took at least the timeout: its latency is in the sum.
    assert grew(before, after, SECONDS + "_sum", vendor="instal") >= 0.5


class _BreaksOff:
    """A loopback server that answers 200 with a Content-Length it never fulfils and hangs up."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"rows": [')
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def breaks_off() -> Iterator[_BreaksOff]:
    server = _BreaksOff()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_closed_port_a_dropped_connection_and_a_broken_body_are_each_counted_once(
        stack: InProcessStack, vendor: Sandbox, breaks_off: _BreaksOff) -> None:
    _, before = scrape(stack.http)
    closed = VendorHTTP("Instal", f"http://127.0.0.1:{free_port()}", key_variable="INSTAL_TOKEN", timeout=5)
    sandbox = VendorHTTP("Instal", vendor.base_url("instal"), headers={"Authorization": f"Token {Sandbox.TOKEN}"},
                         key_variable="INSTAL_TOKEN", timeout=5)
    broken = VendorHTTP("Instal", breaks_off.url, key_variable="INSTAL_TOKEN", timeout=5)
    vendor.inject("instal", "create", "drop")
    with closed, sandbox, broken:
        with pytest.raises(VendorTransient, match="Could not connect"):
            closed.json("GET", "/exports/12345/")
        with pytest.raises(VendorTransient, match="broke off"):
            sandbox.json("POST", EXPORTS_PATH, json={"start_date": "2026-11-01", "stop_date": "2026-11-02"})
        with pytest.raises(VendorTransient, match="broke off"):
            broken.json("GET", "/report")
    _, after = scrape(stack.http)
    assert grew(before, after, REQUESTS, vendor="instal", operation="GET /exports/:id/", status="connect_error") == 1
    assert grew(before, after, REQUESTS, vendor="instal", status="broken") == 1
    # Its headers said 200 before the body broke off: counted once, as the answer it was.
    assert grew(before, after, REQUESTS, vendor="instal", operation="GET /report", status="200") == 1
    assert grew(before, after, REQUESTS, vendor="instal") == 3
    assert grew(before, after, SECONDS + "_count", vendor="instal") == 3

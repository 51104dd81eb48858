"""The vendor sandbox: one loopback HTTP server emulating every vendor we call.

Each vendor lives under its own prefix (``/instal``, ...), so a vendor's base URL is
``sandbox.base_url("instal")`` and counters and faults are kept per ``vendor.op``. Tests and
the console drive it through :class:`Sandbox`; other processes use the same controls over HTTP
under ``/_sandbox/``.

Faults are queued per (vendor, op) and consumed first in, first out, one per request:

- ``status``: answer that status with the vendor's error body (429 always has Retry-After);
- ``timeout``: hold the response ``delay`` seconds (30 by default), then answer normally;
- ``malformed``: answer 200 with a body that is not JSON;
- anything a route declares (Instal's ``failed``) is handed to the vendor's handler.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devkit.sandbox.base import SANDBOX_TOKEN, Fault, Request, Response, Route, SandboxConfig, VendorApp
from workers.vendors.instal.sandbox import InstalApp
from workers.vendors.metrics24.sandbox import Metrics24App

__all__ = ["GENERIC_FAULTS", "VENDOR_APPS", "Sandbox"]

log = logging.getLogger(__name__)

#: Every emulated vendor; a new one is a module with a VendorApp subclass, added here.
VENDOR_APPS: tuple[type[VendorApp], ...] = (InstalApp, Metrics24App)

GENERIC_FAULTS = frozenset({"status", "timeout", "malformed"})
DEFAULT_TIMEOUT_DELAY = 30.0
CONTROL_PREFIX = "/_sandbox/"
MALFORMED_BODY = b'{"state": "SUCCESS", "result": "http://'


class Sandbox:
    """The sandbox server. ``with Sandbox() as sandbox:`` starts it on a free loopback port."""

    TOKEN = SANDBOX_TOKEN

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, ready_after: float = 3.0, seed: int = 7) -> None:
        self.host = host
        self.port = port
        self._defaults = (float(ready_after), seed)
        self.config = SandboxConfig(ready_after=float(ready_after), seed=seed)
        self._apps: dict[str, VendorApp] = {cls.name: cls(self.config) for cls in VENDOR_APPS}
        self._routes: list[tuple[VendorApp, Route]] = [
            (app, route) for app in self._apps.values() for route in app.routes()
        ]
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self._counts: Counter[str] = Counter()
        # Set while stopping: held ("timeout") responses wake up and drop their connection.
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._server.root

    def base_url(self, vendor: str) -> str:
        """The base URL to configure for ``vendor`` (e.g. INSTAL_BASE_URL)."""
        return self.url + self._app(vendor).prefix

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="vendor-sandbox", daemon=True
        )
        self._thread.start()
        log.info("vendor sandbox listening on %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- controls -------------------------------------------------------------------------

    def set_ready_after(self, seconds: float) -> None:
        """Exports created from now on become ready this many seconds after creation."""
        if not seconds >= 0:
            raise ValueError("ready_after must be a number of seconds >= 0")
        self.config.ready_after = float(seconds)

    def inject(
        self,
        vendor: str,
        op: str,
        kind: str,
        *,
        count: int = 1,
        retry_after: float | None = None,
        status: int | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next ``count`` requests to ``vendor.op`` fail as ``kind`` (after any queued before)."""
        known = {r.op: r for app, r in self._routes if app.name == vendor}
        if vendor not in self._apps:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(self._apps))}")
        if op not in known:
            raise ValueError(f"unknown op {vendor}.{op}; known: {', '.join(sorted(known))}")
        if kind not in GENERIC_FAULTS | known[op].faults:
            kinds = ", ".join(sorted(GENERIC_FAULTS | known[op].faults))
            raise ValueError(f"unknown fault kind {kind!r} for {vendor}.{op}; known: {kinds}")
        if kind == "status" and (status is None or not 400 <= status <= 599):
            raise ValueError("a status fault needs status=400..599")
        if count < 1:
            raise ValueError("count must be >= 1")
        for name, value in (("retry_after", retry_after), ("delay", delay)):
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0")
        if kind == "status" and status == 429 and retry_after is None:
            retry_after = 1.0
        if kind == "timeout" and delay is None:
            delay = DEFAULT_TIMEOUT_DELAY
        fault = Fault(kind=kind, status=status, retry_after=retry_after, delay=delay)
        with self._lock:
            self._faults.setdefault((vendor, op), deque()).extend([fault] * count)

    def stats(self) -> dict[str, int]:
        """Requests served per ``vendor.op`` since the last reset (faulted ones included)."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget every vendor's state, queued faults and counters; restore the start-up config."""
        with self._lock:
            self._faults.clear()
            self._counts.clear()
            self.config.ready_after, self.config.seed = self._defaults
        for app in self._apps.values():
            app.reset()

    # -- request handling -----------------------------------------------------------------

    def _app(self, vendor: str) -> VendorApp:
        try:
            return self._apps[vendor]
        except KeyError:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(self._apps))}") from None

    def handle(self, request: Request) -> Response | None:
        """Answer one request; None means drop the connection without an answer."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        allowed = []
        for app, route in self._routes:
            match = route.match(request.path)
            if match is None:
                continue
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                allowed.append(route.method)
                continue
            request.params = match.groupdict()
            return self._dispatch(app, route, request)
        if allowed:
            detail = f'Method "{request.method}" not allowed.'
            return Response.json({"detail": detail}, 405, {"Allow": ", ".join(allowed)})
        return Response.json({"detail": "Not found."}, 404)

    def _dispatch(self, app: VendorApp, route: Route, request: Request) -> Response | None:
        with self._lock:
            self._counts[f"{app.name}.{route.op}"] += 1
            queue = self._faults.get((app.name, route.op))
            fault = queue.popleft() if queue else None
        if fault is not None:
            log.debug("sandbox fault %s on %s.%s", fault, app.name, route.op)
            if fault.delay and self._stopping.wait(fault.delay):
                return None
            if fault.kind == "status":
                assert fault.status is not None
                response = app.error(fault.status, f"{HTTPStatus(fault.status).phrase} (sandbox fault).")
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = f"{fault.retry_after:g}"
                return response
            if fault.kind == "malformed":
                return Response(200, MALFORMED_BODY, {"Content-Type": "application/json"})
            if fault.kind != "timeout":
                request.fault = fault
        try:
            return route.handler(request)
        except Exception:
            log.exception("sandbox handler %s.%s failed", app.name, route.op)
            return app.error(500, "Server Error (sandbox bug).")

    def _control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX):].strip("/")
        if (request.method, action) == ("GET", "stats"):
            return Response.json(self.stats())
        if request.method != "POST" or action not in ("faults", "config", "reset"):
            return Response.json({"detail": "Not found."}, 404)
        try:
            body = request.json() if request.body else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if action == "reset":
                self.reset()
                return Response.json({"ok": True})
            if action == "config":
                unknown = set(body) - {"ready_after"}
                if unknown:
                    raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
                if "ready_after" in body:
                    self.set_ready_after(float(body["ready_after"]))
                return Response.json({"ready_after": self.config.ready_after, "seed": self.config.seed})
            self.inject(**body)
            return Response.json({"ok": True}, 201)
        except (TypeError, ValueError) as exc:
            return Response.json({"detail": str(exc)}, 400)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: Sandbox

    @property
    def root(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the vendors; lets clients pool connections
    # Headers and body go out in separate writes; with Nagle on, a kept-alive connection waits
    # for the client's delayed ACK (~40 ms) on every answer.
    disable_nagle_algorithm = True
    server_version = "adops-sandbox/1"

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            base_url=self.server.root,
        )
        response = self.server.sandbox.handle(request)
        if response is None:
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        chunked = not isinstance(response.body, (bytes, bytearray))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(response.body)))  # type: ignore[arg-type]
        self.end_headers()
        if self.command == "HEAD":
            return
        if not chunked:
            self.wfile.write(response.body)  # type: ignore[arg-type]
            return
        for chunk in response.body:  # type: ignore[union-attr]
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def handle_one_request(self) -> None:
        # A client that gave up (a short timeout in a test) leaves a dead socket behind.
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s " + format, self.address_string(), *args)


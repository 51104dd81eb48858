"""The vendor sandbox: one WSGI app emulating every vendor we call, served on loopback or mounted.

Each vendor lives under its own prefix (``/<name>``), so a vendor's base URL is
``sandbox.base_url(name)`` and counters and faults are kept per ``vendor.op``. Tests and
the console drive it through :class:`Sandbox`; other processes use the same controls over HTTP
under ``/_sandbox/``. Which vendors it emulates comes from the vendor registry unless given.

Two ways to reach it: ``start()`` serves it over HTTP on loopback (``sandbox.url``), or
``transport()`` mounts it in-process for an httpx client, no socket (``base_url`` is then under
:attr:`Sandbox.MOUNTED_URL`). Links it hands out follow the host the client used.

Faults are queued per (vendor, op) and consumed first in, first out, one per request:

- ``status``: answer that status with the vendor's error body (429 always has Retry-After);
- ``timeout``: hold the answer ``delay`` seconds (30 by default), then answer normally; when
  mounted the hold ends at the client's read timeout with ``httpx.ReadTimeout`` if that is
  shorter, as a socket client would time out;
- ``malformed``: answer 200 with a body that is not JSON;
- ``drop``: close the connection without an answer (after ``delay``, if given) and without the
  vendor seeing the request (mounted: ``httpx.RemoteProtocolError``), as a reset on the way in does;
- anything a route declares (say ``failed``) is handed to the vendor's handler.

``stop()`` drops every answer held at that moment: over HTTP the connection closes unanswered,
mounted the client gets ``httpx.RemoteProtocolError``. Mounted use goes on working after it.

:attr:`Sandbox.observer`, when set, is told of every vendor request twice (an :class:`Exchange`):
as it arrives, with the fault it drew, and once it is answered or withheld. A fault suite uses it
to tell which request (and so which job, and which client) a fault hit, and to act while an
answer is held.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from wsgiref.types import StartResponse, WSGIEnvironment

import httpx

from devkit.sandbox.base import SANDBOX_TOKEN, Fault, Request, Response, Route, SandboxConfig, VendorApp
from devkit.sandbox.control import CONTROL_PREFIX, control
from devkit.sandbox.httpd import WSGIServer
from devkit.sandbox.mount import MountedTransport
from devkit.sandbox.wsgi import READ_TIMEOUT_KEY, DropConnection, ReadTimeoutElapsed, request_from_environ, to_wsgi

__all__ = ["GENERIC_FAULTS", "Exchange", "Sandbox"]

log = logging.getLogger(__name__)

GENERIC_FAULTS = frozenset({"status", "timeout", "malformed", "drop"})
DEFAULT_TIMEOUT_DELAY = 30.0
MALFORMED_BODY = b'{"state": "SUCCESS", "result": "http://'


@dataclass
class Exchange:
    """One vendor request as the sandbox handles it, for :attr:`Sandbox.observer`.

    The observer sees it first as it arrives (``answered`` False: the fault it drew is known,
    a held answer is about to be held), then once more when it is over: ``response`` is what
    was sent, or None when the answer was withheld (``drop``, a held answer dropped by ``stop``,
    a mounted client's read timeout).
    """

    vendor: str
    op: str
    request: Request
    fault: Fault | None
    response: Response | None = None
    answered: bool = False


class Sandbox:
    """The sandbox. ``with Sandbox() as sandbox:`` serves it on a free loopback port.

    Without ``start()`` it is still a working WSGI app (:meth:`wsgi`, :meth:`transport`).
    """

    TOKEN = SANDBOX_TOKEN
    #: The root of a sandbox that is not serving HTTP; any host reaches a mounted app, and this
    #: one resolves nowhere, so a client that is not mounted fails loudly instead of leaking out.
    MOUNTED_URL = "http://sandbox.local"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ready_after: float = 3.0,
        seed: int = 7,
        apps: Sequence[type[VendorApp]],
    ) -> None:
        self.host = host
        self.port = port
        self._defaults = (float(ready_after), seed)
        self.config = SandboxConfig(ready_after=float(ready_after), seed=seed)
        self._apps: dict[str, VendorApp] = {}
        for cls in apps:
            if cls.name in self._apps:
                raise ValueError(f"two sandbox apps are named {cls.name!r}")
            self._apps[cls.name] = cls(self.config)
        self._routes: list[tuple[VendorApp, Route]] = [
            (app, route) for app in self._apps.values() for route in app.routes()
        ]
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self._counts: Counter[str] = Counter()
        # Held ("timeout") answers wait on this; stop() sets it and puts a fresh one in its
        # place, so answers held at that moment are dropped and later ones are held as usual.
        self._release = threading.Event()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        #: Told of every vendor request as it arrives and once it is over; see :class:`Exchange`.
        #: Runs in the request's thread: keep it quick; its exceptions are logged, not answered.
        self.observer: Callable[[Exchange], None] | None = None

    # -- reaching it ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The loopback URL it serves HTTP at; RuntimeError when it is not serving."""
        server = self._server
        if server is None:
            raise RuntimeError("the sandbox is not serving HTTP; call start(), or mount it with transport()")
        return server.root

    @property
    def root(self) -> str:
        """:attr:`url` while serving HTTP, else :attr:`MOUNTED_URL`."""
        server = self._server
        return server.root if server is not None else self.MOUNTED_URL

    @property
    def vendors(self) -> tuple[str, ...]:
        """The emulated vendors' names, as ``base_url`` and ``inject`` take them."""
        return tuple(self._apps)

    def base_url(self, vendor: str) -> str:
        """The base URL to configure for ``vendor`` (its ``*_BASE_URL`` setting), under :attr:`root`."""
        return self.root + self._app(vendor).prefix

    def wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The sandbox as a plain WSGI app: serve it with any WSGI server, or mount it in-process.

        A withheld answer is raised as :class:`~devkit.sandbox.wsgi.DropConnection` (or, mounted,
        :class:`~devkit.sandbox.wsgi.ReadTimeoutElapsed`); the two front ends here turn them into
        a closed connection or the httpx error, another WSGI server into its own error answer.
        """
        request = request_from_environ(environ)
        response = self.handle(request, read_timeout=environ.get(READ_TIMEOUT_KEY))
        return to_wsgi(response, start_response, head=request.method == "HEAD")

    def transport(self) -> httpx.WSGITransport:
        """An httpx transport calling :meth:`wsgi` in-process: ``httpx.Client(transport=...)``."""
        return MountedTransport(self.wsgi)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Serve :meth:`wsgi` over HTTP on ``host:port`` in a background thread."""
        if self._server is not None:
            return self
        server = WSGIServer((self.host, self.port), self.wsgi)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="vendor-sandbox", daemon=True
        )
        self._thread.start()
        log.info("vendor sandbox listening on %s", server.root)
        return self

    def stop(self) -> None:
        """Drop every held answer, then stop serving HTTP if it was."""
        with self._lock:
            held, self._release = self._release, threading.Event()
        held.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- controls ---------------------------------------------------------------------------

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
        no_retry_after: bool = False,
    ) -> None:
        """Make the next ``count`` requests to ``vendor.op`` fail as ``kind`` (after any queued before).

        A 429 carries ``Retry-After`` (1 s unless ``retry_after`` says otherwise); ``no_retry_after``
        sends it bare, as a proxy or gateway in front of a vendor may.
        """
        known = {r.op: r for app, r in self._routes if app.name == vendor}
        self._app(vendor)
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
        if no_retry_after and retry_after is not None:
            raise ValueError("no_retry_after and retry_after contradict each other")
        if kind == "status" and status == 429 and retry_after is None and not no_retry_after:
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

    # -- request handling -------------------------------------------------------------------

    def _app(self, vendor: str) -> VendorApp:
        try:
            return self._apps[vendor]
        except KeyError:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(self._apps))}") from None

    def handle(self, request: Request, *, read_timeout: float | None = None) -> Response:
        """Answer one request; raises DropConnection or ReadTimeoutElapsed to withhold the answer."""
        if request.path.startswith(CONTROL_PREFIX):
            return control(self, request)
        allowed = []
        for app, route in self._routes:
            match = route.match(request.path)
            if match is None:
                continue
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                allowed.append(route.method)
                continue
            request.params = match.groupdict()
            return self._dispatch(app, route, request, read_timeout)
        if allowed:
            detail = f'Method "{request.method}" not allowed.'
            return Response.json({"detail": detail}, 405, {"Allow": ", ".join(allowed)})
        return Response.json({"detail": "Not found."}, 404)

    def _hold(self, delay: float, read_timeout: float | None) -> None:
        with self._lock:
            release = self._release
        patience = delay if read_timeout is None else min(delay, read_timeout)
        if release.wait(patience):
            raise DropConnection
        if patience < delay:
            raise ReadTimeoutElapsed(patience)

    def _dispatch(self, app: VendorApp, route: Route, request: Request, read_timeout: float | None) -> Response:
        with self._lock:
            self._counts[f"{app.name}.{route.op}"] += 1
            queue = self._faults.get((app.name, route.op))
            fault = queue.popleft() if queue else None
        if self.observer is None:
            return self._answer(app, route, request, fault, read_timeout)
        exchange = Exchange(app.name, route.op, request, fault)
        self._observe(exchange)
        try:
            exchange.response = self._answer(app, route, request, fault, read_timeout)
            return exchange.response
        finally:
            exchange.answered = True
            self._observe(exchange)

    def _observe(self, exchange: Exchange) -> None:
        observer = self.observer
        if observer is None:
            return
        try:
            observer(exchange)
        except Exception:
            log.exception("sandbox observer failed on %s.%s", exchange.vendor, exchange.op)

    def _answer(
        self, app: VendorApp, route: Route, request: Request, fault: Fault | None, read_timeout: float | None
    ) -> Response:
        if fault is not None:
            log.debug("sandbox fault %s on %s.%s", fault, app.name, route.op)
            if fault.delay:
                self._hold(fault.delay, read_timeout)
            if fault.kind == "drop":
                raise DropConnection
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

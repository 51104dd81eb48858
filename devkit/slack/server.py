"""``LocalSlack``: the loopback Slack, put together and served over HTTP.

It composes the parts, each in its own module, around one shared
:class:`~devkit.slack.workspace.Workspace`: the Web API (``webapi``), the v2 file upload
(``files``), ``response_url`` (``response_url``) and Socket Mode (``socket_mode``, on a port
of its own). This module holds the lifecycle, the HTTP routing, the subscribers, and what tests
use to inspect and wait on the state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

from devkit.slack.files import FileUploads
from devkit.slack.model import ApiError, Call, Event, File, Message
from devkit.slack.response_url import ResponseUrls, parse_body
from devkit.slack.socket_mode import SocketMode
from devkit.slack.webapi import WebApi, bearer, decode_params
from devkit.slack.workspace import Workspace

__all__ = ["LocalSlack"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LocalSlack:
    """Loopback Slack; see the package docstring.

    Use as a context manager, or ``start()``/``stop()``. URLs are known once started.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-local",
        app_token: str = "xapp-local",
        host: str = "127.0.0.1",
        port: int = 0,
        team_id: str = "T0LOCAL",
        bot_user_id: str = "U0ADOPS",
    ) -> None:
        self._host = host
        self._port = port
        self._workspace = Workspace(team_id=team_id, bot_user_id=bot_user_id)
        self._lock = self._workspace.lock
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._subscribers: list[Callable[[Event], None]] = []
        # self._record is looked up once here, so a subclass overriding it sees every call
        self._socket = SocketMode(host=host, lock=self._lock, record=self._record)
        self._files = FileUploads(self._workspace, bot_token=bot_token, record=self._record, base_url=self._url)
        self._api = WebApi(
            self._workspace,
            bot_token=bot_token,
            app_token=app_token,
            record=self._record,
            base_url=self._url,
            files=self._files,
            open_socket=self._socket.open_url,
        )
        self._response_urls = ResponseUrls(self._workspace, record=self._record, base_url=self._url)

    @property
    def team_id(self) -> str:
        return self._workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self._workspace.bot_user_id

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalSlack:
        if self._server is not None:
            return self
        self._socket.start()
        server = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        # a short poll interval keeps stop() (and so each test's teardown) quick
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="localslack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._socket.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalSlack is not started")
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def _url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- configuration -------------------------------------------------------------------------

    def response_url(self, channel: str, user: str, *, message_ts: str | None = None) -> str:
        """Mint a ``response_url`` as Slack sends with a slash command or a button click.

        ``message_ts`` is the message a button sat on: ``replace_original``/``delete_original``
        act on it. Without it (a slash command) they act on what this URL posted last.
        """
        return self._response_urls.mint(channel, user, message_ts=message_ts)

    def expire_response_url(self, url: str) -> None:
        """Age a response_url past its 30 minutes, for testing the fallback without waiting."""
        self._response_urls.expire(url)

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        count: int = 1,
        retry_after: int | None = None,
        status: int | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail with ``error``.

        ``ratelimited`` answers HTTP 429 with ``Retry-After`` (default 1 s) like Slack's tier
        limits; anything else answers HTTP 200 ``{"ok": false, "error": error}`` unless
        ``status`` says otherwise.
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if status == 429 and retry_after is None:
            retry_after = 1
        self._api.fail_next(method, error, count=count, retry_after=retry_after, status=status)

    def restrict_channel(self, channel: str, error: str = "not_in_channel") -> None:
        """Refuse posts and file shares to ``channel`` with ``error`` (a private channel or DM
        the bot is not in answers ``not_in_channel``; an unknown one ``channel_not_found``)."""
        self._workspace.restrict(channel, error)

    def add_user(self, user_id: str, *, name: str | None = None, tz: str = "UTC", is_admin: bool = False) -> None:
        """Give ``users.info`` something other than the default UTC user for ``user_id``."""
        self._workspace.add_user(user_id, name=name, tz=tz, is_admin=is_admin)

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` after every message posted, updated, deleted or file shared.

        It runs in the request's thread once the state is updated; keep it quick. Exceptions
        are logged and do not reach the client.
        """
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def reset(self) -> None:
        """Forget messages, files, calls, users, injected faults, restrictions and minted URLs.
        Subscribers stay, and so do the server and its Socket Mode connections."""
        with self._lock:
            self._workspace.clear()
            self._api.reset()
            self._files.reset()
            self._response_urls.reset()
            self._socket.reset()

    # -- Socket Mode ---------------------------------------------------------------------------

    def socket_send(self, envelope_type: str, payload: dict[str, Any], *, accepts_response_payload: bool = True) -> str:
        """Deliver one envelope (``slash_commands``, ``interactive``, ``events_api``) to the newest
        connection and return its ``envelope_id``; :meth:`socket_ack` then waits for the answer.
        Raises ``RuntimeError`` when no client is connected."""
        return self._socket.send(envelope_type, payload, accepts_response_payload=accepts_response_payload)

    def socket_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the client's acknowledgement of ``envelope_id`` and return it as sent, e.g.
        ``{"envelope_id": ..., "payload": {"text": ..., "response_type": "ephemeral"}}``.

        Raises ``AssertionError`` with the recent calls on timeout, like :meth:`wait_for`.
        """
        ack = self._socket.ack(envelope_id, timeout)
        if ack is None:
            raise AssertionError(f"LocalSlack.socket_ack: no ack for {envelope_id} within {timeout}s\n{self.dump()}")
        return ack

    def socket_connected(self, timeout: float = 10.0) -> bool:
        """Whether a Socket Mode client is connected, waiting up to ``timeout`` for one.
        ``socket_connected(0)`` just looks."""
        return self._socket.connected(timeout)

    def socket_connections(self) -> list[str]:
        """Ids of the open Socket Mode connections, oldest first (a reconnect shows a new id)."""
        return self._socket.connections()

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connected client to move to a new URL, as Slack does every few hours; a
        well-behaved client opens a new connection and then drops the old one itself."""
        self._socket.disconnect(reason)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._workspace.calls)

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._workspace.calls if c.method == method]

    def messages(self, channel: str) -> list[Message]:
        """Messages in ``channel`` now, thread replies and ephemeral ones included, in ts order."""
        with self._lock:
            return list(self._workspace.messages.get(channel, {}).values())

    def files(self, channel: str | None = None) -> list[File]:
        with self._lock:
            return [f for f in self._workspace.files.values() if channel is None or f.channel == channel]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Poll ``predicate()`` until it returns something truthy and return that.

        ``wait_for(lambda: [m for m in local.messages(C) if "done" in m.text])`` waits for and
        returns the list. On timeout, raises ``AssertionError`` with the recent calls and the
        messages of every channel so the failure explains itself.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"LocalSlack.wait_for: nothing matched within {timeout}s\n{self.dump()}")
            time.sleep(0.05)

    def wait_for_message(
        self, channel: str, match: Callable[[Message], bool] | str = "", timeout: float = 10.0
    ) -> Message:
        """Wait for the first message in ``channel`` matching ``match`` (a predicate, or a
        substring of its text or rendered blocks) and return it."""
        test = match if callable(match) else (lambda m: match in m.text or match in json.dumps(m.blocks))

        def first() -> Message | None:
            return next((m for m in self.messages(channel) if test(m)), None)

        message = self.wait_for(first, timeout)
        assert message is not None  # wait_for returns only what is truthy
        return message

    def dump(self, last_calls: int = 20) -> str:
        return self._workspace.dump(last_calls)

    # -- request plumbing (called by the handler) ------------------------------------------------

    def _record(self, method: str, params: dict[str, Any], error: str | None) -> None:
        """Append to the call log; every part calls this with the lock held. A hook: the benches
        override it to count every call, where the log keeps only the last few thousand."""
        self._workspace.record(method, params, error)

    def _emit(self, events: list[Event]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    logger.exception("LocalSlack subscriber failed on %s", event.kind)


def _make_handler(slack: LocalSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "LocalSlack/1.0"
        disable_nagle_algorithm = True  # answers are written in parts; don't wait on delayed ACKs

        def do_POST(self) -> None:
            self._dispatch()

        def do_GET(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            try:
                if len(segments) == 2 and segments[0] == "api":
                    self._api(segments[1], raw, parts.query)
                elif len(segments) == 3 and segments[:2] == ["upload", "v1"] and self.command == "POST":
                    status, text = slack._files.upload(segments[2], raw)
                    self._send(status, text.encode(), "text/plain; charset=utf-8")
                elif len(segments) == 3 and segments[0] == "actions" and self.command == "POST":
                    self._response_url(segments[2], raw)
                elif len(segments) >= 2 and segments[0] == "files" and self.command == "GET":
                    status, data = slack._files.download(segments[1], bearer(self.headers.get("Authorization")))
                    self._send(status, data, "application/octet-stream")
                else:
                    self._send(404, b"not found", "text/plain; charset=utf-8")
            except Exception:  # a bug in the fake must show up in the client, not hang it
                logger.exception("LocalSlack failed on %s %s", self.command, parts.path)
                self._send(500, b'{"ok": false, "error": "fatal_error"}', "application/json; charset=utf-8")

        def _api(self, method: str, raw: bytes, query: str) -> None:
            token = bearer(self.headers.get("Authorization"))
            try:
                params = decode_params(raw, self.headers.get("Content-Type", ""), query)
            except ApiError as e:
                self._json(200, {}, {"ok": False, "error": e.error})
                return
            token = token or (params.get("token") if isinstance(params.get("token"), str) else None)
            status, headers, body, events = slack._api.handle(method, params, token)
            slack._emit(events)
            self._json(status, headers, body)

        def _response_url(self, token: str, raw: bytes) -> None:
            params = parse_body(raw)
            if params is None:
                self._send(400, b"invalid_payload", "text/plain; charset=utf-8")
                return
            status, text, events = slack._response_urls.handle(token, params)
            slack._emit(events)
            self._send(status, text.encode(), "text/plain; charset=utf-8")

        def _json(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

        def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("LocalSlack %s", format % args)

    return Handler

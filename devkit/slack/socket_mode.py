"""Socket Mode: Slack's side of the WebSocket an app opens instead of receiving HTTP requests.

The WebSocket protocol is the ``websockets`` library's (its blocking server, run in a thread);
this module holds only Slack's conversation on top of it:

- ``apps.connections.open`` mints a one-time ticket and a ``ws://`` URL on loopback, shaped
  like Slack's ``wss://…/link/?ticket=…&app_id=…``; a URL connects once;
- each connection is greeted with ``hello``;
- an envelope (``slash_commands``, ``interactive``, ``events_api``) goes to one connection,
  the newest, and the client's first ``{"envelope_id": …}`` ack is the answer Slack acts on;
- ``disconnect`` asks a client to move to a new URL, as Slack does every few hours.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from devkit.slack.model import APP_ID, SOCKET_ACK_METHOD, SOCKET_ENVELOPE_METHOD, Recorder, short

__all__ = ["SocketMode"]

logger = logging.getLogger(__name__)

#: Socket Mode messages are small JSON; anything bigger is a broken client, not a payload.
_MAX_MESSAGE = 16 * 1024 * 1024
#: How long stop() waits for a client to answer the closing handshake before hanging up.
_CLOSE_TIMEOUT = 2.0
_LINK_PATH = "/link/"


class SocketMode:
    """The Socket Mode endpoint; see the module docstring.

    ``lock`` is the workspace lock: acks and connections change under it, so ``record`` (which
    expects it held) can be called alongside, and :meth:`open_url` runs inside a Web API call
    that already holds it.
    """

    def __init__(self, *, host: str, lock: threading.Lock, record: Recorder) -> None:
        self._host = host
        self._lock = lock
        self._changed = threading.Condition(lock)
        self._record = record
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Tickets and live connections belong to clients, not to the recorded state, so they
        # survive LocalSlack.reset(). Insertion order is connect order.
        self._tickets: set[str] = set()
        self._connections: dict[str, ServerConnection] = {}
        self._acks: dict[str, dict[str, Any]] = {}  # envelope id -> the client's first ack

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._stopping = False
        self._server = serve(
            self._serve,
            self._host,
            0,
            process_request=self._admit,
            max_size=_MAX_MESSAGE,
            close_timeout=_CLOSE_TIMEOUT,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="localslack-socket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close every connection with 1001 (going away), then stop listening."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        with self._lock:
            # a connection still in its handshake sees this and closes itself (see _serve)
            self._stopping = True
            self._tickets.clear()
            connections = list(self._connections.values())
        for connection in connections:
            connection.close(CloseCode.GOING_AWAY, "server stopping")
        if server is not None:
            server.shutdown()
        if thread is not None:
            thread.join(timeout=5)
        with self._changed:
            self._changed.wait_for(lambda: not self._connections, timeout=5)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalSlack is not started")
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    def reset(self) -> None:
        """Forget acks (under the lock); connections and tickets stay."""
        self._acks.clear()

    # -- what LocalSlack exposes ---------------------------------------------------------------------

    def open_url(self) -> str:
        """A one-time URL for ``apps.connections.open`` (under the lock)."""
        ticket = secrets.token_urlsafe(12)
        self._tickets.add(ticket)
        return f"{self.url}{_LINK_PATH}?ticket={ticket}&app_id={APP_ID}"

    def send(self, envelope_type: str, payload: dict[str, Any], *, accepts_response_payload: bool) -> str:
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        with self._lock:
            # Slack hands each envelope to one of the app's connections, not to all of them; the
            # newest is the one a reconnecting client has just opened.
            connection = next(reversed(self._connections.values()), None)
            if connection is None:
                raise RuntimeError("no Socket Mode client is connected (see socket_connected())")
            self._record(SOCKET_ENVELOPE_METHOD, {"envelope_id": envelope_id, "type": envelope_type}, None)
        connection.send(json.dumps(envelope))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float) -> dict[str, Any] | None:
        with self._changed:
            self._changed.wait_for(lambda: envelope_id in self._acks, timeout)
            return self._acks.get(envelope_id)

    def connected(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._connections), timeout)

    def connections(self) -> list[str]:
        with self._lock:
            return list(self._connections)

    def disconnect(self, reason: str) -> None:
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "localslack"}})
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            try:
                connection.send(message)
            except ConnectionClosed:
                pass  # already going away, which is what was asked

    # -- the server's callbacks (in its connection threads) -------------------------------------------

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Spend the ticket before the handshake completes, so a bad one never gets a socket."""
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None  # not a WebSocket request: websockets itself answers 426
        parts = urlsplit(request.path)
        if parts.path != _LINK_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        ticket = dict(parse_qsl(parts.query)).get("ticket", "")
        with self._lock:
            if ticket not in self._tickets:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid_ticket\n")
            self._tickets.discard(ticket)
        return None

    def _serve(self, connection: ServerConnection) -> None:
        """Run one connection until either side closes it."""
        conn_id = uuid.uuid4().hex[:12]
        with self._lock:
            count = len(self._connections) + 1
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "localslack", "approximate_connection_time": 18_060},
            "connection_info": {"app_id": APP_ID},
        }
        try:
            # hello goes out before the connection is visible to send(), so it is always first
            connection.send(json.dumps(hello))
            with self._changed:
                admitted = not self._stopping
                if admitted:
                    self._connections[conn_id] = connection
                    self._changed.notify_all()
            if not admitted:
                connection.close(CloseCode.GOING_AWAY, "server stopping")
                return
            for message in connection:
                if isinstance(message, bytes):
                    connection.close(CloseCode.UNSUPPORTED_DATA, "Socket Mode speaks text frames")
                    break
                self._on_message(message)
        except ConnectionClosed:
            pass  # the client went away; nothing to answer
        finally:
            with self._changed:
                self._connections.pop(conn_id, None)
                self._changed.notify_all()

    def _on_message(self, raw: str) -> None:
        """Record a message from the client: an ack is ``{"envelope_id": ..., "payload"?: ...}``."""
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        with self._changed:
            if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
                self._record(SOCKET_ACK_METHOD, {"raw": short(raw, 200)}, "invalid_ack")
                return
            self._record(SOCKET_ACK_METHOD, message, None)
            # the first ack is the answer Slack acts on; later ones only show up in the call log
            self._acks.setdefault(message["envelope_id"], message)
            self._changed.notify_all()

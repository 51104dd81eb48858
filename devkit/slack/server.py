"""``LocalSlack``: the loopback Slack, put together and served over HTTP.

It composes the parts, each in its own module, around one shared
:class:`~devkit.slack.workspace.Workspace`: the Web API (``webapi``), the v2 file upload
(``files``), ``response_url`` (``response_url``) and Socket Mode (``socket_mode``, on a port
of its own). This module holds the lifecycle, the HTTP routing, the subscribers, and what tests
use to inspect and wait on the state.

For fault suites: :meth:`LocalSlack.listen_also` serves the same workspace on one more port (give
each client process its own, and a held call tells which process is waiting),
:meth:`LocalSlack.hold_next` applies a call but holds its answer (a slow network, a client killed
mid-call), and :meth:`LocalSlack.delete_as_user` removes a message as a person in the channel would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any, TypeVar

from devkit.slack.files import FileUploads
from devkit.slack.http import PooledHTTPServer, make_handler
from devkit.slack.model import Call, Event, File, Held, Hold, Message
from devkit.slack.response_url import ResponseUrls
from devkit.slack.socket_mode import SocketMode
from devkit.slack.webapi import WebApi
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
        self._extra: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
        self._holds: list[Hold] = []
        self._held: list[Held] = []
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
        server = PooledHTTPServer((self._host, self._port), make_handler(self))
        server.daemon_threads = True
        self._server = server
        # a short poll interval keeps stop() (and so each test's teardown) quick
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="localslack", daemon=True
        )
        self._thread.start()
        return self

    def listen_also(self) -> str:
        """Serve the same workspace on one more loopback port and return that port's ``api_url``.

        Give each client process its own: a :class:`Held` call's ``port`` then says which one is
        waiting. Stopped with the server.
        """
        if self._server is None:
            raise RuntimeError("LocalSlack is not started")
        server = PooledHTTPServer((self._host, 0), make_handler(self))
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="localslack-extra", daemon=True
        )
        thread.start()
        with self._lock:
            self._extra.append((server, thread))
        host, port = server.socket.getsockname()[:2]
        return f"http://{host}:{port}/api/"

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        with self._lock:
            extra, self._extra = self._extra, []
        for other, other_thread in extra:
            other.shutdown()
            other.server_close()
            other_thread.join(timeout=5)
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
        after: int = 0,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail with ``error`` (after letting
        ``after`` calls through).

        ``ratelimited`` answers HTTP 429 with ``Retry-After`` (default 1 s) like Slack's tier
        limits; anything else answers HTTP 200 ``{"ok": false, "error": error}`` unless
        ``status`` says otherwise.
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if status == 429 and retry_after is None:
            retry_after = 1
        self._api.fail_next(method, error, count=count, retry_after=retry_after, status=status, after=after)

    def hold_next(
        self,
        method: str,
        seconds: float,
        *,
        when: Callable[[dict[str, Any]], bool] | None = None,
        count: int = 1,
    ) -> None:
        """Apply the next ``count`` calls of ``method`` (those whose params satisfy ``when``) at
        once, but answer them only ``seconds`` later: the message is posted or edited while the
        client still waits, as when Slack's answer is slow or the client dies mid-call.
        :meth:`held` lists them as they begin."""
        if seconds < 0 or count < 1:
            raise ValueError("hold_next needs seconds >= 0 and count >= 1")
        with self._lock:
            self._holds.append(Hold(method, float(seconds), when, count))

    def held(self) -> list[Held]:
        """Calls whose answer was held (see :meth:`hold_next`), oldest first."""
        with self._lock:
            return list(self._held)

    def delete_as_user(
        self, channel: str, ts: str, *, user: str = "UPERSON", only_if: Callable[[Message], bool] | None = None
    ) -> Message | None:
        """Delete a message as a person in the channel would (not a bot call: nothing is added to
        the call log); subscribers see ``deleted``. ``only_if`` is checked under the lock, so a
        message the bot edits at that moment is judged as it is. Returns what was deleted."""
        with self._lock:
            message = self._workspace.message(channel, ts)
            if message is None or message.ephemeral or (only_if is not None and not only_if(message)):
                return None
            self._workspace.remove(message)
            events = self._workspace.stamp([("deleted", message)])
        logger.debug("LocalSlack: %s deleted %s/%s", user, channel, ts)
        self._emit(events)
        return message

    def _hold_answer(self, method: str, params: dict[str, Any], ok: bool, port: int) -> None:
        """Called by the handler once a call is applied and before it is answered."""
        with self._lock:
            hold = next(
                (h for h in self._holds if h.method == method and (h.when is None or h.when(params))), None
            )
            if hold is None:
                return
            hold.remaining -= 1
            if hold.remaining <= 0:
                self._holds.remove(hold)
            self._held.append(Held(method, params, port, ok, time.time(), hold.seconds))
        time.sleep(hold.seconds)

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
        """Forget messages, files, calls, users, injected faults and holds, restrictions and minted
        URLs. Subscribers stay, and so do the servers and their Socket Mode connections."""
        with self._lock:
            self._holds.clear()
            self._held.clear()
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

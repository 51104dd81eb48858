"""A loopback stand-in for the parts of Slack that adops talks to.

``LocalSlack`` is a small HTTP server that answers the Web API methods the bot calls, the
``response_url`` of slash commands and buttons, and the v2 file-upload flow, with Slack's own
response shapes and error codes. ``slack_sdk.WebClient(base_url=local.api_url)`` and
``slack_sdk.webhook.WebhookClient(url)`` talk to it unchanged, so the code under test is the
production code with only the endpoint swapped.

Two users:

- ``adops console`` (the embedded default) subscribes to it and prints what Slack would show;
- the tests use it as the fake Slack and inspect ``calls``, ``messages()`` and ``files()``.

It also speaks Socket Mode: ``apps.connections.open`` (with the app-level token) hands out a
``ws://`` URL on the same server, where a minimal RFC 6455 endpoint greets the client with
``hello``; :meth:`LocalSlack.socket_send` delivers an envelope and :meth:`LocalSlack.socket_ack`
waits for the client's acknowledgement, so ``adops socket`` runs unchanged against it.

It is strict where Slack is strict, because the point of a fake is to fail where production
would: Block Kit limits answer ``invalid_blocks``, a ``response_url`` dies after five uses or
thirty minutes, ephemeral messages cannot be edited, a channel the bot is not in refuses posts.
Faults (429 with ``Retry-After``, any error code) are injected with :meth:`LocalSlack.fail_next`.

Everything lives in memory behind one lock; the call log keeps the last few thousand calls.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import secrets
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Call",
    "Event",
    "File",
    "LocalSlack",
    "Message",
    "block_errors",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Block Kit limits, as Slack enforces them on messages (not modals or App Home).
MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_FIELD_TEXT = 2_000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_URL = 3_000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_ALT_TEXT = 2_000
MAX_OPTIONS = 100
MAX_OVERFLOW_OPTIONS = 5
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_MARKDOWN_BLOCK_TEXT = 12_000

RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0

#: Kept per instance; old calls fall off so a long console session stays bounded.
CALL_LOG_SIZE = 5_000

#: Pseudo-methods under which non-API traffic is recorded in the call log.
RESPONSE_URL_METHOD = "response_url"
UPLOAD_METHOD = "upload"
SOCKET_ENVELOPE_METHOD = "socket_envelope"
SOCKET_ACK_METHOD = "socket_ack"

#: Methods that take the app-level (xapp-) token rather than the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

_BOT_ID = "B0ADOPS"
_APP_ID = "A0ADOPS"
_KNOWN_BLOCKS = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_BUTTON_STYLES = frozenset({"primary", "danger"})
_JSON_FIELDS = ("blocks", "attachments", "files", "metadata")

Via = Literal["api", "response_url"]
ResponseType = Literal["in_channel", "ephemeral"]
EventKind = Literal["posted", "updated", "ephemeral", "deleted", "file_shared"]


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Call:
    """One request as the server understood it. ``params`` never holds the token."""

    method: str
    params: dict[str, Any]
    time: float
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class File:
    id: str
    name: str
    title: str
    size: int
    content: bytes
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    uploaded: bool = False
    completed: bool = False


@dataclass(frozen=True)
class Message:
    """A message as a person in the channel would see it now.

    ``user`` is the bot for posted messages and the one recipient of an ephemeral message.
    ``edited`` counts ``chat.update`` calls and ``replace_original`` responses applied to it.
    """

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    user: str | None = None
    edited: int = 0
    via: Via = "api"
    response_type: ResponseType = "in_channel"
    files: tuple[File, ...] = ()

    @property
    def ephemeral(self) -> bool:
        return self.response_type == "ephemeral"


@dataclass(frozen=True)
class Event:
    """What a subscriber is told. ``seq`` orders events across request threads."""

    seq: int
    kind: EventKind
    message: Message

    @property
    def channel(self) -> str:
        return self.message.channel


@dataclass
class _ResponseUrl:
    channel: str
    user: str
    original_ts: str | None
    created: float
    uses: int = 0
    last_ts: str | None = None


@dataclass
class _Failure:
    error: str
    remaining: int
    retry_after: int | None
    status: int


class _SocketConnection:
    """One accepted WebSocket. Frames are written whole under ``lock``: ``socket_send`` runs in
    the caller's thread while the reader thread answers pings on the same socket."""

    def __init__(self, conn_id: str, sock: socket.socket) -> None:
        self.id = conn_id
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, opcode: int, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(_ws_frame(opcode, data))


class _ApiError(Exception):
    """An API call answered ``{"ok": false, "error": ...}``; raised and caught inside the server."""

    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra


# --------------------------------------------------------------------------------------------
# Block Kit validation (pure)


def block_errors(blocks: Any) -> list[str]:
    """Return Slack-style error strings for ``blocks``; an empty list means Slack would accept them.

    Each string names the offending spot with a JSON pointer the way Slack's ``errors`` do, e.g.
    ``"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``.
    """
    errors: list[str] = []
    if not isinstance(blocks, list):
        return [_err("must be an array", "/blocks")]
    if len(blocks) > MAX_BLOCKS:
        errors.append(_err(f"no more than {MAX_BLOCKS} items allowed", "/blocks"))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict):
            errors.append(_err("must be an object", ptr))
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not _str_within(block_id, MAX_BLOCK_ID):
                errors.append(_too_long(MAX_BLOCK_ID, f"{ptr}/block_id"))
            elif block_id in block_ids:
                errors.append(_err(f"duplicate block_id {block_id!r}", f"{ptr}/block_id"))
            block_ids.add(block_id)
        kind = block.get("type")
        check = _BLOCK_CHECKS.get(kind) if isinstance(kind, str) else None
        if kind not in _KNOWN_BLOCKS:
            errors.append(_err(f"unsupported type {kind!r}", f"{ptr}/type"))
        elif check is not None:
            check(block, ptr, errors)
    return errors


def _err(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _too_long(limit: int, pointer: str) -> str:
    return _err(f"must be less than {limit + 1} characters", pointer)


def _str_within(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _text(obj: Any, ptr: str, errors: list[str], *, limit: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict):
        errors.append(_err("must be a text object", ptr))
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        errors.append(_err(f"must be one of {list(allowed)}", f"{ptr}/type"))
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(_err("must be more than 0 characters", f"{ptr}/text"))
    elif len(text) > limit:
        errors.append(_too_long(limit, f"{ptr}/text"))


def _confirm(obj: Any, ptr: str, errors: list[str]) -> None:
    if not isinstance(obj, dict):
        errors.append(_err("must be a confirmation dialog object", ptr))
        return
    _text(obj.get("title"), f"{ptr}/title", errors, limit=MAX_CONFIRM_TITLE, plain_only=True)
    _text(obj.get("text"), f"{ptr}/text", errors, limit=MAX_CONFIRM_TEXT)
    _text(obj.get("confirm"), f"{ptr}/confirm", errors, limit=MAX_CONFIRM_BUTTON, plain_only=True)
    _text(obj.get("deny"), f"{ptr}/deny", errors, limit=MAX_CONFIRM_BUTTON, plain_only=True)
    if obj.get("style") is not None and obj["style"] not in _BUTTON_STYLES:
        errors.append(_err("must be one of ['primary', 'danger']", f"{ptr}/style"))


def _options(options: Any, ptr: str, errors: list[str], *, most: int) -> None:
    if not isinstance(options, list) or not options:
        errors.append(_err("must provide at least 1 items", ptr))
        return
    if len(options) > most:
        errors.append(_err(f"no more than {most} items allowed", ptr))
    for j, option in enumerate(options):
        optr = f"{ptr}/{j}"
        if not isinstance(option, dict):
            errors.append(_err("must be an option object", optr))
            continue
        _text(option.get("text"), f"{optr}/text", errors, limit=MAX_OPTION_TEXT)
        if not _str_within(option.get("value"), MAX_OPTION_VALUE):
            errors.append(_too_long(MAX_OPTION_VALUE, f"{optr}/value"))


def _element(el: Any, ptr: str, errors: list[str]) -> str | None:
    """Check one interactive element; return its action_id for the uniqueness check."""
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        errors.append(_err("must be a block element", ptr))
        return None
    action_id = el.get("action_id")
    if action_id is not None and not _str_within(action_id, MAX_ACTION_ID):
        errors.append(_too_long(MAX_ACTION_ID, f"{ptr}/action_id"))
    if "confirm" in el:
        _confirm(el["confirm"], f"{ptr}/confirm", errors)
    kind = el["type"]
    if kind == "button":
        _text(el.get("text"), f"{ptr}/text", errors, limit=MAX_BUTTON_TEXT, plain_only=True)
        if "value" in el and not _str_within(el["value"], MAX_BUTTON_VALUE):
            errors.append(_too_long(MAX_BUTTON_VALUE, f"{ptr}/value"))
        if "url" in el and not _str_within(el["url"], MAX_URL):
            errors.append(_too_long(MAX_URL, f"{ptr}/url"))
        if el.get("style") is not None and el["style"] not in _BUTTON_STYLES:
            errors.append(_err("must be one of ['primary', 'danger']", f"{ptr}/style"))
    elif kind == "overflow":
        _options(el.get("options"), f"{ptr}/options", errors, most=MAX_OVERFLOW_OPTIONS)
    elif kind in ("static_select", "multi_static_select", "radio_buttons", "checkboxes"):
        if "option_groups" not in el:
            _options(el.get("options"), f"{ptr}/options", errors, most=MAX_OPTIONS)
    return action_id if isinstance(action_id, str) else None


def _elements(elements: Any, ptr: str, errors: list[str], *, most: int) -> None:
    if not isinstance(elements, list) or not elements:
        errors.append(_err("must provide at least 1 items", ptr))
        return
    if len(elements) > most:
        errors.append(_err(f"no more than {most} items allowed", ptr))
    seen: set[str] = set()
    for j, el in enumerate(elements):
        action_id = _element(el, f"{ptr}/{j}", errors)
        if action_id is not None:
            if action_id in seen:
                errors.append(_err(f"duplicate action_id {action_id!r}", f"{ptr}/{j}/action_id"))
            seen.add(action_id)


def _section(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    if "text" not in block and "fields" not in block:
        errors.append(_err("must provide either text or fields", ptr))
    if "text" in block:
        _text(block["text"], f"{ptr}/text", errors, limit=MAX_SECTION_TEXT)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not fields:
            errors.append(_err("must provide at least 1 items", f"{ptr}/fields"))
        else:
            if len(fields) > MAX_FIELDS:
                errors.append(_err(f"no more than {MAX_FIELDS} items allowed", f"{ptr}/fields"))
            for j, item in enumerate(fields):
                _text(item, f"{ptr}/fields/{j}", errors, limit=MAX_FIELD_TEXT)
    if "accessory" in block:
        _element(block["accessory"], f"{ptr}/accessory", errors)


def _header(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    _text(block.get("text"), f"{ptr}/text", errors, limit=MAX_HEADER_TEXT, plain_only=True)


def _actions(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    _elements(block.get("elements"), f"{ptr}/elements", errors, most=MAX_ACTIONS_ELEMENTS)


def _context(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.append(_err("must provide at least 1 items", f"{ptr}/elements"))
        return
    if len(elements) > MAX_CONTEXT_ELEMENTS:
        errors.append(_err(f"no more than {MAX_CONTEXT_ELEMENTS} items allowed", f"{ptr}/elements"))
    for j, el in enumerate(elements):
        if isinstance(el, dict) and el.get("type") == "image":
            continue
        _text(el, f"{ptr}/elements/{j}", errors, limit=MAX_SECTION_TEXT)


def _image(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    if "image_url" not in block and "slack_file" not in block:
        errors.append(_err("must provide either image_url or slack_file", ptr))
    if "image_url" in block and not _str_within(block["image_url"], MAX_URL):
        errors.append(_too_long(MAX_URL, f"{ptr}/image_url"))
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not alt:
        errors.append(_err("must be more than 0 characters", f"{ptr}/alt_text"))
    elif len(alt) > MAX_ALT_TEXT:
        errors.append(_too_long(MAX_ALT_TEXT, f"{ptr}/alt_text"))


def _markdown(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        errors.append(_err("must be more than 0 characters", f"{ptr}/text"))
    elif len(text) > MAX_MARKDOWN_BLOCK_TEXT:
        errors.append(_too_long(MAX_MARKDOWN_BLOCK_TEXT, f"{ptr}/text"))


_BLOCK_CHECKS: dict[str, Callable[[dict[str, Any], str, list[str]], None]] = {
    "section": _section,
    "header": _header,
    "actions": _actions,
    "context": _context,
    "image": _image,
    "markdown": _markdown,
}


# --------------------------------------------------------------------------------------------
# Request decoding (pure)


def decode_params(raw: bytes, content_type: str, query: str = "") -> dict[str, Any]:
    """Merge query string and body into one dict; JSON-in-form fields become lists and dicts.

    slack_sdk sends ``chat.*`` as a JSON body and most other methods form-encoded, with
    ``blocks``/``files`` as JSON strings; both arrive here as the same parsed shape.
    """
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    mime = content_type.split(";", 1)[0].strip().lower()
    if raw:
        if mime == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise _ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise _ApiError("invalid_json")
            params.update(body)
        elif mime in ("application/x-www-form-urlencoded", ""):
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            # multipart is only used by the retired files.upload; nothing we serve needs it
            raise _ApiError("invalid_form_data")
    for name in _JSON_FIELDS:
        value = params.get(name)
        if isinstance(value, str):
            try:
                params[name] = json.loads(value) if value.strip() else []
            except ValueError:
                raise _ApiError(f"invalid_{name}_format" if name == "blocks" else "invalid_arguments") from None
    return params


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _permalink_ts(ts: str) -> str:
    return "p" + ts.replace(".", "")


# --------------------------------------------------------------------------------------------
# WebSocket framing (RFC 6455), just what Socket Mode uses


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_CONTINUATION, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Socket Mode messages are small JSON; anything bigger is a broken client, not a payload.
_WS_MAX_MESSAGE = 16 * 1024 * 1024


class _WsProtocolError(Exception):
    """The client broke RFC 6455; the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def _ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()


def _ws_frame(opcode: int, data: bytes) -> bytes:
    """One final, unmasked frame: servers must not mask (and slack_sdk cannot unmask)."""
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + data


def _ws_read_frame(rfile: BinaryIO) -> tuple[bool, int, bytes] | None:
    """Read one client frame as (fin, opcode, unmasked payload); None when the peer hung up."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    b1, b2 = head
    fin, opcode, masked, n = bool(b1 & 0x80), b1 & 0x0F, b2 & 0x80, b2 & 0x7F
    if b1 & 0x70:
        raise _WsProtocolError(1002, "reserved bits set without an extension")
    if not masked:
        raise _WsProtocolError(1002, "client frames must be masked")
    if n == 126:
        n = struct.unpack("!H", _ws_read_exactly(rfile, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", _ws_read_exactly(rfile, 8))[0]
    if opcode >= WS_CLOSE and (n > 125 or not fin):
        raise _WsProtocolError(1002, "control frames are short and unfragmented")
    if n > _WS_MAX_MESSAGE:
        raise _WsProtocolError(1009, "message too big")
    mask = _ws_read_exactly(rfile, 4)
    data = _ws_read_exactly(rfile, n)
    # XOR with the repeating 4-byte key, done on big integers rather than byte by byte
    key = (mask * (n // 4 + 1))[:n]
    return fin, opcode, (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _ws_read_exactly(rfile: BinaryIO, n: int) -> bytes:
    data = rfile.read(n) if n else b""
    if len(data) < n:
        raise EOFError
    return data


# --------------------------------------------------------------------------------------------
# The server


class LocalSlack:
    """Loopback Slack Web API; see the module docstring.

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
        self._bot_token = bot_token
        self._app_token = app_token
        self._host = host
        self._port = port
        self.team_id = team_id
        self.bot_user_id = bot_user_id

        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._subscribers: list[Callable[[Event], None]] = []
        # Socket Mode: tickets and live connections belong to clients, not to the recorded
        # state, so they survive reset() like the server does. Insertion order is connect order.
        self._socket_tickets: set[str] = set()
        self._sockets: dict[str, _SocketConnection] = {}
        self._socket_changed = threading.Condition(self._lock)
        # counters survive reset(): a ts or file id handed out before must never come back
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._last_us = 0
        self._init_state()

    def _init_state(self) -> None:
        self._calls: deque[Call] = deque(maxlen=CALL_LOG_SIZE)
        # channel -> ts -> Message; ts are strictly increasing, so insertion order is ts order
        self._messages: dict[str, dict[str, Message]] = {}
        self._files: dict[str, File] = {}
        self._uploads: dict[str, str] = {}  # upload token -> file id
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._failures: dict[str, _Failure] = {}
        self._restricted: dict[str, str] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._acks: dict[str, dict[str, Any]] = {}  # envelope id -> the client's first ack

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalSlack:
        if self._server is not None:
            return self
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
        self._close_sockets()
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
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- configuration -------------------------------------------------------------------------

    def response_url(self, channel: str, user: str, *, message_ts: str | None = None) -> str:
        """Mint a ``response_url`` as Slack sends with a slash command or a button click.

        ``message_ts`` is the message a button sat on: ``replace_original``/``delete_original``
        act on it. Without it (a slash command) they act on what this URL posted last.
        """
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._response_urls[token] = _ResponseUrl(channel, user, message_ts, time.monotonic())
        return f"{self.url}/actions/{self.team_id}/{token}"

    def expire_response_url(self, url: str) -> None:
        """Age a response_url past its 30 minutes, for testing the fallback without waiting."""
        token = url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            if token in self._response_urls:
                self._response_urls[token].created -= RESPONSE_URL_TTL + 1

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
        with self._lock:
            self._failures[method] = _Failure(error, count, retry_after, status)

    def restrict_channel(self, channel: str, error: str = "not_in_channel") -> None:
        """Refuse posts and file shares to ``channel`` with ``error`` (a private channel or DM
        the bot is not in answers ``not_in_channel``; an unknown one ``channel_not_found``)."""
        with self._lock:
            self._restricted[channel] = error

    def add_user(self, user_id: str, *, name: str | None = None, tz: str = "UTC", is_admin: bool = False) -> None:
        """Give ``users.info`` something other than the default UTC user for ``user_id``."""
        ZoneInfo(tz)  # fail here, not in a request thread, on a typo
        with self._lock:
            self._users[user_id] = {"name": name or user_id.lower(), "tz": tz, "is_admin": is_admin}

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
        Subscribers stay, and so does the server."""
        with self._lock:
            self._init_state()

    # -- Socket Mode ---------------------------------------------------------------------------

    def socket_send(self, envelope_type: str, payload: dict[str, Any], *, accepts_response_payload: bool = True) -> str:
        """Deliver one envelope (``slash_commands``, ``interactive``, ``events_api``) the way Slack
        does and return its ``envelope_id``; :meth:`socket_ack` then waits for the answer.

        Slack hands each envelope to one of the app's connections, not to all of them: this
        picks the newest, which is the one a reconnecting client has just opened.
        """
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        with self._lock:
            conn = next(reversed(self._sockets.values()), None)
            if conn is None:
                raise RuntimeError("no Socket Mode client is connected (see socket_connected())")
            self._record(SOCKET_ENVELOPE_METHOD, {"envelope_id": envelope_id, "type": envelope_type}, None)
        conn.send(WS_TEXT, json.dumps(envelope).encode())
        return envelope_id

    def socket_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the client's acknowledgement of ``envelope_id`` and return it as sent, e.g.
        ``{"envelope_id": ..., "payload": {"text": ..., "response_type": "ephemeral"}}``.

        Raises ``AssertionError`` with the recent calls on timeout, like :meth:`wait_for`.
        """
        with self._socket_changed:
            acked = self._socket_changed.wait_for(lambda: envelope_id in self._acks, timeout)
            ack = self._acks.get(envelope_id)
        if not acked or ack is None:
            raise AssertionError(f"LocalSlack.socket_ack: no ack for {envelope_id} within {timeout}s\n{self.dump()}")
        return ack

    def socket_connected(self, timeout: float = 10.0) -> bool:
        """Whether a Socket Mode client is connected, waiting up to ``timeout`` for one.
        ``socket_connected(0)`` just looks."""
        with self._socket_changed:
            return self._socket_changed.wait_for(lambda: bool(self._sockets), timeout)

    def socket_connections(self) -> list[str]:
        """Ids of the open Socket Mode connections, oldest first (a reconnect shows a new id)."""
        with self._lock:
            return list(self._sockets)

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connected client to move to a new URL, as Slack does every few hours; a
        well-behaved client opens a new connection and then drops the old one itself."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "localslack"}}
        with self._lock:
            conns = list(self._sockets.values())
        for conn in conns:
            try:
                conn.send(WS_TEXT, json.dumps(message).encode())
            except OSError:
                pass  # already going away, which is what was asked

    # -- inspection ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def messages(self, channel: str) -> list[Message]:
        """Messages in ``channel`` now, thread replies and ephemeral ones included, in ts order."""
        with self._lock:
            return list(self._messages.get(channel, {}).values())

    def files(self, channel: str | None = None) -> list[File]:
        with self._lock:
            return [f for f in self._files.values() if channel is None or f.channel == channel]

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

        return self.wait_for(first, timeout)

    def dump(self, last_calls: int = 20) -> str:
        with self._lock:
            calls = list(self._calls)[-last_calls:]
            channels = {c: list(ms.values()) for c, ms in self._messages.items()}
        lines = [f"last {len(calls)} calls:"]
        for c in calls:
            outcome = "ok" if c.ok else f"error={c.error}"
            lines.append(f"  {c.method} {outcome} {_short(json.dumps(c.params, default=str), 200)}")
        for channel, msgs in channels.items():
            lines.append(f"channel {channel}:")
            for m in msgs:
                where = f" thread={m.thread_ts}" if m.thread_ts else ""
                lines.append(
                    f"  ts={m.ts}{where} {m.response_type} via={m.via} edited={m.edited} "
                    f"files={[f.name for f in m.files]} text={_short(m.text, 120)!r} blocks={len(m.blocks)}"
                )
        return "\n".join(lines)

    # -- request plumbing (called by the handler) ------------------------------------------------

    def _next_ts(self) -> str:
        # under self._lock: strictly increasing even when the wall clock stalls or steps back
        self._last_us = max(self._last_us + 1, time.time_ns() // 1_000)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def _record(self, method: str, params: dict[str, Any], error: str | None) -> None:
        self._calls.append(Call(method, params, time.time(), error is None, error))

    def _stamp(self, events: Iterable[tuple[EventKind, Message]]) -> list[Event]:
        # under self._lock, so seq follows the order in which the state changed
        return [Event(next(self._seq), kind, message) for kind, message in events]

    def _emit(self, events: list[Event]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    logger.exception("LocalSlack subscriber failed on %s", event.kind)

    def _handle_api(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one Web API call: (HTTP status, extra headers, JSON body)."""
        params.pop("token", None)
        handler = _API_METHODS.get(method)
        changes: list[tuple[EventKind, Message]] = []
        with self._lock:
            try:
                if handler is None:
                    raise _ApiError("unknown_method")
                if not token:
                    raise _ApiError("not_authed")
                expected = self._app_token if method in _APP_TOKEN_METHODS else self._bot_token
                if token != expected:
                    # Slack tells a valid token of the wrong kind apart from a bad one
                    known = token in (self._bot_token, self._app_token)
                    raise _ApiError("not_allowed_token_type" if known else "invalid_auth")
                self._injected_failure(method)
                body = handler(self, params, changes)
            except _ApiError as e:
                self._record(method, params, e.error)
                return e.status, e.headers, {"ok": False, "error": e.error, **e.extra}
            self._record(method, params, None)
            events = self._stamp(changes)
        self._emit(events)
        return 200, {}, {"ok": True, **body}

    def _injected_failure(self, method: str) -> None:
        failure = self._failures.get(method)
        if failure is None:
            return
        failure.remaining -= 1
        if failure.remaining <= 0:
            del self._failures[method]
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        raise _ApiError(failure.error, status=failure.status, headers=headers)

    def _handle_upload(self, token: str, data: bytes) -> tuple[int, str]:
        with self._lock:
            file_id = self._uploads.get(token)
            if file_id is None or self._files[file_id].completed:
                self._record(UPLOAD_METHOD, {"size": len(data)}, "file_not_found")
                return 404, "file_not_found"
            self._files[file_id] = replace(self._files[file_id], content=data, size=len(data), uploaded=True)
            self._record(UPLOAD_METHOD, {"file_id": file_id, "size": len(data)}, None)
        return 200, f"OK - {len(data)}"

    def _handle_response_url(self, token: str, params: dict[str, Any]) -> tuple[int, str]:
        """Answer a POST to a minted response_url: (HTTP status, plain-text body) like Slack."""
        changes: list[tuple[EventKind, Message]] = []
        with self._lock:
            error = self._respond(token, params, changes)
            self._record(RESPONSE_URL_METHOD, params, error)
            events = self._stamp(changes)
        if error is not None:
            status = 404 if error in ("used_url", "expired_url", "no_service") else 400
            return status, error
        self._emit(events)
        return 200, "ok"

    def _respond(self, token: str, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> str | None:
        url = self._response_urls.get(token)
        if url is None:
            return "no_service"
        if time.monotonic() - url.created > RESPONSE_URL_TTL:
            return "expired_url"
        if url.uses >= RESPONSE_URL_USES:
            return "used_url"
        original = url.original_ts or url.last_ts
        target = self._messages.get(url.channel, {}).get(original) if original else None

        if _truthy(params.get("delete_original")):
            url.uses += 1
            if target is not None:
                del self._messages[url.channel][target.ts]
                events.append(("deleted", target))
            return None
        try:
            self._check_content(params)
        except _ApiError as e:
            return e.error

        if _truthy(params.get("replace_original")) and target is not None:
            # Slack keeps the original's visibility: a replacement cannot turn public into private
            message = replace(
                target,
                text=params.get("text", ""),
                blocks=params.get("blocks", []),
                attachments=params.get("attachments", []),
                edited=target.edited + 1,
            )
            kind: EventKind = "updated"
        else:
            response_type: ResponseType = "in_channel" if params.get("response_type") == "in_channel" else "ephemeral"
            message = Message(
                channel=url.channel,
                ts=self._next_ts(),
                text=params.get("text", ""),
                blocks=params.get("blocks", []),
                attachments=params.get("attachments", []),
                thread_ts=params.get("thread_ts"),
                user=url.user if response_type == "ephemeral" else self.bot_user_id,
                via="response_url",
                response_type=response_type,
            )
            kind = "posted" if response_type == "in_channel" else "ephemeral"
        url.uses += 1
        url.last_ts = message.ts
        self._messages.setdefault(url.channel, {})[message.ts] = message
        events.append((kind, message))
        return None

    def _serve_file(self, file_id: str, token: str | None) -> tuple[int, bytes]:
        with self._lock:
            f = self._files.get(file_id)
        if token != self._bot_token:
            return 403, b"invalid_auth"
        if f is None or not f.completed:
            return 404, b"file_not_found"
        return 200, f.content

    def _socket_claim(self, ticket: str) -> bool:
        """Spend a ticket minted by apps.connections.open; each URL connects once, as on Slack."""
        with self._lock:
            if ticket not in self._socket_tickets:
                return False
            self._socket_tickets.discard(ticket)
            return True

    def _socket_serve(self, sock: socket.socket, rfile: BinaryIO) -> None:
        """Run one upgraded connection until either side closes it (in the handler's thread)."""
        conn = _SocketConnection(uuid.uuid4().hex[:12], sock)
        with self._lock:
            count = len(self._sockets) + 1
        # hello goes out before the connection is visible to socket_send, so it is always first
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "localslack", "approximate_connection_time": 18_060},
            "connection_info": {"app_id": _APP_ID},
        }
        try:
            conn.send(WS_TEXT, json.dumps(hello).encode())
        except OSError:
            return
        with self._socket_changed:
            self._sockets[conn.id] = conn
            self._socket_changed.notify_all()
        try:
            self._socket_read(conn, rfile)
        finally:
            with self._socket_changed:
                self._sockets.pop(conn.id, None)
                self._socket_changed.notify_all()

    def _socket_read(self, conn: _SocketConnection, rfile: BinaryIO) -> None:
        parts: list[bytes] = []
        kind = WS_TEXT
        try:
            while True:
                frame = _ws_read_frame(rfile)
                if frame is None:
                    return
                fin, opcode, data = frame
                if opcode == WS_PING:
                    # slack_sdk pings every ping_interval and drops a connection that stays silent
                    conn.send(WS_PONG, data)
                elif opcode == WS_PONG:
                    pass
                elif opcode == WS_CLOSE:
                    conn.send(WS_CLOSE, data[:2])
                    return
                elif opcode in (WS_TEXT, WS_BINARY, WS_CONTINUATION):
                    if (opcode == WS_CONTINUATION) != bool(parts):
                        raise _WsProtocolError(1002, "unexpected continuation frame")
                    if opcode != WS_CONTINUATION:
                        kind = opcode
                    parts.append(data)
                    if sum(len(p) for p in parts) > _WS_MAX_MESSAGE:
                        raise _WsProtocolError(1009, "message too big")
                    if fin:
                        message, parts = b"".join(parts), []
                        if kind != WS_TEXT:
                            raise _WsProtocolError(1003, "Socket Mode speaks text frames")
                        self._socket_message(message)
                else:
                    raise _WsProtocolError(1002, f"unknown opcode {opcode}")
        except _WsProtocolError as e:
            logger.warning("LocalSlack closing a Socket Mode connection: %s", e)
            try:
                conn.send(WS_CLOSE, struct.pack("!H", e.code) + str(e).encode())
            except OSError:
                pass
        except (OSError, EOFError):
            pass  # the client went away mid-frame; nothing to answer

    def _socket_message(self, raw: bytes) -> None:
        """Record a text message from the client: an ack is ``{"envelope_id": ..., "payload"?: ...}``."""
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        with self._socket_changed:
            if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
                self._record(SOCKET_ACK_METHOD, {"raw": _short(raw.decode("utf-8", "replace"), 200)}, "invalid_ack")
                return
            self._record(SOCKET_ACK_METHOD, message, None)
            # the first ack is the answer Slack acts on; later ones only show up in the call log
            self._acks.setdefault(message["envelope_id"], message)
            self._socket_changed.notify_all()

    def _close_sockets(self) -> None:
        """Say goodbye (1001, going away) and hang up; each reader thread then ends its loop."""
        with self._lock:
            conns = list(self._sockets.values())
            self._socket_tickets.clear()
        for conn in conns:
            try:
                conn.send(WS_CLOSE, struct.pack("!H", 1001) + b"server stopping")
            except OSError:
                pass
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._socket_changed:
            self._socket_changed.wait_for(lambda: not self._sockets, timeout=5)

    # -- API methods (called under self._lock) ---------------------------------------------------

    def _check_content(self, params: dict[str, Any]) -> None:
        text = params.get("text")
        if text is not None and not isinstance(text, str):
            raise _ApiError("invalid_arguments")
        blocks = params.get("blocks")
        if blocks is not None:
            errors = block_errors(blocks)
            if errors:
                raise _ApiError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
        if not text and not blocks and not params.get("attachments"):
            raise _ApiError("no_text")
        if text and len(text) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")

    def _channel_for_post(self, params: dict[str, Any]) -> str:
        channel = params.get("channel")
        if not channel or not isinstance(channel, str):
            raise _ApiError("channel_not_found")
        # A user id posts to the app's DM with that user, which Slack reports as a D… channel
        # (the same id conversations.open returns here).
        if channel[:1] in ("U", "W"):
            channel = _dm_of(channel)
        if channel in self._restricted:
            raise _ApiError(self._restricted[channel])
        return channel

    def _message_json(self, m: Message) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": _BOT_ID,
            "team": self.team_id,
            "text": m.text,
            "ts": m.ts,
        }
        if m.blocks:
            body["blocks"] = m.blocks
        if m.attachments:
            body["attachments"] = m.attachments
        if m.thread_ts:
            body["thread_ts"] = m.thread_ts
        if m.edited:
            body["edited"] = {"user": self.bot_user_id, "ts": m.ts}
        return body

    def _auth_test(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        return {
            "url": f"{self.url}/",
            "team": "adops-local",
            "user": "adops",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": _BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(12)
        self._socket_tickets.add(ticket)
        return {"url": "ws" + self.url[len("http"):] + f"/socket/{ticket}"}

    def _chat_post_message(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        channel = self._channel_for_post(params)
        self._check_content(params)
        thread_ts = params.get("thread_ts") or None
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=params.get("text") or "",
            blocks=params.get("blocks") or [],
            attachments=params.get("attachments") or [],
            thread_ts=str(thread_ts) if thread_ts else None,
            user=self.bot_user_id,
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        events.append(("posted", message))
        return {"channel": channel, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            raise _ApiError("channel_not_found")
        current = self._messages.get(channel, {}).get(str(ts)) if ts else None
        if current is None or current.ephemeral:
            raise _ApiError("message_not_found")
        if current.via == "response_url":
            raise _ApiError("cant_update_message")
        # chat.update keeps what is not sent: omitting blocks keeps them, [] removes them
        merged = {
            "text": params.get("text", current.text),
            "blocks": params.get("blocks", current.blocks),
            "attachments": params.get("attachments", current.attachments),
        }
        self._check_content(merged)
        message = replace(current, edited=current.edited + 1, **merged)
        self._messages[channel][current.ts] = message
        events.append(("updated", message))
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        channel = self._channel_for_post(params)
        user = params.get("user")
        if not user:
            raise _ApiError("user_not_found")
        self._check_content(params)
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=params.get("text") or "",
            blocks=params.get("blocks") or [],
            attachments=params.get("attachments") or [],
            thread_ts=params.get("thread_ts") or None,
            user=str(user),
            response_type="ephemeral",
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        events.append(("ephemeral", message))
        return {"message_ts": message.ts}

    def _chat_delete(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        current = self._messages.get(channel or "", {}).get(str(ts))
        if current is None or current.ephemeral:
            raise _ApiError("message_not_found")
        del self._messages[current.channel][current.ts]
        events.append(("deleted", current))
        return {"channel": current.channel, "ts": current.ts}

    def _chat_get_permalink(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("message_ts")
        message = self._messages.get(channel or "", {}).get(str(ts))
        if message is None or message.ephemeral:
            raise _ApiError("message_not_found")
        link = f"{self.url}/archives/{channel}/{_permalink_ts(message.ts)}"
        if message.thread_ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_info(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel[:1] not in ("C", "G", "D"):
            raise _ApiError("channel_not_found")
        is_im = channel.startswith("D")
        return {
            "channel": {
                "id": channel,
                "name": None if is_im else f"local-{channel.lower()}",
                "is_channel": channel.startswith("C"),
                "is_group": channel.startswith("G"),
                "is_im": is_im,
                "is_private": not channel.startswith("C"),
                "is_archived": False,
                "is_member": channel not in self._restricted,
                "created": 1_700_000_000,
                "context_team_id": self.team_id,
            }
        }

    def _conversations_open(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}, "no_op": True, "already_open": True}
        users = str(params.get("users") or "")
        if not users:
            raise _ApiError("users_list_not_supplied")
        first = users.split(",")[0].strip()
        if first[:1] not in ("U", "W"):
            raise _ApiError("user_not_found")
        return {"channel": {"id": _dm_of(first)}, "no_op": True, "already_open": True}

    def _users_info(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        user = params.get("user")
        if not isinstance(user, str) or user[:1] not in ("U", "W"):
            raise _ApiError("user_not_found")
        known = self._users.get(user, {})
        name = known.get("name") or user.lower()
        tz = known.get("tz", "UTC")
        try:
            zone = ZoneInfo(tz)
        except ZoneInfoNotFoundError:  # pragma: no cover - add_user checks it
            zone = ZoneInfo("UTC")
        offset = datetime.now(timezone.utc).astimezone(zone).utcoffset()
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "deleted": False,
                "is_bot": user == self.bot_user_id,
                "is_admin": known.get("is_admin", False),
                "tz": tz,
                "tz_label": tz,
                "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
                "profile": {"real_name": name, "display_name": name},
            }
        }

    def _files_get_upload_url(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None
        if not filename or length < 0:
            raise _ApiError("invalid_arguments")
        file_id = self._next_id("F")
        token = secrets.token_urlsafe(12)
        self._files[file_id] = File(id=file_id, name=str(filename), title=str(filename), size=0, content=b"")
        self._uploads[token] = file_id
        return {"upload_url": f"{self.url}/upload/v1/{token}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any], events: list[tuple[EventKind, Message]]) -> dict[str, Any]:
        items = params.get("files")
        if not isinstance(items, list) or not items:
            raise _ApiError("invalid_arguments")
        channel = params.get("channel_id") or (str(params.get("channels") or "").split(",")[0] or None)
        if channel is not None:
            channel = self._channel_for_post({"channel": channel})
        thread_ts = params.get("thread_ts") or None
        comment = params.get("initial_comment") or None
        done: list[File] = []
        for item in items:
            file_id = item.get("id") if isinstance(item, dict) else None
            f = self._files.get(str(file_id))
            # completing twice, or before the bytes were posted, leaves Slack nothing to share
            if f is None or f.completed or not f.uploaded:
                raise _ApiError("file_not_found")
            done.append(
                replace(
                    f,
                    title=item.get("title") or f.name,
                    channel=channel,
                    thread_ts=thread_ts,
                    initial_comment=comment,
                    completed=True,
                )
            )
        for f in done:
            self._files[f.id] = f
        shared_ts: str | None = None
        if channel is not None:
            message = Message(
                channel=channel,
                ts=self._next_ts(),
                text=comment or "",
                thread_ts=thread_ts,
                user=self.bot_user_id,
                files=tuple(done),
            )
            self._messages.setdefault(channel, {})[message.ts] = message
            events.append(("file_shared", message))
            shared_ts = message.ts
        return {"files": [self._file_json(f, shared_ts=shared_ts) for f in done]}

    def _file_json(self, f: File, *, shared_ts: str | None) -> dict[str, Any]:
        url_private = f"{self.url}/files/{f.id}/{f.name}"
        body: dict[str, Any] = {
            "id": f.id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": f.name,
            "title": f.title,
            "mimetype": "text/csv" if f.name.endswith(".csv") else "application/octet-stream",
            "filetype": f.name.rsplit(".", 1)[-1] if "." in f.name else "binary",
            "user": self.bot_user_id,
            "size": f.size,
            "url_private": url_private,
            "url_private_download": url_private,
            "permalink": f"{self.url}/files/{self.bot_user_id}/{f.id}/{f.name}",
            "channels": [f.channel] if f.channel else [],
            "groups": [],
            "ims": [],
        }
        if f.channel and shared_ts:
            share: dict[str, Any] = {"ts": shared_ts}
            if f.thread_ts:
                share["thread_ts"] = f.thread_ts
            body["shares"] = {"public": {f.channel: [share]}}
        return body


_API_METHODS: dict[str, Callable[[LocalSlack, dict[str, Any], list[tuple[EventKind, Message]]], dict[str, Any]]] = {
    "apps.connections.open": LocalSlack._apps_connections_open,
    "auth.test": LocalSlack._auth_test,
    "chat.postMessage": LocalSlack._chat_post_message,
    "chat.update": LocalSlack._chat_update,
    "chat.postEphemeral": LocalSlack._chat_post_ephemeral,
    "chat.delete": LocalSlack._chat_delete,
    "chat.getPermalink": LocalSlack._chat_get_permalink,
    "conversations.info": LocalSlack._conversations_info,
    "conversations.open": LocalSlack._conversations_open,
    "users.info": LocalSlack._users_info,
    "files.getUploadURLExternal": LocalSlack._files_get_upload_url,
    "files.completeUploadExternal": LocalSlack._files_complete_upload,
}


def _dm_of(user: str) -> str:
    return f"D{user[1:]}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


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
                    status, text = slack._handle_upload(segments[2], raw)
                    self._send(status, text.encode(), "text/plain; charset=utf-8")
                elif len(segments) == 3 and segments[0] == "actions" and self.command == "POST":
                    self._response_url(segments[2], raw)
                elif len(segments) == 2 and segments[0] == "socket" and self.command == "GET":
                    self._websocket(segments[1])
                elif len(segments) >= 2 and segments[0] == "files" and self.command == "GET":
                    status, data = slack._serve_file(segments[1], _bearer(self.headers.get("Authorization")))
                    self._send(status, data, "application/octet-stream")
                else:
                    self._send(404, b"not found", "text/plain; charset=utf-8")
            except Exception:  # a bug in the fake must show up in the client, not hang it
                logger.exception("LocalSlack failed on %s %s", self.command, parts.path)
                self._send(500, b'{"ok": false, "error": "fatal_error"}', "application/json; charset=utf-8")

        def _api(self, method: str, raw: bytes, query: str) -> None:
            token = _bearer(self.headers.get("Authorization"))
            try:
                params = decode_params(raw, self.headers.get("Content-Type", ""), query)
            except _ApiError as e:
                self._json(200, {}, {"ok": False, "error": e.error})
                return
            token = token or (params.get("token") if isinstance(params.get("token"), str) else None)
            status, headers, body = slack._handle_api(method, params, token)
            self._json(status, headers, body)

        def _websocket(self, ticket: str) -> None:
            key = self.headers.get("Sec-WebSocket-Key", "")
            upgrade = (self.headers.get("Upgrade") or "").lower() == "websocket"
            connection = "upgrade" in (self.headers.get("Connection") or "").lower()
            if not (upgrade and connection and key and self.headers.get("Sec-WebSocket-Version") == "13"):
                self._send(400, b"not a websocket handshake", "text/plain; charset=utf-8")
                return
            if not slack._socket_claim(ticket):
                self._send(401, b"invalid_ticket", "text/plain; charset=utf-8")
                return
            # 101 is an HTTP/1.1 answer; the handler's HTTP/1.0 default would misstate it
            self.protocol_version = "HTTP/1.1"
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", _ws_accept(key))
            self.end_headers()
            self.close_connection = True  # once the WebSocket ends, so does the TCP connection
            slack._socket_serve(self.connection, self.rfile)

        def _response_url(self, token: str, raw: bytes) -> None:
            try:
                params = json.loads(raw or b"{}")
                if not isinstance(params, dict):
                    raise ValueError
                for name in ("blocks", "attachments"):
                    if isinstance(params.get(name), str):
                        params[name] = json.loads(params[name])
            except ValueError:
                self._send(400, b"invalid_payload", "text/plain; charset=utf-8")
                return
            status, text = slack._handle_response_url(token, params)
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

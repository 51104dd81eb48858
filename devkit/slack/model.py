"""The records LocalSlack keeps and hands out (calls, files, messages, events), the error an
API method raises, and the names under which non-API traffic shows up in the call log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "APP_ID",
    "BOT_ID",
    "RESPONSE_URL_METHOD",
    "SOCKET_ACK_METHOD",
    "SOCKET_ENVELOPE_METHOD",
    "UPLOAD_METHOD",
    "ApiError",
    "Call",
    "Change",
    "Event",
    "EventKind",
    "File",
    "Held",
    "Hold",
    "Message",
    "Recorder",
    "ResponseType",
    "Via",
    "short",
]

Via = Literal["api", "response_url"]
ResponseType = Literal["in_channel", "ephemeral"]
EventKind = Literal["posted", "updated", "ephemeral", "deleted", "file_shared"]

#: Pseudo-methods under which non-API traffic is recorded in the call log.
RESPONSE_URL_METHOD = "response_url"
UPLOAD_METHOD = "upload"
SOCKET_ENVELOPE_METHOD = "socket_envelope"
SOCKET_ACK_METHOD = "socket_ack"

BOT_ID = "B0ADOPS"
APP_ID = "A0ADOPS"


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


#: A state change made under the lock, waiting for its ``seq`` (see ``Workspace.stamp``).
Change = tuple[EventKind, Message]

#: Appends one entry to the call log; called with the workspace lock held.
Recorder = Callable[[str, dict[str, Any], "str | None"], None]


class ApiError(Exception):
    """An API call answered ``{"ok": false, "error": ...}``; raised and caught inside the server."""

    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Held:
    """A Web API call whose answer :meth:`LocalSlack.hold_next` held back, already applied."""

    method: str
    params: dict[str, Any]
    port: int  # the listener it came in on: which client (see ``listen_also``) is waiting
    ok: bool
    at: float  # time.time() when the hold began
    seconds: float


@dataclass
class Hold:
    """A hold :meth:`LocalSlack.hold_next` arranged: which calls, for how long, how many more."""

    method: str
    seconds: float
    when: Callable[[dict[str, Any]], bool] | None
    remaining: int

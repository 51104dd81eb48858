"""The state every part of LocalSlack shares: one lock, the call log, the channels' messages,
the files, the workspace's users and the channels the bot may not post in.

The Web API, the response_url endpoint, the file uploads and Socket Mode each mutate it while
holding :attr:`Workspace.lock`; methods marked "under the lock" expect the caller to hold it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from devkit.slack.model import ApiError, Call, Change, Event, File, Message, short

__all__ = ["CALL_LOG_SIZE", "Workspace", "dm_of"]

#: Kept per instance; old calls fall off so a long console session stays bounded.
CALL_LOG_SIZE = 5_000


def dm_of(user: str) -> str:
    """The app's DM channel with ``user``, as ``conversations.open`` reports it."""
    return f"D{user[1:]}"


class Workspace:
    """One Slack workspace as the bot sees it; see the module docstring."""

    def __init__(self, *, team_id: str, bot_user_id: str) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.lock = threading.Lock()
        # counters survive clear(): a ts or file id handed out before must never come back
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._last_us = 0
        self.clear()

    def clear(self) -> None:
        """Forget everything recorded (under the lock)."""
        self.calls: deque[Call] = deque(maxlen=CALL_LOG_SIZE)
        # channel -> ts -> Message; ts are strictly increasing, so insertion order is ts order
        self.messages: dict[str, dict[str, Message]] = {}
        self.files: dict[str, File] = {}
        self.restricted: dict[str, str] = {}
        self.users: dict[str, dict[str, Any]] = {}

    # -- identifiers (under the lock) -------------------------------------------------------------

    def next_ts(self) -> str:
        # strictly increasing even when the wall clock stalls or steps back
        self._last_us = max(self._last_us + 1, time.time_ns() // 1_000)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def stamp(self, changes: Iterable[Change]) -> list[Event]:
        # under the lock, so seq follows the order in which the state changed
        return [Event(next(self._seq), kind, message) for kind, message in changes]

    # -- messages and channels (under the lock) ---------------------------------------------------

    def record(self, method: str, params: dict[str, Any], error: str | None) -> None:
        self.calls.append(Call(method, params, time.time(), error is None, error))

    def store(self, message: Message) -> None:
        self.messages.setdefault(message.channel, {})[message.ts] = message

    def message(self, channel: str | None, ts: Any) -> Message | None:
        if not channel or not ts:
            return None
        return self.messages.get(channel, {}).get(str(ts))

    def remove(self, message: Message) -> None:
        del self.messages[message.channel][message.ts]

    def channel_for_post(self, channel: Any) -> str:
        """The channel a post to ``channel`` lands in, or the error Slack refuses it with."""
        if not channel or not isinstance(channel, str):
            raise ApiError("channel_not_found")
        # A user id posts to the app's DM with that user, which Slack reports as a D… channel
        # (the same id conversations.open returns here).
        target: str = dm_of(channel) if channel[:1] in ("U", "W") else channel
        if target in self.restricted:
            raise ApiError(self.restricted[target])
        return target

    # -- configuration -----------------------------------------------------------------------------

    def restrict(self, channel: str, error: str) -> None:
        with self.lock:
            self.restricted[channel] = error

    def add_user(self, user_id: str, *, name: str | None, tz: str, is_admin: bool) -> None:
        ZoneInfo(tz)  # fail here, not in a request thread, on a typo
        with self.lock:
            self.users[user_id] = {"name": name or user_id.lower(), "tz": tz, "is_admin": is_admin}

    # -- inspection ----------------------------------------------------------------------------------

    def dump(self, last_calls: int = 20) -> str:
        """The recent calls and every channel's messages, for a failure message to explain itself."""
        with self.lock:
            calls = list(self.calls)[-last_calls:]
            channels = {c: list(ms.values()) for c, ms in self.messages.items()}
        lines = [f"last {len(calls)} calls:"]
        for c in calls:
            outcome = "ok" if c.ok else f"error={c.error}"
            lines.append(f"  {c.method} {outcome} {short(json.dumps(c.params, default=str), 200)}")
        for channel, msgs in channels.items():
            lines.append(f"channel {channel}:")
            for m in msgs:
                where = f" thread={m.thread_ts}" if m.thread_ts else ""
                lines.append(
                    f"  ts={m.ts}{where} {m.response_type} via={m.via} edited={m.edited} "
                    f"files={[f.name for f in m.files]} text={short(m.text, 120)!r} blocks={len(m.blocks)}"
                )
        return "\n".join(lines)

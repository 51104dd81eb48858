"""``response_url``: the webhook Slack sends with a slash command or a button click.

Slack's rules, which the bot must live within and so the fake enforces:

- a URL takes five responses and lives thirty minutes (``used_url``, ``expired_url``);
- a response is ephemeral (seen by the one user) unless it says ``in_channel``;
- ``replace_original``/``delete_original`` act on the clicked message, or for a slash command
  on what the URL posted last; a replacement keeps the original's visibility;
- what a response_url posted cannot be edited with ``chat.update`` (see ``webapi``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from devkit.slack.blockkit import check_content
from devkit.slack.model import RESPONSE_URL_METHOD, ApiError, Change, Event, EventKind, Message, Recorder, ResponseType
from devkit.slack.workspace import Workspace

__all__ = ["RESPONSE_URL_TTL", "RESPONSE_URL_USES", "ResponseUrls", "parse_body", "truthy"]

RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0


@dataclass
class _Grant:
    """What one minted URL may still do, and what it acts on."""

    channel: str
    user: str
    original_ts: str | None
    created: float
    uses: int = 0
    last_ts: str | None = None


def truthy(value: Any) -> bool:
    """Slack's flags arrive as JSON booleans or as ``"true"`` strings, depending on the client."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """The JSON a client POSTs to a response_url, ``blocks``/``attachments`` decoded if they came
    as JSON strings; None when it is not a JSON object (Slack answers ``invalid_payload``)."""
    try:
        params = json.loads(raw or b"{}")
        if not isinstance(params, dict):
            return None
        for name in ("blocks", "attachments"):
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
    except ValueError:
        return None
    return params


class ResponseUrls:
    """Mints response_urls and answers POSTs to them; see the module docstring."""

    def __init__(self, workspace: Workspace, *, record: Recorder, base_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._record = record
        self._base_url = base_url
        self._grants: dict[str, _Grant] = {}

    def reset(self) -> None:
        """Forget every minted URL (under the lock)."""
        self._grants.clear()

    def mint(self, channel: str, user: str, *, message_ts: str | None = None) -> str:
        token = secrets.token_urlsafe(12)
        with self._ws.lock:
            self._grants[token] = _Grant(channel, user, message_ts, time.monotonic())
        return f"{self._base_url()}/actions/{self._ws.team_id}/{token}"

    def expire(self, url: str) -> None:
        token = url.rstrip("/").rsplit("/", 1)[-1]
        with self._ws.lock:
            if token in self._grants:
                self._grants[token].created -= RESPONSE_URL_TTL + 1

    def handle(self, token: str, params: dict[str, Any]) -> tuple[int, str, list[Event]]:
        """Answer a POST to a minted URL: (HTTP status, plain-text body, events to emit)."""
        changes: list[Change] = []
        with self._ws.lock:
            error = self._respond(token, params, changes)
            self._record(RESPONSE_URL_METHOD, params, error)
            events = self._ws.stamp(changes)
        if error is not None:
            status = 404 if error in ("used_url", "expired_url", "no_service") else 400
            return status, error, []
        return 200, "ok", events

    def _respond(self, token: str, params: dict[str, Any], changes: list[Change]) -> str | None:
        grant = self._grants.get(token)
        if grant is None:
            return "no_service"
        if time.monotonic() - grant.created > RESPONSE_URL_TTL:
            return "expired_url"
        if grant.uses >= RESPONSE_URL_USES:
            return "used_url"
        target = self._ws.message(grant.channel, grant.original_ts or grant.last_ts)

        if truthy(params.get("delete_original")):
            grant.uses += 1
            if target is not None:
                self._ws.remove(target)
                changes.append(("deleted", target))
            return None
        try:
            check_content(params)
        except ApiError as e:
            return e.error

        kind: EventKind
        if truthy(params.get("replace_original")) and target is not None:
            # Slack keeps the original's visibility: a replacement cannot turn public into private
            message = replace(
                target,
                text=params.get("text", ""),
                blocks=params.get("blocks", []),
                attachments=params.get("attachments", []),
                edited=target.edited + 1,
            )
            kind = "updated"
        else:
            response_type: ResponseType = "in_channel" if params.get("response_type") == "in_channel" else "ephemeral"
            message = Message(
                channel=grant.channel,
                ts=self._ws.next_ts(),
                text=params.get("text", ""),
                blocks=params.get("blocks", []),
                attachments=params.get("attachments", []),
                thread_ts=params.get("thread_ts"),
                user=grant.user if response_type == "ephemeral" else self._ws.bot_user_id,
                via="response_url",
                response_type=response_type,
            )
            kind = "posted" if response_type == "in_channel" else "ephemeral"
        grant.uses += 1
        grant.last_ts = message.ts
        self._ws.store(message)
        changes.append((kind, message))
        return None

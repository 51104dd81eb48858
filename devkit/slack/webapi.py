"""The Web API methods the bot calls, answered with Slack's response shapes and error codes.

:class:`WebApi` checks the token (the bot token, or the app-level token for
``apps.connections.open``), applies faults injected with ``fail_next``, then runs the method
against the :class:`~devkit.slack.workspace.Workspace`. Requests are decoded the way Slack
reads them: a JSON body or a form, with ``blocks``/``files`` sent as JSON strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devkit.slack.blockkit import check_content
from devkit.slack.files import FileUploads
from devkit.slack.model import BOT_ID, ApiError, Change, Event, Message, Recorder
from devkit.slack.workspace import Workspace, dm_of

__all__ = ["WebApi", "bearer", "decode_params"]

#: Methods that take the app-level (xapp-) token rather than the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_JSON_FIELDS = ("blocks", "attachments", "files", "metadata")

Method = Callable[[dict[str, Any], list[Change]], dict[str, Any]]


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
                raise ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            params.update(body)
        elif mime in ("application/x-www-form-urlencoded", ""):
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            # multipart is only used by the retired files.upload; nothing we serve needs it
            raise ApiError("invalid_form_data")
    for name in _JSON_FIELDS:
        value = params.get(name)
        if isinstance(value, str):
            try:
                params[name] = json.loads(value) if value.strip() else []
            except ValueError:
                raise ApiError(f"invalid_{name}_format" if name == "blocks" else "invalid_arguments") from None
    return params


def bearer(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


@dataclass
class _Failure:
    error: str
    remaining: int
    retry_after: int | None
    status: int
    after: int = 0  # calls let through before the failures start


class WebApi:
    """Answers ``/api/<method>``; see the module docstring.

    ``open_socket`` mints a Socket Mode URL for ``apps.connections.open``; it is called with the
    lock held.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        bot_token: str,
        app_token: str,
        record: Recorder,
        base_url: Callable[[], str],
        files: FileUploads,
        open_socket: Callable[[], str],
    ) -> None:
        self._ws = workspace
        self._bot_token = bot_token
        self._app_token = app_token
        self._record = record
        self._base_url = base_url
        self._open_socket = open_socket
        self._failures: dict[str, _Failure] = {}
        self._methods: dict[str, Method] = {
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "files.getUploadURLExternal": files.get_upload_url,
            "files.completeUploadExternal": files.complete_upload,
        }

    def reset(self) -> None:
        """Forget injected faults (under the lock)."""
        self._failures.clear()

    def fail_next(self, method: str, error: str, *, count: int, retry_after: int | None, status: int,
                  after: int = 0) -> None:
        with self._ws.lock:
            self._failures[method] = _Failure(error, count, retry_after, status, after)

    def handle(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any], list[Event]]:
        """Answer one call: (HTTP status, extra headers, JSON body, events to emit)."""
        params.pop("token", None)
        handler = self._methods.get(method)
        changes: list[Change] = []
        with self._ws.lock:
            try:
                if handler is None:
                    raise ApiError("unknown_method")
                if not token:
                    raise ApiError("not_authed")
                expected = self._app_token if method in _APP_TOKEN_METHODS else self._bot_token
                if token != expected:
                    # Slack tells a valid token of the wrong kind apart from a bad one
                    known = token in (self._bot_token, self._app_token)
                    raise ApiError("not_allowed_token_type" if known else "invalid_auth")
                self._injected_failure(method)
                body = handler(params, changes)
            except ApiError as e:
                self._record(method, params, e.error)
                return e.status, e.headers, {"ok": False, "error": e.error, **e.extra}, []
            self._record(method, params, None)
            events = self._ws.stamp(changes)
        return 200, {}, {"ok": True, **body}, events

    def _injected_failure(self, method: str) -> None:
        failure = self._failures.get(method)
        if failure is None:
            return
        if failure.after > 0:
            failure.after -= 1
            return
        failure.remaining -= 1
        if failure.remaining <= 0:
            del self._failures[method]
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        raise ApiError(failure.error, status=failure.status, headers=headers)

    # -- methods (under the lock) --------------------------------------------------------------

    def _message_json(self, m: Message) -> dict[str, Any]:
        bot = self._ws.bot_user_id
        body: dict[str, Any] = {"type": "message", "user": bot, "bot_id": BOT_ID, "team": self._ws.team_id,
                                "text": m.text, "ts": m.ts}
        if m.blocks:
            body["blocks"] = m.blocks
        if m.attachments:
            body["attachments"] = m.attachments
        if m.thread_ts:
            body["thread_ts"] = m.thread_ts
        if m.edited:
            body["edited"] = {"user": bot, "ts": m.ts}
        return body

    def _auth_test(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        return {
            "url": f"{self._base_url()}/",
            "team": "adops-local",
            "user": "adops",
            "team_id": self._ws.team_id,
            "user_id": self._ws.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        return {"url": self._open_socket()}

    def _new_message(self, channel: str, params: dict[str, Any], **fields: Any) -> Message:
        thread_ts = params.get("thread_ts") or None
        return Message(
            channel=channel,
            ts=self._ws.next_ts(),
            text=params.get("text") or "",
            blocks=params.get("blocks") or [],
            attachments=params.get("attachments") or [],
            thread_ts=str(thread_ts) if thread_ts else None,
            **fields,
        )

    def _chat_post_message(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        channel = self._ws.channel_for_post(params.get("channel"))
        check_content(params)
        message = self._new_message(channel, params, user=self._ws.bot_user_id)
        self._ws.store(message)
        changes.append(("posted", message))
        return {"channel": channel, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            raise ApiError("channel_not_found")
        current = self._ws.message(channel, ts)
        if current is None or current.ephemeral:
            raise ApiError("message_not_found")
        if current.via == "response_url":
            raise ApiError("cant_update_message")
        # chat.update keeps what is not sent: omitting blocks keeps them, [] removes them
        merged = {
            "text": params.get("text", current.text),
            "blocks": params.get("blocks", current.blocks),
            "attachments": params.get("attachments", current.attachments),
        }
        check_content(merged)
        message = replace(current, edited=current.edited + 1, **merged)
        self._ws.store(message)
        changes.append(("updated", message))
        return {"channel": channel, "ts": message.ts, "text": message.text, "message": self._message_json(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        channel = self._ws.channel_for_post(params.get("channel"))
        user = params.get("user")
        if not user:
            raise ApiError("user_not_found")
        check_content(params)
        message = self._new_message(channel, params, user=str(user), response_type="ephemeral")
        self._ws.store(message)
        changes.append(("ephemeral", message))
        return {"message_ts": message.ts}

    def _chat_delete(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        current = self._ws.message(params.get("channel"), params.get("ts"))
        if current is None or current.ephemeral:
            raise ApiError("message_not_found")
        self._ws.remove(current)
        changes.append(("deleted", current))
        return {"channel": current.channel, "ts": current.ts}

    def _chat_get_permalink(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        channel = params.get("channel")
        message = self._ws.message(channel, params.get("message_ts"))
        if message is None or message.ephemeral:
            raise ApiError("message_not_found")
        link = f"{self._base_url()}/archives/{channel}/p{message.ts.replace('.', '')}"
        if message.thread_ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_history(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        """A channel's messages, newest first, after ``oldest``: as Slack, only where the bot is a
        member (a channel the bot may only post to answers ``not_in_channel``)."""
        channel = params.get("channel")
        if not isinstance(channel, str) or channel[:1] not in ("C", "G", "D"):
            raise ApiError("channel_not_found")
        if channel in self._ws.restricted:
            raise ApiError("not_in_channel")
        oldest = float(params.get("oldest") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 999))
        found = [m for m in self._ws.messages.get(channel, {}).values() if not m.ephemeral and float(m.ts) > oldest]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return {"messages": [self._message_json(m) for m in found[:limit]], "has_more": len(found) > limit}

    def _conversations_info(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel[:1] not in ("C", "G", "D"):
            raise ApiError("channel_not_found")
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
                "is_member": channel not in self._ws.restricted,
                "created": 1_700_000_000,
                "context_team_id": self._ws.team_id,
            }
        }

    def _conversations_open(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}, "no_op": True, "already_open": True}
        users = str(params.get("users") or "")
        if not users:
            raise ApiError("users_list_not_supplied")
        first = users.split(",")[0].strip()
        if first[:1] not in ("U", "W"):
            raise ApiError("user_not_found")
        return {"channel": {"id": dm_of(first)}, "no_op": True, "already_open": True}

    def _users_info(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        user = params.get("user")
        if not isinstance(user, str) or user[:1] not in ("U", "W"):
            raise ApiError("user_not_found")
        known = self._ws.users.get(user, {})
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
                "team_id": self._ws.team_id,
                "name": name,
                "real_name": name,
                "deleted": False,
                "is_bot": user == self._ws.bot_user_id,
                "is_admin": known.get("is_admin", False),
                "tz": tz,
                "tz_label": tz,
                "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
                "profile": {"real_name": name, "display_name": name},
            }
        }

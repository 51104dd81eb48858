"""Slack egress: the only place workers talk to Slack, and the one that maps Slack's errors.

Three outcomes matter to a step: it worked; Slack asks us to come back later (429, a blip), in
which case the step re-enqueues itself with that delay instead of sleeping in a worker thread;
or the target cannot take the message (not a member of a private channel, a DM, a spent
``response_url``, a progress message someone deleted or Slack no longer lets us edit), in which
case the caller falls back to another route.

How long one call can take at worst (:data:`WORST_CALL_SECONDS`: every try timing out, plus the
SDK's pauses between tries) is stated here, because the per-job message lock must outlive it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from workers.errors import CannotPost, SlackError, SlackRetryLater
from workers.metrics import slack_call
from workers.settings import Settings

__all__ = ["SlackEgress"]

log = logging.getLogger(__name__)

#: Errors meaning "this route can't carry the message": take another one.
UNPOSTABLE = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot", "user_not_found"}
)
#: And, for an edit, "this message can't be edited any more": deleted, too old, or (Slack's
#: answer for some edits of old messages) blocks it no longer accepts there. A new post can.
UNEDITABLE = UNPOSTABLE | {"message_not_found", "cant_update_message", "edit_window_closed", "invalid_blocks"}
#: Answers meaning nothing was done and retrying soon may work.
LATER = frozenset({"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"})

#: Seconds one HTTP try may take, and how many more tries the SDK makes on a dropped connection
#: or a 5xx (the two retry handlers share one count).
CALL_TIMEOUT = 15
CALL_RETRIES = 2
#: The longest one Web API call can take: every try timing out, plus the SDK's backoff between
#: tries (0.5 s doubling, with up to 1 s of jitter each).
WORST_CALL_SECONDS = CALL_TIMEOUT * (CALL_RETRIES + 1) + 5
#: Bytes read from disk at a time while a file is uploaded.
UPLOAD_CHUNK = 1 << 16


class SlackEgress:
    def __init__(self, settings: Settings, client: WebClient | None = None) -> None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        self.client = client or WebClient(
            token=token,
            base_url=str(settings.slack_api_url),
            timeout=CALL_TIMEOUT,
            # Short, bounded retries for connection drops and 5xx; 429 is handled by re-enqueueing
            # the step with Slack's Retry-After, so no worker thread sleeps through a rate limit.
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=CALL_RETRIES),
                ServerErrorRetryHandler(max_retry_count=CALL_RETRIES),
            ],
        )

    # -- Web API ----------------------------------------------------------------------------
    def post(self, channel: str, text: str, blocks: Sequence[dict[str, Any]], thread_ts: str | None = None) -> str:
        response = self._call(
            "chat_postMessage", channel=channel, text=text, blocks=list(blocks), thread_ts=thread_ts, unfurl_links=False
        )
        return str(response["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        """Edit a message; CannotPost when it is gone or can no longer be edited."""
        self._call("chat_update", cannot=UNEDITABLE, channel=channel, ts=ts, text=text, blocks=list(blocks))

    def delete(self, channel: str, ts: str) -> None:
        """Delete one of the bot's own messages (an obsolete progress message)."""
        self._call("chat_delete", cannot=UNEDITABLE, channel=channel, ts=ts)

    def find(self, channel: str, needle: str, *, oldest: float, exclude: str = "") -> str | None:
        """The ts of the bot's newest message in ``channel`` since ``oldest`` that shows ``needle``
        (a job id), or None: none there, or the history is not ours to read (a channel the bot
        only posts to, a missing ``*:history`` scope), in which case nobody can tell."""
        try:
            response = self._call("conversations_history", channel=channel, oldest=f"{oldest:.6f}", limit=100)
        except SlackError as exc:
            if isinstance(exc, SlackRetryLater):
                raise
            log.info("cannot look for %s in %s: %s", needle, channel, exc.error)
            return None
        for message in response.get("messages") or []:
            ts = str(message.get("ts", ""))
            if ts != exclude and message.get("bot_id") and needle in json.dumps(message.get("blocks") or []):
                return ts
        return None

    def ephemeral(self, channel: str, user: str, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        """A message in ``channel`` only ``user`` sees (chat.postEphemeral); CannotPost when the
        bot or the person is not there."""
        self._call("chat_postEphemeral", cannot=UNPOSTABLE | {"user_not_in_channel"}, channel=channel, user=user,
                   text=text, blocks=list(blocks))

    def dm(self, user_id: str, text: str, blocks: Sequence[dict[str, Any]]) -> tuple[str, str]:
        """A message in the app's DM with ``user_id`` (needs only chat:write): its channel and ts,
        so that it can be edited later."""
        response = self._call("chat_postMessage", channel=user_id, text=text, blocks=list(blocks), unfurl_links=False)
        return str(response["channel"]), str(response["ts"])

    # -- files ------------------------------------------------------------------------------
    def upload_file(self, path: Path, name: str, *, channel: str, thread_ts: str | None = None, title: str = "",
                    sent: str = "", on_sent: Callable[[str], None] | None = None) -> str:
        """Share the file at ``path`` as ``name`` in ``channel`` (in the thread of ``thread_ts``)
        with Slack's three-call upload; its file id.

        ``on_sent(file_id)`` is told once the bytes are at Slack, so that a try which dies before
        completing can be resumed: given that id as ``sent``, only the completion is sent again.
        Slack answers ``file_not_found`` to completing a file twice, so a resumed completion that
        gets it takes the file as shared by the earlier try (an upload Slack discarded meanwhile
        would read the same; a resume comes within seconds, far inside Slack's keeping time).

        Not ``files_upload_v2``: slack_sdk reads the whole file into memory to POST it, and a
        built file may be hundreds of MB; here the bytes are streamed from disk.
        """
        file_id = sent
        if not file_id:
            size = path.stat().st_size
            response = self._call("files_getUploadURLExternal", filename=name, length=size)
            file_id = str(response["file_id"])
            self._send_bytes(str(response["upload_url"]), path, size)
            if on_sent is not None:
                on_sent(file_id)
        try:
            self._call("files_completeUploadExternal", files=[{"id": file_id, "title": title or name}],
                       channel_id=channel, thread_ts=thread_ts)
        except SlackError as exc:
            if sent and exc.error == "file_not_found":
                log.info("file %s was shared by an earlier try", file_id)
                return file_id
            raise
        return file_id

    def _send_bytes(self, upload_url: str, path: Path, size: int) -> None:
        """POST the file to its upload URL, read from disk a chunk at a time."""

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as f:
                while chunk := f.read(UPLOAD_CHUNK):
                    yield chunk

        # The timeout is per read/write of a chunk, not for the whole file.
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            with httpx.Client(timeout=CALL_TIMEOUT) as http:
                response = http.post(upload_url, content=chunks(), headers=headers)
        except httpx.HTTPError as exc:
            raise SlackRetryLater(5.0, type(exc).__name__) from None
        _raise_if_later(response.status_code, response.headers)
        if response.status_code != 200:
            log.error("slack upload failed: HTTP %s", response.status_code)
            raise SlackError(f"upload_http_{response.status_code}")

    def _call(self, method: str, *, cannot: frozenset[str] = UNPOSTABLE, **kwargs: Any) -> Any:
        """One Web API call, counted by method and outcome (the one place every call passes)."""
        api = method.replace("_", ".", 1)  # the SDK's chat_postMessage is Slack's chat.postMessage
        try:
            answer = self._call_once(method, cannot=cannot, **kwargs)
        except SlackError as exc:
            slack_call(api, _outcome(exc))
            raise
        slack_call(api, "ok")
        return answer

    def _call_once(self, method: str, *, cannot: frozenset[str] = UNPOSTABLE, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**{k: v for k, v in kwargs.items() if v is not None})
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error", "unknown_error")) if response is not None else "unknown_error"
            if response is not None and response.status_code == 429:
                raise SlackRetryLater(_retry_after(response.headers), error) from None
            if error in cannot:
                raise CannotPost(error) from None
            if error in LATER:
                raise SlackRetryLater(5.0, error) from None
            log.error("slack %s failed: %s", method, error)
            raise SlackError(error) from None
        except SlackClientError as exc:
            raise SlackRetryLater(5.0, type(exc).__name__) from None
        except OSError as exc:  # connection refused/reset after the SDK's own retries
            raise SlackRetryLater(5.0, type(exc).__name__) from None

    # -- response_url -----------------------------------------------------------------------
    def respond(self, response_url: str, text: str, blocks: Sequence[dict[str, Any]], *,
                replace_original: bool = False, in_channel: bool = True) -> None:
        """:meth:`_respond`, counted as method ``response_url``."""
        try:
            self._respond(response_url, text, blocks, replace_original=replace_original, in_channel=in_channel)
        except SlackError as exc:
            slack_call("response_url", _outcome(exc))
            raise
        slack_call("response_url", "ok")

    def _respond(
        self,
        response_url: str,
        text: str,
        blocks: Sequence[dict[str, Any]],
        *,
        replace_original: bool = False,
        in_channel: bool = True,
    ) -> None:
        """Post through a command's response_url (5 uses in 30 minutes; cannot be edited later)."""
        try:
            response = WebhookClient(response_url, timeout=CALL_TIMEOUT).send(
                text=text,
                blocks=list(blocks),
                response_type="in_channel" if in_channel else "ephemeral",
                replace_original=replace_original,
            )
        except OSError as exc:
            raise SlackRetryLater(5.0, type(exc).__name__) from None
        _raise_if_later(response.status_code, response.headers)
        if response.status_code != 200:
            raise CannotPost((response.body or f"http_{response.status_code}").strip())


def _outcome(exc: SlackError) -> str:
    # Bounded, so a series per outcome: Slack's error names are many and change.
    if isinstance(exc, SlackRetryLater):
        return "ratelimited" if exc.error == "ratelimited" else "later"
    return "cannot_post" if isinstance(exc, CannotPost) else "error"


def _raise_if_later(status: int, headers: Any) -> None:
    """A plain HTTP answer from Slack (an upload URL, a response_url) asking us to come back:
    429 with its Retry-After, a 5xx in a few seconds."""
    if status == 429:
        raise SlackRetryLater(_retry_after(headers), "ratelimited")
    if status >= 500:
        raise SlackRetryLater(5.0, f"http_{status}")


def _retry_after(headers: Any) -> float:
    value = None
    if headers:
        for key, raw in dict(headers).items():
            if key.lower() == "retry-after":
                value = raw[0] if isinstance(raw, list) else raw
    try:
        return min(max(float(value), 1.0), 300.0) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0

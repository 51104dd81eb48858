"""The v2 file upload, Slack's three-call flow, and downloads of what was shared.

1. ``files.getUploadURLExternal`` reserves a file id and hands out an upload URL;
2. the client POSTs the bytes to that URL (recorded as the ``upload`` pseudo-method);
3. ``files.completeUploadExternal`` shares the uploaded files in a channel or thread, which
   shows up as a message carrying them.

Completing before the bytes arrived, or twice, answers ``file_not_found`` as Slack does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from devkit.slack.model import UPLOAD_METHOD, ApiError, Change, File, Message, Recorder
from devkit.slack.workspace import Workspace

__all__ = ["FileUploads"]


class FileUploads:
    """The file methods and endpoints over a :class:`Workspace`; see the module docstring."""

    def __init__(self, workspace: Workspace, *, bot_token: str, record: Recorder, base_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._bot_token = bot_token
        self._record = record
        self._base_url = base_url
        self._uploads: dict[str, str] = {}  # upload token -> file id

    def reset(self) -> None:
        """Forget pending uploads (under the lock)."""
        self._uploads.clear()

    # -- API methods (under the lock) ----------------------------------------------------------

    def get_upload_url(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None
        if not filename or length < 0:
            raise ApiError("invalid_arguments")
        file_id = self._ws.next_id("F")
        token = secrets.token_urlsafe(12)
        self._ws.files[file_id] = File(id=file_id, name=str(filename), title=str(filename), size=0, content=b"")
        self._uploads[token] = file_id
        return {"upload_url": f"{self._base_url()}/upload/v1/{token}", "file_id": file_id}

    def complete_upload(self, params: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
        items = params.get("files")
        if not isinstance(items, list) or not items:
            raise ApiError("invalid_arguments")
        channel = params.get("channel_id") or (str(params.get("channels") or "").split(",")[0] or None)
        if channel is not None:
            channel = self._ws.channel_for_post(channel)
        thread_ts = params.get("thread_ts") or None
        comment = params.get("initial_comment") or None
        done: list[File] = []
        for item in items:
            file_id = item.get("id") if isinstance(item, dict) else None
            f = self._ws.files.get(str(file_id))
            # completing twice, or before the bytes were posted, leaves Slack nothing to share
            if f is None or f.completed or not f.uploaded:
                raise ApiError("file_not_found")
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
            self._ws.files[f.id] = f
        shared_ts: str | None = None
        if channel is not None:
            message = Message(
                channel=channel,
                ts=self._ws.next_ts(),
                text=comment or "",
                thread_ts=thread_ts,
                user=self._ws.bot_user_id,
                files=tuple(done),
            )
            self._ws.store(message)
            changes.append(("file_shared", message))
            shared_ts = message.ts
        return {"files": [self._file_json(f, shared_ts=shared_ts) for f in done]}

    # -- endpoints (take the lock themselves) ------------------------------------------------------

    def upload(self, token: str, data: bytes) -> tuple[int, str]:
        """Take the bytes POSTed to an upload URL: (HTTP status, plain-text body) like Slack."""
        with self._ws.lock:
            file_id = self._uploads.get(token)
            if file_id is None or self._ws.files[file_id].completed:
                self._record(UPLOAD_METHOD, {"size": len(data)}, "file_not_found")
                return 404, "file_not_found"
            self._ws.files[file_id] = replace(self._ws.files[file_id], content=data, size=len(data), uploaded=True)
            self._record(UPLOAD_METHOD, {"file_id": file_id, "size": len(data)}, None)
        return 200, f"OK - {len(data)}"

    def download(self, file_id: str, token: str | None) -> tuple[int, bytes]:
        """Serve ``url_private``: only with the bot token, only once the upload is complete."""
        with self._ws.lock:
            f = self._ws.files.get(file_id)
        if token != self._bot_token:
            return 403, b"invalid_auth"
        if f is None or not f.completed:
            return 404, b"file_not_found"
        return 200, f.content

    def _file_json(self, f: File, *, shared_ts: str | None) -> dict[str, Any]:
        base = self._base_url()
        bot = self._ws.bot_user_id
        url_private = f"{base}/files/{f.id}/{f.name}"
        body: dict[str, Any] = {
            "id": f.id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": f.name,
            "title": f.title,
            "mimetype": "text/csv" if f.name.endswith(".csv") else "application/octet-stream",
            "filetype": f.name.rsplit(".", 1)[-1] if "." in f.name else "binary",
            "user": bot,
            "size": f.size,
            "url_private": url_private,
            "url_private_download": url_private,
            "permalink": f"{base}/files/{bot}/{f.id}/{f.name}",
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

"""The loopback Slack's HTTP serving and routing: Web API methods, the v2 upload, response_urls,
file downloads."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from devkit.slack.model import ApiError
from devkit.slack.response_url import parse_body
from devkit.slack.webapi import bearer, decode_params

__all__ = ["PooledHTTPServer", "make_handler"]

logger = logging.getLogger("devkit.slack.server")


def make_handler(slack: Any) -> type[BaseHTTPRequestHandler]:
    """The request handler of ``slack`` (a :class:`~devkit.slack.server.LocalSlack`, whose parts it
    routes to; typed loosely because that module builds its servers with this one)."""
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
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away (killed while its answer was held): nobody to answer
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
            if slack._holds:
                slack._hold_answer(method, params, bool(body.get("ok")), self.server.server_address[1])
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


class PooledHTTPServer(ThreadingHTTPServer):
    """One request per connection (slack_sdk closes each), each on a reused thread: a thread
    started per request was a quarter of the fake's CPU, which shares the machine with the bot in the
    benches. Held calls wait on a pool thread, so the pool is large; threads start only as needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(256, thread_name_prefix="localslack-request")

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

"""HTTP mode: a WSGI application served by gunicorn (threads, keep-alive), not Bolt's dev server.

Routes: ``POST /slack/events`` (slash commands and interactivity, signature-checked by Bolt),
``GET /healthz`` (Redis reachable, so a load balancer stops sending commands we cannot queue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App

from bot.app import FormSafeBoltRequest, create_app
from workers.runtime import Runtime

__all__ = ["WebApp", "serve"]

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
MAX_BODY = 1 << 20  # Slack's payloads are a few KB; refuse anything absurd before reading it


class WebApp:
    def __init__(self, rt: Runtime, app: App) -> None:
        self.rt = rt
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path == "/slack/events":
            if method != "POST":
                return _reply(start_response, 405, {"error": "POST only"})
            return self._slack(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            return self._health(start_response)
        return _reply(start_response, 404, {"error": "not found"})

    def _slack(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return _reply(start_response, 413, {"error": "body too large"})
        raw = environ["wsgi.input"].read(length).decode("utf-8", errors="replace") if length else ""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = FormSafeBoltRequest(body=raw, query=environ.get("QUERY_STRING", ""), headers=headers)
        response = self.app.dispatch(request)
        body = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
        out_headers = [(k, v) for k, values in response.headers.items() for v in values if k.lower() != "content-length"]
        out_headers.append(("Content-Length", str(len(body))))
        start_response(f"{response.status} {_REASONS.get(response.status, 'OK')}", out_headers)
        return [body]

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            self.rt.redis.ping()
        except Exception as exc:
            return _reply(start_response, 503, {"ok": False, "redis": type(exc).__name__})
        return _reply(start_response, 200, {"ok": True})


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


def _reply(start_response: StartResponse, status: int, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {_REASONS.get(status, 'OK')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class _Gunicorn(BaseApplication):
    def __init__(self, factory: Callable[[], WebApp], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WebApp:
        # Runs in each worker after the fork: Redis connections and threads are the worker's own.
        return self.factory()


def serve(factory: Callable[[], WebApp], *, host: str, port: int, workers: int = 2, threads: int = 8) -> None:
    _Gunicorn(
        factory,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "keepalive": 75,  # Slack and load balancers reuse connections
            "timeout": 30,
            "graceful_timeout": 10,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "preload_app": False,
        },
    ).run()


def build(rt: Runtime) -> WebApp:
    return WebApp(rt, create_app(rt))

"""HTTP mode: Bolt's own WSGI adapter, served by gunicorn (threads, keep-alive).

Routes: ``POST /slack/events`` (slash commands and interactivity, signature-checked by Bolt),
``GET /healthz`` (Redis reachable, so a load balancer stops sending commands we cannot queue; and
what else it checked: the queue, the clock's and workers' heartbeats) and
``GET /files/<token>`` (a file the bot built, behind a signed link: :mod:`bot.downloads`).
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.response import BoltResponse

from bot import downloads
from bot.app import FormSafeBoltRequest, create_app
from workers import metrics, status
from workers.actors import QUEUES
from workers.links import ROUTE as FILES_ROUTE
from workers.logs import guard
from workers.runtime import Runtime
from workers.vendors.spec import Catalogue

__all__ = ["WebApp", "build", "serve"]

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Slack's payloads are a few KB; refuse anything absurd before reading it


class WebApp(SlackRequestHandler):
    """Bolt's WSGI handler, with ``/healthz``, a body cap and forms read by the form rules."""

    def __init__(self, rt: Runtime, app: App) -> None:
        super().__init__(app, path="/slack/events")
        self.rt = rt

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        metrics.web_request(str(environ.get("PATH_INFO", "")))
        # Files are streamed: Bolt's WSGI response holds a whole body, so they bypass it.
        if str(environ.get("PATH_INFO", "")).startswith(FILES_ROUTE):
            return downloads.serve(self.rt.settings, environ, start_response)
        # A fresh log context per request: gunicorn's threads serve many, and a job one request
        # recorded must not be named on the next request's lines (workers.logcontext).
        return contextvars.Context().run(super().__call__, environ, start_response)  # type: ignore[arg-type]

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        return self.app.dispatch(
            FormSafeBoltRequest(body=request.get_body(), query=request.query_string, headers=request.get_headers())
        )

    def _get_http_response(self, request: WsgiHttpRequest) -> WsgiHttpResponse:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return self._health()
        if request.path == "/metrics" and request.method == "GET":
            return self._metrics(request)
        if request.path == self.path and request.method == "POST":
            try:
                length = int(request.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                return _json(413, {"error": "body too large"})
        return super()._get_http_response(request)

    def _health(self) -> WsgiHttpResponse:
        # What was checked, as JSON (workers.status): 503 only when Redis does not answer.
        code, payload = status.health(self.rt.redis, self.rt.store.prefix, QUEUES,
                                      stale_after=self.rt.settings.adops_clock_stale,
                                      broker=isinstance(self.rt.broker, RedisBroker))
        return _json(code, {"ok": code == 200, **payload})

    def _metrics(self, request: WsgiHttpRequest) -> WsgiHttpResponse:
        token = self.rt.settings.adops_metrics_token
        if token is not None:
            given = str(request.environ.get("HTTP_AUTHORIZATION", "")).encode()
            # Constant time: a byte-by-byte compare would tell a prober how much of a guess was right.
            if not hmac.compare_digest(given, b"Bearer " + token.get_secret_value().encode()):
                return WsgiHttpResponse(status=401, body=json.dumps({"error": "a bearer token is required"}),
                                        headers={"content-type": ["application/json"], "www-authenticate": ["Bearer"]})
        body = metrics.exposition(self.rt.redis, self.rt.broker, self.rt.store.prefix)
        return WsgiHttpResponse(status=200, headers={"content-type": [metrics.CONTENT_TYPE_LATEST]}, body=body.decode())


def _json(status: int, payload: dict[str, Any]) -> WsgiHttpResponse:
    return WsgiHttpResponse(status=status, headers={"content-type": ["application/json"]}, body=json.dumps(payload))


def build(rt: Runtime, vendors: Catalogue) -> WebApp:
    return WebApp(rt, create_app(rt, vendors))


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
        # gunicorn logs through its own handlers (a request's traceback among them): mask there too.
        guard(logging.getLogger("gunicorn.error"))
        guard(logging.getLogger("gunicorn.access"))
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
            # A dead worker's live gauges leave the shared metrics directory (prometheus_client's docs).
            "child_exit": lambda server, worker: metrics.worker_exited(worker.pid),
        },
    ).run()

"""Socket Mode: the same listeners over a WebSocket, for workspaces without a public URL."""

from __future__ import annotations

import contextvars
import signal
import threading
from collections.abc import Callable

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.response import BoltResponse

from bot.app import create_app
from workers.runtime import Runtime
from workers.vendors.spec import Catalogue


def run(rt: Runtime, vendors: Catalogue) -> None:
    rt.settings.require("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN")
    token = rt.settings.slack_app_token
    assert token is not None
    app = create_app(rt, vendors)
    app.use(_fresh_log_context)
    handler = SocketModeHandler(app, token.get_secret_value())
    # A deploy's SIGTERM closes the WebSocket cleanly (Slack then routes to the new process)
    # instead of dropping it in the middle of an envelope.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler.connect()
    stop.wait()
    handler.close()


def _fresh_log_context(next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002 (Bolt's name)
    """Each envelope in a fresh log context: the socket client's pool threads serve many, and a job
    one envelope recorded must not be named on the next one's lines (``workers.logcontext``)."""
    return contextvars.Context().run(next)

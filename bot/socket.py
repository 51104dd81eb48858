"""Socket Mode: the same listeners over a WebSocket, for workspaces without a public URL."""

from __future__ import annotations

import signal
import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import create_app
from workers.runtime import Runtime
from workers.vendors.spec import Catalogue


def run(rt: Runtime, vendors: Catalogue) -> None:
    rt.settings.require("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN")
    token = rt.settings.slack_app_token
    assert token is not None
    handler = SocketModeHandler(create_app(rt, vendors), token.get_secret_value())
    # A deploy's SIGTERM closes the WebSocket cleanly (Slack then routes to the new process)
    # instead of dropping it in the middle of an envelope.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler.connect()
    stop.wait()
    handler.close()

"""A loopback stand-in for the parts of Slack that adops talks to.

``LocalSlack`` is a small HTTP server that answers the Web API methods the bot calls, the
``response_url`` of slash commands and buttons, and the v2 file-upload flow, with Slack's own
response shapes and error codes. ``slack_sdk.WebClient(base_url=local.api_url)`` and
``slack_sdk.webhook.WebhookClient(url)`` talk to it unchanged, so the code under test is the
production code with only the endpoint swapped.

Two users:

- ``adops console`` (the embedded default) subscribes to it and prints what Slack would show;
- the tests use it as the fake Slack and inspect ``calls``, ``messages()`` and ``files()``.

It also speaks Socket Mode: ``apps.connections.open`` (with the app-level token) hands out a
``ws://`` URL on loopback, where a WebSocket server greets the client with ``hello``;
:meth:`LocalSlack.socket_send` delivers an envelope and :meth:`LocalSlack.socket_ack` waits for
the client's acknowledgement, so ``adops socket`` runs unchanged against it.

It is strict where Slack is strict, because the point of a fake is to fail where production
would: Block Kit limits answer ``invalid_blocks``, a ``response_url`` dies after five uses or
thirty minutes, ephemeral messages cannot be edited, a channel the bot is not in refuses posts.
Faults (429 with ``Retry-After``, any error code) are injected with :meth:`LocalSlack.fail_next`.

Everything lives in memory behind one lock; the call log keeps the last few thousand calls.

Modules: ``blockkit`` (limits, ``block_errors``), ``model`` (the records), ``workspace`` (the
shared state), ``webapi``, ``files``, ``response_url``, ``socket_mode``, ``server``
(``LocalSlack``), and ``signing`` (signing requests as Slack does, for whoever plays Slack
towards the bot).
"""

from devkit.slack.blockkit import block_errors
from devkit.slack.model import (
    RESPONSE_URL_METHOD,
    SOCKET_ACK_METHOD,
    SOCKET_ENVELOPE_METHOD,
    UPLOAD_METHOD,
    Call,
    Event,
    EventKind,
    File,
    Held,
    Message,
    ResponseType,
    Via,
)
from devkit.slack.response_url import RESPONSE_URL_TTL, RESPONSE_URL_USES
from devkit.slack.server import LocalSlack
from devkit.slack.webapi import decode_params
from devkit.slack.workspace import CALL_LOG_SIZE

__all__ = [
    "CALL_LOG_SIZE",
    "RESPONSE_URL_METHOD",
    "RESPONSE_URL_TTL",
    "RESPONSE_URL_USES",
    "SOCKET_ACK_METHOD",
    "SOCKET_ENVELOPE_METHOD",
    "UPLOAD_METHOD",
    "Call",
    "Event",
    "EventKind",
    "File",
    "Held",
    "LocalSlack",
    "Message",
    "ResponseType",
    "Via",
    "block_errors",
    "decode_params",
]

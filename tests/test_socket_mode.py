"""Socket Mode: ``adops socket`` serves the same listeners as HTTP mode.

First the fake's Socket Mode against slack_sdk's own builtin client (the one Bolt's
``SocketModeHandler`` uses), then the real ``adops socket`` process and a Dramatiq worker on a
private Redis, with envelopes sent by the fake Slack on loopback.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import BOT_TOKEN, Stack, _stop_all, wait_until
from tests.test_flow import job_messages, outcome_text

pytestmark = pytest.mark.heavy(35)  # seconds, about: real processes per test

#: LocalSlack's default app-level token; conftest's session ``fake_slack`` keeps the default.
APP_TOKEN = "xapp-local"
CHANNEL = "CGENERAL"
JOB_ID = re.compile(r"J[0-9A-Z]{8}")
#: Slack shows the user an error if an envelope is not acked within this long.
ACK_DEADLINE = 3.0


# --------------------------------------------------------------------------------------------
# The fake against slack_sdk's builtin Socket Mode client, in process


class Recorder:
    """A Socket Mode app reduced to what the fake must get right: it keeps every message it
    is given, in order, and acks each envelope with the length of its payload's text."""

    def __init__(self) -> None:
        self.types: list[str | None] = []

    def on_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        self.types.append(message.get("type"))

    def on_request(self, client: Any, req: SocketModeRequest) -> None:
        client.send_socket_mode_response(SocketModeResponse(req.envelope_id, {"n": len(req.payload.get("text", ""))}))


@pytest.fixture()
def local() -> Iterator[LocalSlack]:
    with LocalSlack(bot_token=BOT_TOKEN, app_token="xapp-1-A0ADOPS-test") as slack:
        yield slack


def sdk_client(local: LocalSlack, recorder: Recorder, **kw: Any) -> SocketModeClient:
    client = SocketModeClient(app_token="xapp-1-A0ADOPS-test", web_client=WebClient(base_url=local.api_url), **kw)
    client.message_listeners.append(recorder.on_message)
    client.socket_mode_request_listeners.append(recorder.on_request)
    return client


def test_app_token_methods_take_only_the_app_token(local: LocalSlack) -> None:
    web = WebClient(base_url=local.api_url)
    with pytest.raises(SlackApiError) as info:
        web.apps_connections_open(app_token=BOT_TOKEN)
    assert info.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as info:
        web.apps_connections_open(app_token="xapp-1-someone-else")
    assert info.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as info:
        WebClient(token="xapp-1-A0ADOPS-test", base_url=local.api_url).chat_postMessage(channel="C1", text="hi")
    assert info.value.response["error"] == "not_allowed_token_type"

    url = web.apps_connections_open(app_token="xapp-1-A0ADOPS-test")["url"]
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/link/\?ticket=[\w-]+&app_id=A0ADOPS", url), url
    # Not a WebSocket handshake, and a ticket nobody was given: both refused before any upgrade.
    assert httpx.get("http" + url[2:]).status_code == 426
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    forged = "http" + url[2:].replace("ticket=", "ticket=not-", 1)
    assert httpx.get(forged, headers=upgrade).status_code == 401
    # The refused plain GET did not spend the ticket: the URL still connects, once.
    with connect(url) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    with pytest.raises(InvalidStatus) as refused:
        connect(url).close()
    assert refused.value.response.status_code == 401


def test_builtin_client_connects_acks_keeps_alive_and_follows_a_refresh(local: LocalSlack) -> None:
    recorder = Recorder()
    client = sdk_client(local, recorder)
    try:
        client.connect()
        assert local.socket_connected(5)
        wait_until(lambda: recorder.types, timeout=5, what="the hello message")
        assert recorder.types[0] == "hello"

        eid = local.socket_send("slash_commands", {"text": "x" * 70_000})  # a 64-bit length frame
        assert local.socket_ack(eid, timeout=5) == {"envelope_id": eid, "payload": {"n": 70_000}}
        # The client pings on connect and drops a connection whose pongs stop; ours are answered.
        session = client.current_session
        wait_until(lambda: session is not None and session.last_ping_pong_time, timeout=5, what="a pong")

        before = local.socket_connections()
        local.socket_disconnect()
        wait_until(lambda: len(local.calls_of("apps.connections.open")) == 2, timeout=10, what="a new URL")
        wait_until(lambda: len(local.socket_connections()) == 1 and local.socket_connections() != before,
                   timeout=10, what="the old connection to be replaced by the new one")
        eid = local.socket_send("slash_commands", {"text": "again"})
        assert local.socket_ack(eid, timeout=5)["payload"] == {"n": 5}
    finally:
        client.close()
    wait_until(lambda: not local.socket_connections(), timeout=5, what="the closed client to be gone")


def test_stop_closes_the_connections(local: LocalSlack) -> None:
    client = sdk_client(local, Recorder(), auto_reconnect_enabled=False)
    try:
        client.connect()
        assert local.socket_connected(5)
        local.stop()
        assert local.socket_connections() == []
        wait_until(lambda: not client.is_connected(), timeout=5, what="the client to see the close")
    finally:
        client.close()
    with pytest.raises(RuntimeError):
        local.socket_send("events_api", {})


# --------------------------------------------------------------------------------------------
# `adops socket` and a worker, as deployed


@pytest.fixture()
def socket_stack(make_process_stack: Callable[..., Stack], slack: LocalSlack) -> Iterator[Stack]:
    # The fake Slack outlives each test; a client left over would take this test's envelopes.
    wait_until(lambda: not slack.socket_connections(), timeout=10, what="no Socket Mode client from an earlier test")
    stack = make_process_stack(start=False, SLACK_APP_TOKEN=APP_TOKEN)
    # Socket Mode requests are not signed: the process must run without a signing secret.
    del stack.env["SLACK_SIGNING_SECRET"]
    proc = stack._spawn("socket", "socket")
    try:
        stack.start_worker(threads=2)
        if not slack.socket_connected(30):
            raise AssertionError(f"`adops socket` never connected\n{slack.dump()}\n{stack.logs()}")
        yield stack
    finally:
        _stop_all([proc, *stack.workers])  # together: each takes a second or two to stop
        wait_until(lambda: not slack.socket_connections(), timeout=10, what="the socket process's connection to close")


def send_command(slack: LocalSlack, text: str, *, user: str = "UALICE", channel: str = CHANNEL) -> str:
    """A slash command envelope, its payload the form fields Slack sends over HTTP."""
    return slack.socket_send(
        "slash_commands",
        {
            "token": "legacy", "team_id": "T0LOCAL", "team_domain": "test", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/adops",
            "text": text, "api_app_id": "A0ADOPS", "is_enterprise_install": "false",
            "response_url": slack.response_url(channel, user), "trigger_id": "1.2.3",
        },
    )


def acked(slack: LocalSlack, stack: Stack, envelope_id: str) -> dict[str, Any]:
    """The ack, which must come within Slack's deadline; on failure the processes' logs say why."""
    started = time.monotonic()
    try:
        ack = slack.socket_ack(envelope_id, timeout=10)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None
    assert time.monotonic() - started < ACK_DEADLINE
    assert ack["envelope_id"] == envelope_id
    return ack


def queued_job(ack: dict[str, Any]) -> str:
    payload = ack.get("payload") or {}
    assert payload.get("response_type") == "ephemeral", ack
    match = JOB_ID.search(payload.get("text", ""))
    assert match and "Queued as job" in payload["text"], ack
    return match.group(0)


def test_export_is_acked_queued_and_delivered(socket_stack: Stack, slack: LocalSlack, vendor: Sandbox) -> None:
    job_id = queued_job(acked(slack, socket_stack, send_command(slack, "export instal yesterday")))

    socket_stack.wait_job(job_id, ("delivered",))
    message = slack.wait_for(
        lambda: next((m for m in job_messages(slack, job_id) if "download the file" in str(m.blocks)), None), timeout=15
    )
    assert len(job_messages(slack, job_id)) == 1, "one message, edited in place"
    assert "/files/instal/" in str(message.blocks) and "<@UALICE>" in str(message.blocks)
    assert vendor.stats().get("instal.create") == 1
    logs = socket_stack.logs()
    assert APP_TOKEN not in logs and BOT_TOKEN not in logs


def test_usage_error_is_acked_with_the_usage_and_queues_nothing(
    socket_stack: Stack, slack: LocalSlack, vendor: Sandbox
) -> None:
    ack = acked(slack, socket_stack, send_command(slack, "export instal 2026-13-01"))
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/adops export instal &lt;range&gt;" in ack["payload"]["text"], ack
    assert not socket_stack.redis.keys("adops:job:*")
    assert socket_stack.redis.llen("dramatiq:adops") == 0
    assert vendor.stats().get("instal.create", 0) == 0


def test_cancel_button_is_acked_and_cancels(socket_stack: Stack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.set_ready_after(30)
    job_id = queued_job(acked(slack, socket_stack, send_command(slack, "export instal yesterday")))
    socket_stack.wait_job(job_id, ("waiting",))
    message = slack.wait_for(lambda: next(iter(job_messages(slack, job_id)), None))
    assert "job_cancel" in json.dumps(message.blocks)

    # Over Socket Mode an interactive payload arrives as JSON, not as a form field.
    payload = {
        "type": "block_actions",
        "team": {"id": "T0LOCAL", "domain": "test"},
        "user": {"id": "UALICE", "username": "ualice", "team_id": "T0LOCAL"},
        "api_app_id": "A0ADOPS",
        "channel": {"id": CHANNEL, "name": "general"},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": CHANNEL},
        "message": {"ts": message.ts, "blocks": message.blocks},
        "response_url": slack.response_url(CHANNEL, "UALICE", message_ts=message.ts),
        "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": "job_cancel", "block_id": "b", "value": job_id,
                     "text": {"type": "plain_text", "text": "Cancel"}, "action_ts": f"{time.time():.6f}"}],
    }
    envelope_id = slack.socket_send("interactive", payload, accepts_response_payload=False)
    assert acked(slack, socket_stack, envelope_id) == {"envelope_id": envelope_id}

    socket_stack.wait_job(job_id, ("cancelled",))
    slack.wait_for(lambda: "was cancelled" in outcome_text(slack, job_id))
    assert len(socket_stack.redis.xrange("adops:audit")) == 1


def test_connection_refresh_keeps_the_bot_reachable(socket_stack: Stack, slack: LocalSlack) -> None:
    # Slack asks each connection to move every few hours; commands after the move still land.
    before = slack.socket_connections()
    slack.socket_disconnect()
    wait_until(lambda: len(slack.socket_connections()) == 1 and slack.socket_connections() != before, timeout=15,
               what=lambda: f"the connection to be replaced (now {slack.socket_connections()})\n{socket_stack.logs()}")
    assert len(slack.calls_of("apps.connections.open")) == 2
    queued_job(acked(slack, socket_stack, send_command(slack, "export instal yesterday")))

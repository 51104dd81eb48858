"""A Redis that accepts connections and never answers: the web process still answers Slack in
time, says nothing was queued, and a click gets a private answer instead of an HTTP 500.

The hung Redis is a real TCP server on loopback. The web side is booted as ``adops web`` boots
it (``boot(..., ingress=True)``), so its Redis client and timeouts are the production ones.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import redis

from bot import web
from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import Requests, deployment_env
from workers.boot import boot, load_settings
from workers.runtime import INGRESS_TIMEOUT, make_redis
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION
from workers.vendors.registry import CATALOGUE

CHANNEL = "CGENERAL"
#: Slack shows "dispatch_failed" after 3 s; we answer within this, whatever Redis does.
ACK_DEADLINE = 2.5


class HungRedis:
    """Accepts every connection, reads nothing, answers nothing, until stopped."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # stopped
            self.held.append(conn)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


class WebOnHungRedis(Requests):
    def __init__(self, hung: HungRedis, slack: LocalSlack, sandbox: Sandbox) -> None:
        settings = load_settings(deployment_env(hung.url, slack.api_url, sandbox))
        self.rt = boot(settings, ingress=True)
        self.redis = self.rt.redis
        self.url = ""
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=web.build(self.rt, CATALOGUE)), base_url="http://adops.test", timeout=10
        )

    def logs(self) -> str:
        return ""


@pytest.fixture()
def hung() -> Iterator[HungRedis]:
    server = HungRedis()
    yield server
    server.stop()


@pytest.fixture()
def web_app(hung: HungRedis, slack: LocalSlack, vendor: Sandbox) -> Iterator[WebOnHungRedis]:
    app = WebOnHungRedis(hung, slack, vendor)
    yield app
    app.http.close()
    app.rt.broker.close()


def _within_deadline(call: object) -> httpx.Response:
    """Run a request as Slack would wait for it: an answer after the deadline is no answer."""
    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)  # type: ignore[operator]
    thread.start()
    thread.join(ACK_DEADLINE)
    assert not thread.is_alive(), f"no answer within {ACK_DEADLINE} s"
    assert result, "the request raised instead of answering"
    return result[0]


def test_a_command_is_answered_in_time_with_nothing_queued(web_app: WebOnHungRedis) -> None:
    response = _within_deadline(lambda: web_app.command("export instal yesterday"))
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "nothing was queued" in body["text"] and "try again" in body["text"].lower()
    # The same on the second request, on a connection that was already stuck once.
    assert "nothing was queued" in _within_deadline(lambda: web_app.command("fraud yesterday")).json()["text"]


def test_a_click_gets_a_private_answer_not_a_500(web_app: WebOnHungRedis, slack: LocalSlack) -> None:
    url = slack.response_url(CHANNEL, "UALICE")
    value = json.dumps({"i": DEFAULT_INTEGRATION, "p": 1})
    response = _within_deadline(lambda: web_app.click("fg_page_next", value, response_url=url))
    assert response.status_code == 200
    answer = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if m.ephemeral and "changed nothing" in m.text), None)
    )
    assert answer.user == "UALICE" and "try again" in answer.text.lower()


def test_healthz_says_503_in_time(web_app: WebOnHungRedis) -> None:
    assert _within_deadline(lambda: web_app.http.get("/healthz")).status_code == 503


def test_only_the_processes_that_answer_slack_give_up_quickly(hung: HungRedis, slack: LocalSlack, vendor: Sandbox) -> None:
    settings = load_settings(deployment_env(hung.url, slack.api_url, vendor))
    for ingress, most in ((True, INGRESS_TIMEOUT), (False, 30.0)):
        client = make_redis(settings, ingress=ingress)
        kwargs = client.connection_pool.connection_kwargs
        assert 0 < kwargs["socket_timeout"] <= most and 0 < kwargs["socket_connect_timeout"] <= most
        if ingress:
            # No retries: a retried timeout would be a multiple of it.
            assert kwargs["retry"].get_retries() == 0
            with pytest.raises(redis.TimeoutError):
                client.ping()
        client.close()
    assert INGRESS_TIMEOUT * 3 < ACK_DEADLINE, "three timeouts in a row still answer in time"

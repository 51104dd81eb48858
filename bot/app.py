"""The Bolt app: signature checks (Bolt's own), then the listeners, which hand over to the ingress.

One listener for ``/adops``, one for the cancel button and one per button a vendor declares.
Each enqueues before it acks (``process_before_response``), so "queued" is only ever shown for a
job that is durably recorded. A signature seen before is refused (``bot.replay``). Whatever goes
wrong in a listener, Slack gets a 200 and the person a plain private answer, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import redis
from slack_bolt import Ack, App
from slack_bolt.context.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient

from bot.ingress import CLICK_QUEUE_DOWN, QUEUE_DOWN, Ingress, ephemeral
from bot.replay import ReplayGuard
from workers import render
from workers.runtime import Runtime
from workers.vendors.spec import Catalogue

__all__ = ["FormSafeBoltRequest", "create_app"]

log = logging.getLogger(__name__)


def create_app(
    rt: Runtime, vendors: Catalogue, *, client: WebClient | None = None, token_verification: bool = True
) -> App:
    """The Bolt app for HTTP or Socket Mode. ``client`` defaults to the egress client, whose
    ``base_url`` is ``SLACK_API_URL`` (a fake Slack in tests, a local one in the console)."""
    secret = rt.settings.slack_signing_secret
    app = App(
        client=client or rt.slack.client,
        signing_secret=secret.get_secret_value() if secret else None,
        process_before_response=True,
        token_verification_enabled=token_verification,
        request_verification_enabled=True,
        logger=logging.getLogger("adops.bolt"),
    )
    ingress = Ingress(rt, vendors)

    def unavailable(req: BoltRequest) -> BoltResponse:
        # Redis did not answer the replay check: nothing can be recorded, say so in Slack.
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("command"):
            return BoltResponse(status=200, body=ephemeral(QUEUE_DOWN))
        ingress.tell(_response_url(body), CLICK_QUEUE_DOWN)
        return BoltResponse(status=200, body="")

    app.use(ReplayGuard(rt.store, unavailable))

    @app.command("/adops")
    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        try:
            answer = ingress.command(body)
        except redis.RedisError as exc:
            # Redis is down or hung (its calls time out well inside Slack's 3 s, see make_redis).
            log.error("command not queued, Redis did not answer: %s", type(exc).__name__)
            answer = ephemeral(QUEUE_DOWN)
        except Exception as exc:
            # A bug: say so in Slack rather than let Slack show "dispatch_failed"; the log has
            # the details (never the values).
            log.exception("command failed: %s", type(exc).__name__)
            answer = ephemeral("Sorry, something went wrong on our side and nothing was queued. Please try again.")
        ack(**answer)

    def click(handle: Callable[[dict[str, Any]], None], ack: Ack, body: dict[str, Any]) -> None:
        # Bolt turns an exception after ack() into an HTTP 500; a click gets a private answer.
        ack()
        try:
            handle(body)
        except redis.RedisError as exc:
            log.error("click not processed, Redis did not answer: %s", type(exc).__name__)
            ingress.tell(_response_url(body), CLICK_QUEUE_DOWN)
        except Exception as exc:
            log.exception("click failed: %s", type(exc).__name__)
            ingress.tell(_response_url(body), "Sorry, something went wrong on our side with that click. Please try again.")

    @app.action(render.CANCEL_ACTION)
    def on_cancel_click(ack: Ack, body: dict[str, Any]) -> None:
        click(ingress.cancel_click, ack, body)

    def on_task_click(ack: Ack, body: dict[str, Any]) -> None:
        click(ingress.task_click, ack, body)

    for button in vendors.buttons:
        app.action(button.action_id)(on_task_click)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> dict[str, Any] | None:
        # The message names the kind of failure only: exception text may hold values we must
        # not echo (a URL with a token in a misconfigured base URL, say).
        log.exception("listener failed: %s", type(error).__name__)
        return None

    return app


def _response_url(body: dict[str, Any]) -> str:
    url = body.get("response_url")
    return url if isinstance(url, str) else ""


class FormSafeBoltRequest(BoltRequest):
    """A BoltRequest whose form body is parsed by the form rules alone.

    Bolt treats any form body containing the characters ``payload`` as an interactivity payload;
    a slash command whose text (or channel name) contains that word would reach us empty.
    """

    def __init__(self, *, body: str, query: Any = None, headers: Any = None) -> None:
        super().__init__(body=body, query=query, headers=headers)
        if "payload" in body and self.content_type != "application/json" and not body.startswith("{"):
            params = dict(parse_qsl(body, keep_blank_values=True))
            if "payload" not in params:
                self.body = params
                self.context = build_context(BoltContext({}), self.body)

"""Refuse a signed request seen before: Bolt checks the signature, this checks it is the first time.

Slack's signature covers the body and a timestamp, and Bolt accepts a timestamp within 5 minutes
of its clock either way. A request captured on the way (a proxy log, a debugging tool) could so
be sent again in that window and would start a second job. Each signature is remembered (SET NX
with a TTL) for as long as Bolt would accept it; a repeat gets 401 and never reaches a listener.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from slack_bolt.middleware.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from workers.jobs import JobStore

__all__ = ["SIGNATURE_MEMORY", "ReplayGuard"]

log = logging.getLogger(__name__)

#: Bolt accepts a timestamp up to 5 minutes old or 5 minutes ahead: a signature stays usable for
#: up to 10 minutes after we first see it, so we remember it that long.
SIGNATURE_MEMORY = 2 * 5 * 60


class ReplayGuard(Middleware):
    """Global middleware, after Bolt's own RequestVerification (which stays on): only requests
    with a valid signature get here, so nobody can fill Redis with made-up signatures."""

    def __init__(self, store: JobStore, unavailable: Callable[[BoltRequest], BoltResponse]) -> None:
        self.store = store
        #: The answer when Redis does not answer: nothing can be queued then anyway.
        self.unavailable = unavailable

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.mode == "socket_mode":
            return next()  # no signature: Slack's WebSocket is the authentication
        signature = (req.headers.get("x-slack-signature") or [""])[0]
        if not signature:  # Bolt's verification is off (never in production): nothing to remember
            return next()
        try:
            first = self.store.claim(f"sig:{signature}", SIGNATURE_MEMORY)
        except redis.RedisError as exc:
            log.warning("replay check failed, request not processed: %s", type(exc).__name__)
            return self.unavailable(req)
        if not first:
            log.warning("refused a replayed request (a signature seen before)")
            return BoltResponse(status=401, body={"error": "invalid request"})
        return next()

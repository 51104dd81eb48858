"""Signing requests the way Slack signs what it sends to an app (``X-Slack-Signature``).

The signature comes from ``slack_sdk``'s own ``SignatureVerifier``, the code Bolt verifies
with, so a request signed here is accepted exactly when Slack's would be.
"""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

__all__ = ["FORM", "signed_headers"]

FORM = "application/x-www-form-urlencoded"


def signed_headers(secret: str, body: str, *, timestamp: int | None = None, content_type: str = FORM) -> dict[str, str]:
    """Headers for POSTing ``body`` as Slack would: content type, timestamp and signature.

    ``timestamp`` defaults to now; pass an old one to play a replayed request, which the app
    must refuse after five minutes.
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    if signature is None:  # only when timestamp or body is None, which the types rule out
        raise ValueError("slack_sdk produced no signature")
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

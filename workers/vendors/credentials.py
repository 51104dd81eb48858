"""Which request headers carry a vendor key, and scrubbing those values out of vendor text.

A vendor may echo what we sent (a key in an error body, a URL with our token): whatever we read
back from it goes through :func:`redact` with the credentials the request carried
(:func:`secrets_of`) before it reaches a message or a log line.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

import httpx

__all__ = ["SECRET_HEADERS", "is_secret_header", "redact", "secrets_of"]

#: Request headers whose values are credentials, whatever the vendor calls them: these, and any
#: whose name says key, token or secret (``API-KEY``, ``X-Auth-Token``, a vendor's ``X-…-Api-Key``).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_SECRET_WORDS = ("key", "token", "secret")


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS)


def secrets_of(request: httpx.Request | None) -> list[str]:
    """The credential strings a request carried, longest first, to scrub from vendor text."""
    if request is None:
        return []
    found: set[str] = set()
    for name, value in request.headers.items():
        if not is_secret_header(name) or not value:
            continue
        found.add(value)
        scheme, _, credential = value.partition(" ")
        if credential:
            found.add(credential.strip())
            if scheme.lower() == "basic":
                try:
                    user, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    continue
                found.update(part for part in (user, password) if part)
    # Short fragments would shred ordinary words; real keys are long.
    return sorted((s for s in found if len(s) >= 6), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text

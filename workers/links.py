"""Expiring signed links to the files the bot builds, served by the web process at ``/files/<token>``.

A token is itsdangerous's URL-safe timed serialization of ``{"j": job id, "n": file name}``,
signed with ``ADOPS_LINK_SECRET`` (HMAC-SHA1 over a key derived with a salt of our own, so the
secret signs nothing else). It carries the time it was signed; it is valid for
``ADOPS_LINK_TTL`` seconds from then. The web process tells the two ways a token can be wrong
apart: a signature that does not match (tampered, or another secret) is 403, a good one that is
too old is 410.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from workers.settings import Settings

__all__ = ["Expired", "LinkTarget", "Tampered", "configured", "sign", "url", "verify"]

_SALT = "adops.files.v1"
ROUTE = "/files/"


class Tampered(Exception):
    """Not a token we signed (or signed with another secret)."""


class Expired(Exception):
    """A token we signed, older than ``ADOPS_LINK_TTL``."""


@dataclass(frozen=True)
class LinkTarget:
    job_id: str
    name: str


def configured(settings: Settings) -> bool:
    """Links need both a public address for the web process and a secret to sign with."""
    return settings.adops_public_url is not None and settings.adops_link_secret is not None


def _serializer(settings: Settings, clock: Callable[[], float]) -> URLSafeTimedSerializer:
    if settings.adops_link_secret is None:
        raise Tampered("no ADOPS_LINK_SECRET here: no token can be valid")

    class Signer(TimestampSigner):
        # The time a token is signed at, and checked against: the caller's clock (the runtime's).
        def get_timestamp(self) -> int:
            return int(clock())

    return URLSafeTimedSerializer(settings.adops_link_secret.get_secret_value(), salt=_SALT, signer=Signer)


def sign(settings: Settings, job_id: str, name: str, *, now: float | None = None) -> tuple[str, float]:
    """A token naming job ``job_id``'s file ``name``, and when it expires (epoch seconds)."""
    at = int(time.time() if now is None else now)
    token = _serializer(settings, lambda: at).dumps({"j": job_id, "n": name})
    return str(token), float(at + settings.adops_link_ttl)


def url(settings: Settings, token: str) -> str:
    assert settings.adops_public_url is not None
    return str(settings.adops_public_url).rstrip("/") + ROUTE + token


def verify(settings: Settings, token: str, *, now: float | None = None) -> LinkTarget:
    """What ``token`` names; :class:`Tampered` or :class:`Expired` when it may not be served."""
    clock: Callable[[], float] = time.time if now is None else (lambda: now)
    try:
        data: Any = _serializer(settings, clock).loads(token, max_age=settings.adops_link_ttl)
    except SignatureExpired:
        raise Expired(token[:12]) from None
    except BadSignature:
        raise Tampered(token[:12]) from None
    if not isinstance(data, dict) or not isinstance(data.get("j"), str) or not isinstance(data.get("n"), str):
        raise Tampered(token[:12])
    return LinkTarget(data["j"], data["n"])

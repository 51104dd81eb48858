"""The one map from a vendor's HTTP status to our errors (:mod:`workers.errors`).

Adapters never look at ``response.status_code`` themselves: :func:`raise_for_status` turns every
answer that is not a 2xx into one :class:`VendorError` (rejected, key refused, rate limited,
transient, or a protocol surprise), with a message built from the status, our own words and the
vendor's short, redacted reason (:mod:`workers.vendors.reasons`), so nothing we sent can come back
in it. What happens when there is no answer at all is the client's (:mod:`workers.vendors.http`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import httpx

from workers.errors import VendorAuthError, VendorProtocolError, VendorRateLimited, VendorRejected, VendorTransient
from workers.vendors.reasons import error_reason

__all__ = ["RETRY_AFTER_MAX", "parse_retry_after", "raise_for_status"]

log = logging.getLogger(__name__)

RETRY_AFTER_MAX = 3600.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date, clamped to 0..3600.

    None when absent or unreadable; callers then fall back to their own backoff.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 850 and asctime forms carry no zone; HTTP dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _phrase(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def raise_for_status(response: httpx.Response, vendor: str, key_variable: str) -> None:
    """Raise the one :class:`VendorError` that ``response``'s status means; return on 2xx.

    ``key_variable`` names the setting that holds this vendor's key, for the 401 and 403
    messages. The body must have been read.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    reason = error_reason(response)
    said = f": {reason}" if reason else ""

    if status == 401:
        # The person can't change the key: they read that an admin must; the log names the setting.
        noun = "token" if key_variable.upper().endswith("TOKEN") else "API key"
        log.warning("%s answered 401: the key in %s was refused; check it", vendor, key_variable)
        raise VendorAuthError(
            vendor, f"{vendor} refused our {noun}; an admin needs to check it.", status=status,
            key_variable=key_variable,
        )
    if status == 429:
        wait = f" It asked us to wait {retry_after:g} s." if retry_after is not None else ""
        raise VendorRateLimited(
            vendor, f"{vendor} is rate limiting us ({_phrase(status)}).{wait}", status=status, retry_after=retry_after
        )
    if status >= 500 or status in (408, 425):
        raise VendorTransient(
            vendor,
            _sentence(f"{vendor} had a problem on its side ({_phrase(status)}){said}") + " This is usually temporary.",
            status=status,
            retry_after=retry_after,
        )
    if 300 <= status < 400 or status < 200:
        raise VendorProtocolError(
            vendor,
            f"{vendor} answered {_phrase(status)} instead of data; its API address may have moved: check the base URL.",
            status=status,
        )
    if status == 402:
        hint = f"The {vendor} account needs attention (plan or billing); ask whoever owns it."
    elif status == 403:
        log.warning("%s answered 403: the key in %s lacks the rights for this call", vendor, key_variable)
        hint = f"Our {vendor} key lacks the rights for this; an admin needs to check it."
    elif status == 404:
        hint = "It may have expired or never existed; check the id, or run the command again."
    elif status in (400, 422):
        hint = "Check the dates and options, then try again."
    else:
        hint = "Check the command, then try again."
    raise VendorRejected(
        vendor, _sentence(f"{vendor} rejected the request ({_phrase(status)}){said}") + " " + hint,
        status=status, reason=reason,
    )

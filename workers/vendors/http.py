"""HTTP for the vendor adapters: one pooled client per vendor, one place that reads statuses.

Adapters never look at ``response.status_code`` themselves: :func:`raise_for_status` turns every
answer that is not a 2xx into one exception of :mod:`workers.vendors.errors`, and
:class:`VendorHTTP` does the same for timeouts, broken connections and bodies that are not JSON.
Keys travel in headers only; error messages are built from the status, our own words and a
short, redacted reason from the body, so nothing we sent can come back in them.
"""

from __future__ import annotations

import base64
import binascii
import json as jsonlib
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from workers.errors import (
    VendorAuthError,
    VendorError,
    VendorProtocolError,
    VendorRateLimited,
    VendorRejected,
    VendorTransient,
)
from workers.metrics import vendor_hooks

__all__ = [
    "MAX_RESPONSE_BYTES",
    "SECRET_HEADERS",
    "is_secret_header",
    "VendorHTTP",
    "error_reason",
    "parse_retry_after",
    "raise_for_status",
    "redact",
    "short_reason",
]

log = logging.getLogger(__name__)

#: Request headers whose values are credentials, whatever the vendor calls them: these, and any
#: whose name says key, token or secret (``API-KEY``, ``X-Auth-Token``, a vendor's ``X-…-Api-Key``).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_SECRET_WORDS = ("key", "token", "secret")


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS)


RETRY_AFTER_MAX = 3600.0
#: The most of a vendor's answer we hold in memory (decoded); more is a vendor fault or a bomb (streams: ``lines``).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
REASON_MAX = 200
USER_AGENT = "adops/0.1"

#: Body fields vendors put a one-line reason in, most specific first (DRF, JSON:API, Yii, and the shapes later vendors use).
_REASON_KEYS = ("detail", "message", "error_description", "error", "Error", "title", "reason", "msg")
_WHITESPACE = re.compile(r"\s+")


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


def _secrets_of(request: httpx.Request | None) -> list[str]:
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


def _flatten_reason(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        for key in _REASON_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, dict):
                nested = _flatten_reason(value)
                if nested:
                    return nested
        errors = body.get("errors")
        if isinstance(errors, (list, dict)):
            return _flatten_reason(errors)
        # Django REST framework field errors: {"start_date": ["Enter a valid date."], ...}
        parts = []
        for field, value in body.items():
            messages = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            text = " ".join(m for m in messages if isinstance(m, str))
            if text:
                parts.append(text if field in ("non_field_errors", "__all__") else f"{field}: {text}")
        return _join(parts)
    if isinstance(body, list):
        parts = []
        for item in body:
            if isinstance(item, dict) and isinstance(item.get("field"), str) and isinstance(item.get("message"), str):
                parts.append(f"{item['field']}: {item['message']}")  # Yii validation errors
            else:
                text = _flatten_reason(item)
                if text:
                    parts.append(text)
        return _join(parts)
    return None


def _join(parts: list[str]) -> str | None:
    # "a is wrong.; b is wrong." reads badly; the caller ends the sentence.
    return "; ".join(part.strip().rstrip(".") for part in parts) or None


def error_reason(response: httpx.Response, *, limit: int = REASON_MAX) -> str | None:
    """The vendor's own short reason from an error body, one line, truncated and redacted.

    HTML error pages (proxies, load balancers) say nothing useful and are ignored.
    """
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None
    if not content:
        return None
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return None
    try:
        reason: Any = jsonlib.loads(content)
    except ValueError:
        text = content[: limit * 4].decode("utf-8", "replace")
        reason = None if text.lstrip().startswith("<") else text
    return short_reason(reason, limit=limit, secrets=_secrets_of(_request_of(response)))


def short_reason(body: Any, *, limit: int = REASON_MAX, secrets: Iterable[str] = ()) -> str | None:
    """One line of reason from a vendor's error text or JSON (DRF, JSON:API, Yii shapes), truncated."""
    reason = _flatten_reason(body)
    if not reason:
        return None
    reason = redact(_WHITESPACE.sub(" ", reason).strip(), secrets)
    if len(reason) > limit:
        reason = reason[: limit - 1].rstrip() + "…"
    return reason or None


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a Response built by hand has no request
        return None


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


class VendorHTTP:
    """One vendor's HTTP client: pooled connections, shared by all worker threads.

    ``headers`` and ``auth`` carry the key; ``key_variable`` names the setting it came from.
    Redirects are not followed: httpx drops ``Authorization`` on a cross-host redirect but
    would forward a custom key header such as ``API-KEY``.
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        key_variable: str,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
        max_body: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url
        self.key_variable = key_variable
        self.timeout = timeout
        self.max_body = max_body
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            auth=auth,
            timeout=timeout,
            transport=transport, event_hooks=vendor_hooks(vendor),  # every answer counted, with its latency
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VendorHTTP({self.vendor!r}, {self.base_url!r})"
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; return a 2xx response (body read) or raise a VendorError."""
        started = time.monotonic()
        with self._mapped(method, path):
            # Streamed, so a body over ``max_body`` is refused without holding more than that.
            with self._client.stream(method, path, **kwargs) as streamed:
                response = self._read_capped(streamed)
        log.debug("%s %s %s -> %s in %.0f ms", self.vendor, method, path, response.status_code,
                  (time.monotonic() - started) * 1000)
        raise_for_status(response, self.vendor, self.key_variable)
        return response

    @contextmanager
    def lines(self, method: str, path: str, **kwargs: Any) -> Iterator[Iterator[str]]:
        """A 2xx body line by line as it arrives, never whole (a click log of millions of rows);
        errors as :meth:`request`'s, a break mid-body VendorTransient from the iteration."""
        with self._mapped(method, path):
            with self._client.stream(method, path, **kwargs) as streamed:
                if not 200 <= streamed.status_code < 300:
                    raise_for_status(self._read_capped(streamed), self.vendor, self.key_variable)
                yield streamed.iter_lines()

    @contextmanager
    def _mapped(self, method: str, path: str) -> Iterator[None]:
        """httpx's transport errors as our VendorErrors, in one place for every way of asking."""
        try:
            yield
        except httpx.TimeoutException as exc:
            connect = isinstance(exc, httpx.ConnectTimeout)
            message = (f"Could not connect to {self.vendor} within {self.timeout:g} s." if connect
                       else f"{self.vendor} did not answer within {self.timeout:g} s.")
            log.info("%s %s %s: %s", self.vendor, method, path, type(exc).__name__)
            kind = "connect" if connect else "timeout"
            raise VendorTransient(self.vendor, message + " This is usually temporary.", kind=kind) from exc
        except httpx.UnsupportedProtocol as exc:
            message = f"The {self.vendor} base URL is not an http(s) URL; check the configuration."
            raise VendorError(self.vendor, message) from exc
        except httpx.TransportError as exc:
            connect = isinstance(exc, httpx.ConnectError)
            message = f"Could not connect to {self.vendor}." if connect else f"The connection to {self.vendor} broke off."
            log.info("%s %s %s: %s", self.vendor, method, path, type(exc).__name__)
            kind = "connect" if connect else "broken"
            raise VendorTransient(self.vendor, message + " This is usually temporary.", kind=kind) from exc

    def _read_capped(self, streamed: httpx.Response) -> httpx.Response:
        """The streamed answer read into memory, or VendorProtocolError past ``max_body`` bytes."""
        declared = streamed.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise self._too_big(streamed, f"{int(declared):,} bytes announced")
        chunks: list[bytes] = []
        size = 0
        for chunk in streamed.iter_bytes():  # decoded: the cap holds for a compressed body too
            size += len(chunk)
            if size > self.max_body:
                raise self._too_big(streamed, f"more than {self.max_body:,} bytes")
            chunks.append(chunk)
        # The body as read, decoded; the encoding headers described the bytes on the wire.
        headers = [(k, v) for k, v in streamed.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(
            streamed.status_code, headers=headers, content=b"".join(chunks), request=streamed.request,
            extensions=streamed.extensions,
        )

    def _too_big(self, streamed: httpx.Response, what: str) -> VendorProtocolError:
        log.warning("%s answered %s with %s; not read", self.vendor, streamed.status_code, what)
        return VendorProtocolError(
            self.vendor,
            f"{self.vendor} sent an answer too large to read ({what}; we read at most {self.max_body:,}).",
            status=streamed.status_code,
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, and decode the body as JSON or raise VendorProtocolError."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise VendorProtocolError(
                self.vendor,
                f"{self.vendor} sent an answer we could not read (not JSON: {kind}, {len(response.content)} bytes).",
                status=response.status_code,
            ) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VendorHTTP:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""The vendor's own short reason in an error body, one line, truncated and redacted.

Vendors say why in many shapes (Django REST framework's field errors, JSON:API's ``errors``,
Yii's validation lists, a plain ``message``); :func:`short_reason` reads them all into one line a
person can act on. HTML pages (proxies, load balancers) say nothing useful and are ignored.
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Iterable
from typing import Any

import httpx

from workers.vendors.credentials import redact, secrets_of

__all__ = ["REASON_MAX", "error_reason", "short_reason"]

REASON_MAX = 200

#: Body fields vendors put a one-line reason in, most specific first (DRF, JSON:API, Yii, and the shapes later vendors use).
_REASON_KEYS = ("detail", "message", "error_description", "error", "Error", "title", "reason", "msg")
_WHITESPACE = re.compile(r"\s+")


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
    return short_reason(reason, limit=limit, secrets=secrets_of(_request_of(response)))


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

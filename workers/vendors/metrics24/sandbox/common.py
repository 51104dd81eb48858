"""What every 24Metrics handler shares: query parameters, the error and page shapes, the API key.

Handlers raise :class:`Invalid` for any bad input; :func:`guarded` checks the key first and
turns ``Invalid`` into the JSON:API error body (the docs show none; JSON:API's ``errors`` list
is what the ``page[...]``/``filter[...]`` parameters suggest).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any

from devkit.sandbox.base import SANDBOX_TOKEN, Request, Response
from workers.vendors.metrics24.sandbox.data import DATE, DEFAULT_PAGE_SIZE, INTEGRATIONS, PAGE_SIZE_MAX
from workers.vendors.metrics24.sandbox.rows import iso

__all__ = [
    "Handler", "Invalid", "body", "date_param", "error", "guarded", "integration", "now_iso", "numbered", "one",
    "page_size", "storage_error",
]

Handler = Callable[[Request], Response]


class Invalid(Exception):
    """A request 24Metrics would refuse: ``status`` and the ``detail`` of its error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> Response:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return Response.json({"errors": [{"status": str(status), "title": title, "detail": message}]}, status)


def storage_error(status: int, code: str, message: str) -> Response:
    """An error of the storage bucket behind the signed file URLs: XML, not 24Metrics' JSON."""
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response.text(body, status, "application/xml; charset=UTF-8")


def guarded(handler: Handler) -> Handler:
    """``handler`` behind the API key (``API-KEY``, or ``Authorization: Bearer``), with Invalid answered."""

    def guard(request: Request) -> Response:
        key = request.header("API-KEY")
        if not key:
            authorization = request.header("Authorization") or ""
            key = authorization[7:] if authorization.startswith("Bearer ") else None
        if key != SANDBOX_TOKEN:
            return error(401, "No valid API key provided.")
        try:
            return handler(request)
        except Invalid as exc:
            return error(exc.status, exc.message)

    return guard


def one(request: Request, name: str) -> str | None:
    """A query parameter's last value."""
    values = request.query.get(name)
    return values[-1] if values else None


def integration(value: str | None) -> str:
    if not value:
        raise Invalid(400, "integration_id is required")
    if value not in INTEGRATIONS:
        raise Invalid(404, f"integration {value} not found")
    return value


def body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError as exc:
        raise Invalid(400, f"request body is not valid JSON: {exc}") from None


def date_param(request: Request, name: str, *, required: bool = True) -> date | None:
    value = one(request, name)
    if value in (None, ""):
        if required:
            raise Invalid(400, f"{name} is required")
        return None
    if DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(400, f"{name} must be a date formatted YYYY-MM-DD")


def page_size(request: Request, *, required: bool) -> int:
    raw = one(request, "page[size]")
    if raw in (None, ""):
        if required:
            raise Invalid(400, "page[size] is required")
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise Invalid(400, f"page[size] must be between 1 and {PAGE_SIZE_MAX}")
    return int(raw)


def numbered(request: Request, items: list[dict[str, Any]]) -> Response:
    """One ``page[number]`` page of ``items`` with ``meta.total_count``/``total_page``/``links``."""
    size = page_size(request, required=False)
    raw = one(request, "page[number]") or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise Invalid(400, "page[number] must be a positive integer")
    number = int(raw)
    pages = max(1, -(-len(items) // size))
    meta: dict[str, Any] = {"total_count": len(items), "total_page": pages, "links": {}}
    if number < pages:
        meta["links"]["next"] = {"page[number]": number + 1, "page[size]": size}
    if number > 1:
        meta["links"]["prev"] = {"page[number]": number - 1, "page[size]": size}
    return Response.json({"data": items[(number - 1) * size:number * size], "meta": meta})


def now_iso() -> str:
    return iso(datetime.now(UTC))

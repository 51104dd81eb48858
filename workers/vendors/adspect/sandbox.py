"""Adspect's REST API, as documented, on synthetic deterministic data (see ``sandbox_data``).

Yii-shaped like the real one: Basic auth with the key as user name, ``X-Pagination-*`` headers
on ``HEAD /streams``, errors as ``{"name", "message", "status"}`` and field errors as
``[{"field", "message"}]``. Reports answer one JSON array per line, counts as strings. The click
log is generated while it is sent: ``clicks_per_day`` (a class attribute, so a subclass serves a
log of any size) clicks a day, filtered as asked.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devkit.sandbox.base import SANDBOX_TOKEN, Request, Response, Route, VendorApp
from workers.vendors.adspect.sandbox_data import (
    ACCOUNT_ID,
    BASE,
    COUNTRIES,
    GROUP_BY,
    LOG_COLUMNS,
    METRICS,
    MODES,
    STREAMS,
    cells,
    derive,
    log_rows,
)

__all__ = ["AdspectApp"]

_FILTERS = {"stream_id": "stream_id", "country_code": "country_code", "os": "os", "browser": "browser",
            "engine": "engine", "sub_id": "sub_id", "click_id": "click_id", "mode": "mode", "target": "target"}
_COLLECTIONS = {"query-group-by": GROUP_BY, "query-funnel-metrics": METRICS, "query-log-columns": LOG_COLUMNS,
                "countries": COUNTRIES, "stream-modes": MODES, "languages": ("en", "de", "fr", "pt", "ja", "es"),
                "os": ("Android", "iOS", "Windows", "macOS"), "browsers": ("Google Chrome", "Apple Safari", "Microsoft Edge"),
                "engines": ("Blink", "WebKit")}
_CHUNK = 512  # log lines a chunk of the answer


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message


class AdspectApp(VendorApp):
    name = "adspect"
    clicks_per_day = 1_500
    balance = "42.50"
    expires_in = 3 * 86_400 + 3_600

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._modes: dict[str, str] = {}

    def routes(self) -> list[Route]:
        p = self.prefix
        return [
            Route("HEAD", rf"{p}/streams", "streams_meta", self.streams_meta),
            Route("GET", rf"{p}/streams", "streams", self.streams),
            Route("GET", rf"{p}/streams/(?P<id>[^/]+)", "stream", self.stream),
            Route("PATCH", rf"{p}/streams/(?P<id>[^/]+)", "patch", self.patch),
            Route("GET", rf"{p}/reports/funnel", "funnel", self.funnel),
            Route("GET", rf"{p}/reports/log", "log", self.log),
            Route("GET", rf"{p}/account", "account", self.account),
            Route("GET", rf"{p}/collections/(?P<name>[a-z-]+)", "collection", self.collection),
        ]

    def reset(self) -> None:
        with self._lock:
            self._modes.clear()

    def error(self, status: int, message: str) -> Response:
        names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Data Validation Failed."}
        return Response.json({"name": names.get(status, "Error"), "message": message, "code": 0, "status": status},
                             status)

    def _denied(self, request: Request) -> Response | None:
        scheme, _, encoded = (request.header("authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", "x"
        if scheme.lower() != "basic" or user != SANDBOX_TOKEN or password:
            return self.error(401, "Your request was made with invalid credentials.")
        return None

    def _modes_now(self) -> dict[str, str]:
        with self._lock:
            return dict(self._modes)

    def _view(self, s: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in s.items() if k != "n"}
        out["mode"] = self._modes_now().get(s["stream_id"], s["mode"])
        return out

    # -- streams --------------------------------------------------------------------------------

    def _listed(self, request: Request) -> tuple[list[dict[str, Any]], int]:
        needle = (request.query.get("name") or [""])[-1].casefold()
        per_page = int((request.query.get("per-page") or ["20"])[-1])
        if not 1 <= per_page <= 100:
            raise _Bad("per-page", "Per page must be between 1 and 100.")
        return [s for s in STREAMS if needle in s["name"].casefold()], per_page

    def streams_meta(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        found, per_page = self._listed(request)
        return Response(200, b"", {"X-Pagination-Total-Count": str(len(found)),
                                   "X-Pagination-Page-Count": str(max(1, math.ceil(len(found) / per_page))),
                                   "X-Pagination-Per-Page": str(per_page)})

    def streams(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        found, per_page = self._listed(request)
        page = max(1, int((request.query.get("page") or ["1"])[-1]))
        return Response.json([self._view(s) for s in found[(page - 1) * per_page: page * per_page]])

    def _find(self, request: Request) -> dict[str, Any] | None:
        return next((s for s in STREAMS if s["stream_id"] == request.params["id"]), None)

    def stream(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        s = self._find(request)
        return Response.json(self._view(s)) if s else self.error(404, "Stream not found.")

    def patch(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        s = self._find(request)
        if s is None:
            return self.error(404, "Stream not found.")
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "Invalid JSON data in request body.")
        mode = body.get("mode") if isinstance(body, dict) else None
        if mode is not None:
            if mode not in MODES:
                return Response.json([{"field": "mode", "message": "Mode is invalid."}], 422)
            with self._lock:
                self._modes[s["stream_id"]] = mode
        return Response.json(self._view(s))

    # -- reports --------------------------------------------------------------------------------

    def _window(self, request: Request) -> tuple[ZoneInfo, float, float]:
        zone_name = (request.query.get("time_zone") or ["UTC"])[-1]
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Bad("time_zone", "Time zone is invalid.") from None

        def when(name: str, default: float) -> float:
            raw = (request.query.get(name) or [None])[-1]
            if raw is None:
                return default
            if raw.lstrip("-").isdigit():
                return float(raw)
            try:
                return datetime.combine(date.fromisoformat(raw), datetime.min.time(), zone).timestamp()
            except ValueError:
                raise _Bad(name, f"Cannot parse date “{raw}”.") from None

        now = time.time()
        return zone, when("date_from", now - 86_400), when("date_to", now)

    def _filters(self, request: Request) -> dict[str, set[str]]:
        return {field: set(request.query[f"{name}[]"]) for name, field in _FILTERS.items() if f"{name}[]" in request.query}

    def _bad(self, exc: _Bad) -> Response:
        return Response.json([{"field": exc.field, "message": exc.message}], 422)

    def funnel(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        group_by, metrics = request.query.get("group_by[]", []), request.query.get("metrics[]", [])
        try:
            for g in group_by:
                if g not in GROUP_BY:
                    raise _Bad("group_by", f"Unknown breakdown column: {g}.")
            if not metrics:
                raise _Bad("metrics", "Metrics cannot be blank.")
            for m in metrics:
                if m not in METRICS:
                    raise _Bad("metrics", f"Unknown metric: {m}.")
            zone, start, end = self._window(request)
        except _Bad as exc:
            return self._bad(exc)
        wanted = self._filters(request)
        sums: dict[tuple[Any, ...], dict[str, float]] = {}
        first = datetime.fromtimestamp(start, zone).date()
        last = datetime.fromtimestamp(max(start, end - 1), zone).date()
        for dims, base in cells(first, last, self._modes_now()):
            if any(str(dims[f]) not in values for f, values in wanted.items()):
                continue
            key = tuple(dims[g] for g in group_by)
            acc = sums.setdefault(key, dict.fromkeys(BASE, 0.0))
            for k in BASE:
                acc[k] += base[k]
        lines = [json.dumps([*key, *(derive(acc, m) for m in metrics)]) for key, acc in sorted(sums.items())]
        return Response(200, ("\n".join(lines) + "\n").encode() if lines else b"",
                        {"Content-Type": "application/json"})

    def log(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        columns = request.query.get("columns[]", [])
        try:
            if not columns:
                raise _Bad("columns", "Columns cannot be blank.")
            for c in columns:
                if c not in LOG_COLUMNS:
                    raise _Bad("columns", f"Unknown column: {c}.")
            zone, start, end = self._window(request)
        except _Bad as exc:
            return self._bad(exc)
        return Response(200, self._log_body(columns, zone, start, end, self._filters(request)),
                        {"Content-Type": "application/json"})

    def _log_body(self, columns: list[str], zone: ZoneInfo, start: float, end: float,
                  wanted: dict[str, set[str]]) -> Iterator[bytes]:
        modes, n = self._modes_now(), self.clicks_per_day
        day = datetime.fromtimestamp(start, zone).date()
        chunk: list[str] = []
        while True:
            day_start = int(datetime.combine(day, datetime.min.time(), zone).timestamp())
            if day_start > end:
                break
            prefix = day.isoformat()
            for row in log_rows(day_start, n, day.toordinal(), modes):
                ts = row["ts"]
                if not start <= ts <= end or (wanted and any(str(row[f]) not in v for f, v in wanted.items())):
                    continue
                s = ts - day_start
                row["timestamp"] = f"{prefix} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
                # Our values hold no quote or backslash: JSON by hand, a few times faster than json.dumps.
                chunk.append("[" + ",".join(f'"{v}"' if isinstance(v, str) else str(v)
                                             for v in map(row.__getitem__, columns)) + "]")
                if len(chunk) >= _CHUNK:
                    yield ("\n".join(chunk) + "\n").encode()
                    chunk = []
            day += timedelta(days=1)
        if chunk:
            yield ("\n".join(chunk) + "\n").encode()

    # -- account and collections ----------------------------------------------------------------

    def account(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        return Response.json({"account_id": ACCOUNT_ID, "email": "ops@example.com", "telegram": "adops_team",
                              "language": "en", "time_zone": "UTC", "balance": self.balance,
                              "expires_at": int(time.time() + self.expires_in), "comsign_expires_at": 0})

    def collection(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        values = _COLLECTIONS.get(request.params["name"])
        return Response.json(list(values)) if values is not None else self.error(404, "Collection not found.")

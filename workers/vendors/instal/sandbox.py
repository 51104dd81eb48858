"""Instal's Advertiser Report Export API, as documented, with synthetic deterministic data.

Django REST framework and Celery behind it, so errors look like DRF's (``{"detail": ...}``,
field errors as lists) and the task walks PENDING -> STARTED -> SUCCESS over ``ready_after``
seconds. The download link is served by the sandbox itself and needs no token, like a signed
storage URL.
"""

from __future__ import annotations

import csv
import io
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from devkit.sandbox.base import SANDBOX_TOKEN, Request, Response, Route, VendorApp

__all__ = ["COLUMNS", "InstalApp", "csv_rows"]

#: The documented columns of the export, in the documented order.
COLUMNS = (
    "aff_sub_id", "time", "clicks_aggr", "campaign", "country", "creative_id", "app_id", "campaign_id",
    "cost_aggr", "cr", "conversions_aggr", "name_os", "version_os", "lang", "publisher_id",
)
SORTINGS = ("time", "campaign", "aff_sub_id", "cr", "campaign_id")
INTERVALS = ("hourly", "daily", "monthly")
FORMATS = ("csv",)

_CAMPAIGNS = (
    (1101, "Puzzle Quest UA", "com.example.puzzlequest", "banner-320x50"),
    (1102, "Puzzle Quest Retargeting", "com.example.puzzlequest", "video-15s"),
    (2201, "Run Fit iOS", "id1234567890", "playable-v2"),
)
_COUNTRIES = ("US", "DE", "GB", "FR", "BR", "IN", "JP")
_OS = (("android", ("12.0", "13.0", "14.0")), ("ios", ("16.4", "17.2", "17.5")))
_LANGS = ("en", "de", "fr", "pt", "ja")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# True/False also match 1/0 (equal hashes), so JSON's 1 and 0 are covered.
_BOOLEANS = {True: True, False: False, "true": True, "false": False, "True": True, "False": False,
             "1": True, "0": False}


@dataclass
class _Task:
    start: date
    stop: date
    interval: str
    sorting: str
    headers: bool
    created: float
    ready_after: float
    failure: str | None = None

    def state(self, now: float) -> str:
        if self.failure is not None:
            return "FAILURE"
        elapsed = now - self.created
        if elapsed >= self.ready_after:
            return "SUCCESS"
        return "STARTED" if elapsed >= self.ready_after / 2 else "PENDING"


def _buckets(start: date, stop: date, interval: str) -> Iterator[datetime]:
    if interval == "monthly":
        month = date(start.year, start.month, 1)
        while month <= stop:
            yield datetime(month.year, month.month, 1)
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        return
    day = start
    while day <= stop:
        if interval == "hourly":
            for hour in range(24):
                yield datetime(day.year, day.month, day.day, hour)
        else:
            yield datetime(day.year, day.month, day.day)
        day += timedelta(days=1)


def csv_rows(seed: int, start: date, stop: date, interval: str) -> list[dict[str, Any]]:
    """The export's rows: a pure function of the seed and the bucket, so every export agrees.

    Three rows per day or month (one per campaign); one per hour, campaigns taking turns.
    """
    rows = []
    for when in _buckets(start, stop, interval):
        campaigns = [_CAMPAIGNS[when.hour % len(_CAMPAIGNS)]] if interval == "hourly" else list(_CAMPAIGNS)
        for campaign_id, campaign, app_id, creative in campaigns:
            rng = random.Random(f"instal:{seed}:{interval}:{when:%Y-%m-%d %H}:{campaign_id}")
            scale = {"hourly": 1, "daily": 24, "monthly": 24 * 30}[interval]
            clicks = rng.randint(40, 400) * scale
            conversions = rng.randint(0, max(1, clicks // 25))
            os_name, versions = rng.choice(_OS)
            rows.append({
                "aff_sub_id": f"sub_{rng.randint(1, 9)}",
                "time": f"{when:%Y-%m-%d %H:%M}",
                "clicks_aggr": clicks,
                "campaign": campaign,
                "country": rng.choice(_COUNTRIES),
                "creative_id": creative,
                "app_id": app_id,
                "campaign_id": campaign_id,
                "cost_aggr": round(conversions * rng.uniform(0.8, 2.5), 2),
                "cr": round(conversions / clicks, 4) if clicks else 0.0,
                "conversions_aggr": conversions,
                "name_os": os_name,
                "version_os": rng.choice(versions),
                "lang": rng.choice(_LANGS),
                "publisher_id": rng.randint(100, 999),
            })
    return rows


def _sort_key(sorting: str) -> Any:
    order = {
        "time": ("time", "campaign_id"),
        "campaign": ("campaign", "time"),
        "aff_sub_id": ("aff_sub_id", "time", "campaign_id"),
        "cr": ("cr", "time", "campaign_id"),
        "campaign_id": ("campaign_id", "time"),
    }[sorting]
    return lambda row: tuple(row[name] for name in order)


def _csv_chunks(rows: list[dict[str, Any]], headers: bool, chunk: int = 500) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    if headers:
        writer.writeheader()
    for index, row in enumerate(rows, 1):
        writer.writerow(row)
        if index % chunk == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode()


def _date_field(body: dict[str, Any], name: str, errors: dict[str, list[str]]) -> date | None:
    value = body.get(name)
    if value is None:
        errors[name] = ["This field is required."]
        return None
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors[name] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
    return None


def _choice(
    body: dict[str, Any], name: str, choices: tuple[str, ...], default: str, errors: dict[str, list[str]]
) -> str:
    value = body.get(name, default)
    if value not in choices:
        errors[name] = [f'"{value}" is not a valid choice.']
        return default
    return str(value)


class InstalApp(VendorApp):
    name = "instal"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        # Never reset: ids stay unique for the sandbox's life, so job stores that outlive a
        # reset never meet an old id again.
        self._created = 0

    @property
    def exports_path(self) -> str:
        return f"{self.prefix}/advertiser/api/v1/reports/exports/"

    def routes(self) -> list[Route]:
        exports = re.escape(self.exports_path)
        return [
            Route("POST", exports, "create", self.create, faults=frozenset({"failed"})),
            Route("GET", exports + r"(?P<task_id>[^/]+)/", "retrieve", self.retrieve, faults=frozenset({"failed"})),
            Route("GET", r"/files/instal/(?P<task_id>[^/]+)\.csv", "file", self.file),
        ]

    def reset(self) -> None:
        with self._lock:
            self._tasks.clear()

    def _unauthorized(self, request: Request) -> Response | None:
        keyword, _, token = (request.header("Authorization") or "").partition(" ")
        if not keyword:
            message = "Authentication credentials were not provided."
        elif keyword.lower() != "token" or not token.strip():
            message = "Invalid token header. No credentials provided."
        elif token.strip() != SANDBOX_TOKEN:
            message = "Invalid token."
        else:
            return None
        return Response.json({"detail": message}, 401, {"WWW-Authenticate": "Token"})

    def create(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        try:
            body = request.json()
        except ValueError as exc:
            return self.error(400, f"JSON parse error - {exc}")
        if not isinstance(body, dict):
            kind = type(body).__name__
            return Response.json({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}, 400)
        errors: dict[str, list[str]] = {}
        start = _date_field(body, "start_date", errors)
        stop = _date_field(body, "stop_date", errors)
        sorting = _choice(body, "sorting", SORTINGS, "campaign_id", errors)
        interval = _choice(body, "interval", INTERVALS, "daily", errors)
        _choice(body, "format", FORMATS, "csv", errors)
        raw_headers = body.get("csv_headers", True)
        headers = _BOOLEANS.get(raw_headers) if isinstance(raw_headers, (bool, int, str)) else None
        if headers is None:
            errors["csv_headers"] = ["Must be a valid boolean."]
        if start and stop and stop < start:
            errors["non_field_errors"] = ["stop_date must be on or after start_date."]
        if errors:
            return Response.json(errors, 400)
        assert start is not None and stop is not None
        if request.fault is not None and request.fault.kind == "failed":
            reason = "Export queue unavailable (sandbox fault)."
            return Response.json({"result": "ERROR", "task_id": None, "detail": reason})
        with self._lock:
            self._created += 1
            task_id = f"{self.config.seed & 0xFFFFFFFF:08x}-0000-4000-8000-{self._created:012x}"
            self._tasks[task_id] = _Task(
                start, stop, interval, sorting, bool(headers), time.monotonic(), max(0.0, self.config.ready_after)
            )
        return Response.json({"result": "QUEUED", "task_id": task_id})

    def retrieve(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        task_id = request.params["task_id"]
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return self.error(404, "Not found.")
            if request.fault is not None and request.fault.kind == "failed":
                task.failure = "ExportError: report generation failed (sandbox fault)"
            state = task.state(time.monotonic())
            failure = task.failure
        if state == "SUCCESS":
            return Response.json({"state": state, "result": f"{request.base_url}/files/instal/{task_id}.csv"})
        return Response.json({"state": state, "result": failure})

    def file(self, request: Request) -> Response:
        task_id = request.params["task_id"]
        with self._lock:
            task = self._tasks.get(task_id)
            ready = task is not None and task.state(time.monotonic()) == "SUCCESS"
        if task is None or not ready:
            return Response.text("Not Found\n", 404)
        rows = sorted(csv_rows(self.config.seed, task.start, task.stop, task.interval), key=_sort_key(task.sorting))
        return Response(
            200,
            _csv_chunks(rows, task.headers),
            {
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="instal-{task.start}-{task.stop}-{task.interval}.csv"',
            },
        )

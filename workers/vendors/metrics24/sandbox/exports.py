"""24Metrics' Download Center: exports that walk PENDING -> IN_PROGRESS -> COMPLETED, and their files.

An export becomes COMPLETED ``ready_after`` seconds after it was created, unless a ``failed``
(ERROR with a reason) or ``canceled`` (CANCELED) fault decided otherwise. Its file is served by
the sandbox under a signed, expiring URL, like a storage bucket's, streamed in chunks. Ranges
longer than :data:`MAX_EXPORT_DAYS` are cut to their last days (``results_meta.range_truncated``).
The Download Center starts with one finished export (:data:`HISTORY_ID`, last week's clicks),
as a real one has history: the help's `export 24metrics delete` example names it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from devkit.sandbox.base import Request, Response, SandboxConfig
from workers.vendors.metrics24.sandbox.common import (
    Invalid,
    date_param,
    integration,
    now_iso,
    numbered,
    one,
    storage_error,
)
from workers.vendors.metrics24.sandbox.data import (
    DEFAULT_INTEGRATION,
    KINDS,
    MAX_EXPORT_DAYS,
    ORGANIZATION,
    URL_LIFETIME,
)
from workers.vendors.metrics24.sandbox.rows import count_rows, day_rows, days

__all__ = ["HISTORY_ID", "DownloadCenter", "Export"]

#: The export the Download Center starts with (``reset`` brings it back).
HISTORY_ID = f"67e0{1:020x}"


@dataclass
class Export:
    id: str
    kind: str  # clicks | conversions | impressions
    integration: str
    asked: tuple[date, date]
    start: date  # the range actually exported
    fields: list[str]
    extra: list[str]
    delimiter: str
    created: float
    created_at: str
    ready_after: float
    failure: tuple[str, str] | None = None  # (status, error)
    total: int | None = None

    @property
    def truncated(self) -> bool:
        return self.start != self.asked[0]

    @property
    def artifact_name(self) -> str:
        table = KINDS[self.kind][1]
        return f"download-center/{ORGANIZATION}/{self.id}/{table}_{self.start}_{self.asked[1]}.csv"

    def status(self, now: float) -> str:
        if self.failure is not None:
            return self.failure[0]
        elapsed = now - self.created
        if elapsed >= self.ready_after:
            return "COMPLETED"
        return "IN_PROGRESS" if elapsed >= self.ready_after / 2 else "PENDING"


def _cell(value: Any) -> Any:
    return "|".join(str(v) for v in value) if isinstance(value, list) else value


def _outcome(request: Request) -> tuple[str, str] | None:
    if request.fault is None:
        return None
    if request.fault.kind == "failed":
        return "ERROR", "Query exceeded the maximum execution time while scanning the logs (sandbox fault)."
    return "CANCELED", ""


class DownloadCenter:
    """The exports, behind one lock, and the handlers of the ``download-center`` routes."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._exports: dict[str, Export] = {}
        # Never reset: ids stay unique for the sandbox's life (see InstalApp). The history
        # export has the first one.
        self._created = 1
        self._seed_history()

    def reset(self) -> None:
        with self._lock:
            self._exports.clear()
            self._seed_history()

    def _seed_history(self) -> None:
        """Last week's clicks, finished before the sandbox started."""
        end = datetime.now(UTC).date() - timedelta(days=1)
        start = end - timedelta(days=6)
        self._exports[HISTORY_ID] = Export(
            id=HISTORY_ID, kind="clicks", integration=DEFAULT_INTEGRATION, asked=(start, end), start=start,
            fields=["request_time", "tx_id", "publisher", "status"], extra=[], delimiter=",",
            created=time.monotonic() - 60, created_at=now_iso(), ready_after=0.0,
        )

    def _columns(self, kind: str) -> set[str]:
        table = KINDS[kind][0]
        return set(day_rows(self.config.seed, DEFAULT_INTEGRATION, table, date(2024, 1, 1))[0])

    def _json(self, export: Export, now: float) -> dict[str, Any]:
        status = export.status(now)
        table = KINDS[export.kind][1]
        start, end = export.asked
        completed = status == "COMPLETED"
        if completed and export.total is None:
            export.total = sum(count_rows(self.config.seed, export.integration, KINDS[export.kind][0], day)
                               for day in days(export.start, end))
        return {
            "id": export.id, "type": table, "status": status,
            "error": export.failure[1] if export.failure else "",
            "artifact": {
                "name": export.artifact_name if completed else "",
                "size": (export.total or 0) * 90 if completed else 0,
                "download_link": "",
                "meta": {"id": export.id, "organization": ORGANIZATION, "type": table},
            },
            "integration": export.integration, "organization": ORGANIZATION,
            "requested_by": "api", "last_updated_by": "api",
            "created_at": export.created_at, "updated_at": export.created_at,
            "format": {"delimiter": export.delimiter},
            "reports_query_option": {
                "start_date": start.isoformat(), "end_date": end.isoformat(),
                "include_fields": export.fields, "extra_parameters_as_new_fields": export.extra,
                "filters": {"integration_id": {"equal_values": [export.integration]}},
            },
            "export_list_options": {
                "fields": export.fields, "extra_parameters": export.extra,
                "filters": {"date_range": {"start": f"{export.start}T00:00:00Z", "end": f"{end}T23:59:59Z"}},
            },
            "results_meta": {
                "total": export.total if completed else 0,
                "range_truncated": export.truncated,
                "duration_seconds": round(export.ready_after) if completed else 0,
            },
        }

    def create_export(self, request: Request) -> Response:
        owner = integration(request.params["integration"])
        kind = request.params["kind"]
        start = date_param(request, "start_date")
        end = date_param(request, "end_date")
        assert start is not None and end is not None
        if end < start:
            raise Invalid(400, "end_date must be on or after start_date")
        fields = [f for f in (one(request, "fields") or "").split(",") if f]
        if not fields:
            raise Invalid(400, "fields is required")
        unknown = sorted(set(fields) - self._columns(kind))
        if unknown:
            raise Invalid(400, f"unknown field {unknown[0]!r} for {KINDS[kind][1]}")
        extra = [f for f in (one(request, "extra_parameters") or "").split(",") if f]
        delimiter = one(request, "delimiter") or ","
        if len(delimiter) != 1:
            raise Invalid(400, "delimiter must be a single character")
        exported_start = max(start, end - timedelta(days=MAX_EXPORT_DAYS - 1))
        with self._lock:
            self._created += 1
            export = Export(
                id=f"67e0{self._created:020x}", kind=kind, integration=owner,
                asked=(start, end), start=exported_start, fields=fields, extra=extra, delimiter=delimiter,
                created=time.monotonic(), created_at=now_iso(), ready_after=max(0.0, self.config.ready_after),
                failure=_outcome(request),
            )
            self._exports[export.id] = export
            return Response.json(self._json(export, time.monotonic()))

    def list_exports(self, request: Request) -> Response:
        status, kind = one(request, "filter[status]"), one(request, "filter[type]")
        now = time.monotonic()
        with self._lock:
            items = [self._json(e, now) for e in reversed(self._exports.values())]
        items = [e for e in items if (not status or e["status"] == status) and (not kind or e["type"] == kind)]
        return numbered(request, items)

    def _export(self, request: Request) -> Export:
        export = self._exports.get(request.params["export_id"])
        if export is None:
            raise Invalid(404, f"export {request.params['export_id']} not found")
        return export

    def get_export(self, request: Request) -> Response:
        with self._lock:
            export = self._export(request)
            outcome = _outcome(request)
            if outcome is not None and export.status(time.monotonic()) != "COMPLETED":
                export.failure = outcome
            return Response.json({"data": self._json(export, time.monotonic())})

    def delete_export(self, request: Request) -> Response:
        with self._lock:
            del self._exports[self._export(request).id]
        return Response.json({})

    def _signature(self, name: str, signed: str, lifetime: str) -> str:
        key = f"24metrics-sandbox-signing:{self.config.seed}".encode()
        return hmac.new(key, f"{name}\n{signed}\n{lifetime}".encode(), hashlib.sha256).hexdigest()

    def _completed(self, name: str) -> Export | None:
        now = time.monotonic()
        return next((e for e in self._exports.values() if e.artifact_name == name and e.status(now) == "COMPLETED"),
                    None)

    def export_url(self, request: Request) -> Response:
        name = one(request, "artifact_name")
        if not name:
            raise Invalid(400, "artifact_name is required")
        with self._lock:
            if self._completed(name) is None:
                raise Invalid(404, "artifact not found")
        signed = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        query = urlencode({
            "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
            "X-Goog-Credential": "sandbox@adops.iam.gserviceaccount.com/auto/storage/goog4_request",
            "X-Goog-Date": signed, "X-Goog-Expires": str(URL_LIFETIME), "X-Goog-SignedHeaders": "host",
            "X-Goog-Signature": self._signature(name, signed, str(URL_LIFETIME)),
        })
        return Response.json({"url": f"{request.base_url}/files/24metrics/{name}?{query}"})

    def file(self, request: Request) -> Response:
        """The export's CSV at its signed URL: needs no API key, only a valid, unexpired signature."""
        name = request.params["name"]
        signed, lifetime = one(request, "X-Goog-Date") or "", one(request, "X-Goog-Expires") or ""
        given = one(request, "X-Goog-Signature") or ""
        if not hmac.compare_digest(given, self._signature(name, signed, lifetime)):
            return storage_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        issued = datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if datetime.now(UTC) > issued + timedelta(seconds=int(lifetime)):
            return storage_error(400, "ExpiredToken", "The provided token has expired.")
        with self._lock:
            export = self._completed(name)
        if export is None:
            return storage_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(200, self._csv(export), {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name.rsplit("/", 1)[-1]}"',
        })

    def _csv(self, export: Export, chunk: int = 1000) -> Iterator[bytes]:
        table = KINDS[export.kind][0]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=export.delimiter, lineterminator="\n")
        writer.writerow(export.fields + export.extra)
        written = 0
        for day in days(export.start, export.asked[1]):
            for row in day_rows(self.config.seed, export.integration, table, day):
                extras = dict(zip(row["extra_params.keys"], row["extra_params.values"], strict=False))
                writer.writerow([_cell(row.get(f)) for f in export.fields] + [extras.get(e, "") for e in export.extra])
                written += 1
                if written % chunk == 0:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode()

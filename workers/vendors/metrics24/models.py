"""24Metrics answers as models, and the pure mapping between them and what we ask or show.

Models: ``FilterGroup``, ``Export`` (with ``Artifact``, ``ResultsMeta``), ``BulkResult`` and
``ReportPage``. Pure functions: building an export's or report's query from a job's params,
reading an export into an :class:`~workers.vendors.exports.ExportStatus`, a bulk answer into a
``BulkResult``, and a signed URL's expiry. Report rows are read in
`workers.vendors.metrics24.rows`.

The docs print some answers bare and others wrapped (create answers ``{"created_item_id": ...}``,
the URL endpoint ``{"url": ...}``); :func:`unwrap` takes either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from workers.errors import VendorProtocolError, VendorRejected
from workers.vendors.exports import ExportStatus
from workers.vendors.metrics24.api import (
    DEFAULT_FIELDS,
    DELIMITERS,
    EXPORT_PATHS,
    EXPORT_TYPES,
    ID_PATTERN,
    VENDOR,
)
from workers.vendors.reasons import short_reason

__all__ = [
    "Artifact",
    "BulkResult",
    "Export",
    "FilterGroup",
    "Id",
    "ReportPage",
    "ResultsMeta",
    "bulk_result",
    "checked_id",
    "export_query",
    "parse_model",
    "protocol_error",
    "report_query",
    "signed_url_expiry",
    "status_of",
    "unwrap",
    "user_error",
]

_KINDS_BY_TYPE = {value: key for key, value in EXPORT_TYPES.items()}
_PENDING_NOTES = {
    "PENDING": "queued at 24Metrics",
    "IN_PROGRESS": "24Metrics is building the file",
}
_FAILED_STATES = frozenset({"ERROR", "CANCELED", "CANCELLED"})
_EXPORT_PARAMS = frozenset({"kind", "start_date", "end_date", "fields", "extra", "delimiter", "integration"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _text(value: Any) -> Any:
    # Ids arrive as strings in the docs, but a numeric id must not fail a whole listing.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_text)]


class FilterGroup(BaseModel):
    """A filter group (``csapi.FilterGroup``); ``monitoring_mode`` here beats the integration's."""

    model_config = ConfigDict(extra="allow")

    id: Id
    name: str = ""
    priority: int | None = None
    active: bool | None = None
    monitoring_mode: bool | None = None
    integration: Id | None = None
    organization: Id | None = None
    description: str | None = None
    tags: list[str] | None = None
    name_with_id: str | None = None
    rtb_enabled: bool | None = None
    offer_ids: list[str] | None = None
    publisher_ids: list[str] | None = None
    advertiser_ids: list[str] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_updated_by: str | None = None


class Artifact(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    size: int | None = None
    download_link: str | None = None


class ResultsMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    total: int | None = None
    range_truncated: bool | None = None
    duration_seconds: float | None = None


class Export(BaseModel):
    """A Download Center export (``report.DownloadCenterExport``)."""

    model_config = ConfigDict(extra="allow")

    id: Id
    type: str = ""
    status: str = ""
    error: str | None = None
    artifact: Artifact | None = None
    results_meta: ResultsMeta | None = None
    integration: Id | None = None
    organization: Id | None = None
    requested_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    #: What was asked (``start_date``, ``end_date``, ``include_fields``...): the list filters match on it.
    reports_query_option: dict[str, Any] | None = None
    #: ``fields``, ``extra_parameters`` and ``filters.date_range`` (the range actually exported; inferred).
    export_list_options: dict[str, Any] | None = None
    format: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """``clicks``/``conversions``/``impressions``, or the vendor's ``type`` when it is another."""
        return _KINDS_BY_TYPE.get(self.type, self.type)

    @property
    def artifact_name(self) -> str | None:
        return self.artifact.name if self.artifact and self.artifact.name else None

    @property
    def rows(self) -> int | None:
        return self.results_meta.total if self.results_meta else None

    @property
    def range_truncated(self) -> bool:
        return bool(self.results_meta and self.results_meta.range_truncated)

    @property
    def requested_range(self) -> tuple[str, str] | None:
        option = self.reports_query_option or {}
        return _range(option.get("start_date"), option.get("end_date"))

    @property
    def exported_range(self) -> tuple[str, str] | None:
        """The range in the file, where the vendor says (``export_list_options.filters.date_range``)."""
        filters = (self.export_list_options or {}).get("filters")
        span = filters.get("date_range") if isinstance(filters, dict) else None
        return _range(span.get("start"), span.get("end")) if isinstance(span, dict) else None


def _range(start: Any, end: Any) -> tuple[str, str] | None:
    if not (isinstance(start, str) and start and isinstance(end, str) and end):
        return None
    return start[:10], end[:10]  # "2024-03-01T00:00:00Z" reads as a day


class BulkResult(BaseModel):
    """What a bulk change touched: ``changed`` as the vendor listed it, else the ids we sent."""

    model_config = ConfigDict(frozen=True)

    requested: list[str]
    changed: list[str]
    confirmed: bool = False  # True when the vendor itself listed ``changed``

    @property
    def missing(self) -> list[str]:
        """Ids we sent that the vendor said it did not change (only known when ``confirmed``)."""
        if not self.confirmed:
            return []
        done = set(self.changed)
        return [i for i in self.requested if i not in done]


@dataclass(frozen=True)
class ReportPage:
    """Rows of a report table, newest first; ``complete`` is False when ``max_rows`` cut the walk."""

    rows: list[dict[str, Any]]
    complete: bool
    pages: int
    total: int | None = None  # the vendor's ``data.count`` where it sends one


def protocol_error(what: str, detail: str) -> VendorProtocolError:
    """The error for an answer to ``what`` that is not shaped as documented."""
    return VendorProtocolError(VENDOR, f"{VENDOR} sent an unexpected answer to {what} ({detail}).")


def unwrap(payload: Any, what: str) -> Any:
    """The object inside ``{"data": ...}``, or the answer itself where the vendor sends it bare."""
    if isinstance(payload, dict) and "data" in payload:
        return payload["data"]
    if isinstance(payload, dict):
        return payload
    raise protocol_error(what, f"a JSON {type(payload).__name__}, not an object")


def parse_model(model: type[BaseModel], payload: Any, what: str) -> Any:
    """``payload`` as a ``model``; a protocol error naming the bad fields when it is not one."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise protocol_error(what, f"bad or missing: {fields}") from None


def user_error(message: str) -> VendorRejected:
    """A refusal of what the user typed, before anything is sent."""
    # The user typed it: said plainly, like a vendor's 400, and never retried.
    return VendorRejected(VENDOR, message)


def _day(value: Any, name: str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise user_error(f"{name} must be a date (YYYY-MM-DD), not {str(value)[:40]!r}.")


def _names(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name} must be a list of names")
    return [item.strip() for item in items if item.strip()]


def checked_id(value: Any, what: str) -> str:
    """``value`` as an id that is safe in a path; a user error when it is not one."""
    text = str(value).strip() if value is not None else ""
    if not ID_PATTERN.fullmatch(text):
        raise user_error(f"{text[:60]!r} is not a 24Metrics {what} id.")
    return text


def export_query(params: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The export kind and the create request's query from the job's params.

    ``kind`` clicks|conversions|impressions, ``start_date``/``end_date`` (date or YYYY-MM-DD),
    ``fields`` and ``extra`` (lists or comma-separated; the vendor wants comma-separated text),
    ``delimiter`` (one character or comma/semicolon/tab/pipe). ``integration`` is the caller's.
    """
    unknown = set(params) - _EXPORT_PARAMS
    if unknown:
        raise ValueError(f"unknown 24Metrics export parameters: {', '.join(sorted(unknown))}")
    kind = str(params.get("kind") or "")
    if kind not in EXPORT_PATHS:
        raise user_error(f"24Metrics exports clicks, conversions or impressions, not {kind[:40]!r}.")
    start = _day(params.get("start_date"), "start_date")
    end = _day(params.get("end_date"), "end_date")
    if end < start:
        raise user_error(f"The range ends ({end}) before it starts ({start}).")
    fields = _names(params.get("fields"), "fields") or list(DEFAULT_FIELDS[kind])
    query = {
        "start_date": start,
        "end_date": end,
        "fields": ",".join(fields),
        # Required by the docs even when empty.
        "extra_parameters": ",".join(_names(params.get("extra"), "extra")),
    }
    delimiter = params.get("delimiter")
    if delimiter not in (None, ""):
        delimiter = DELIMITERS.get(str(delimiter).lower(), str(delimiter))
        if len(delimiter) != 1:
            raise user_error(f"delimiter must be one character or one of {', '.join(DELIMITERS)}.")
        query["delimiter"] = delimiter
    return kind, query


def signed_url_expiry(url: str) -> datetime | None:
    """When a signed storage URL stops working, read from its own query; None when it does not say.

    Understands Google Cloud Storage V4 (``X-Goog-Date`` + ``X-Goog-Expires``), S3 SigV4
    (``X-Amz-Date`` + ``X-Amz-Expires``) and the older ``Expires=<unix time>`` form.
    """
    query = {key.lower(): values[-1] for key, values in parse_qs(urlsplit(url).query).items()}
    for prefix in ("x-goog-", "x-amz-"):
        signed, lifetime = query.get(prefix + "date"), query.get(prefix + "expires")
        if signed and lifetime:
            try:
                start = datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                return start + timedelta(seconds=int(lifetime))
            except (ValueError, OverflowError):
                return None
    expires = query.get("expires")
    if expires and expires.isdigit():
        try:
            return datetime.fromtimestamp(int(expires), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return None


def _range_note(export: Export) -> str | None:
    if not export.range_truncated:
        return None
    asked = export.requested_range
    done = export.exported_range
    asked_text = f" (asked {asked[0]} – {asked[1]})" if asked else ""
    if done and done != asked:
        return f"24Metrics cut the range to {done[0]} – {done[1]}{asked_text}."
    return f"24Metrics cut the range to less than asked{asked_text}; the file does not cover all of it."


def status_of(export: Export, url: str | None = None, *, secrets: Sequence[str] = ()) -> ExportStatus:
    """Map an export to an ExportStatus; ``url`` is the signed link fetched for a COMPLETED one."""
    state = export.status.strip().upper()
    if state == "COMPLETED":
        if not url or not url.startswith(("https://", "http://")):
            raise VendorProtocolError(VENDOR, f"{VENDOR} says the export is ready but gave no download link.")
        return ExportStatus(
            state="ready", vendor_state=state, url=url, rows=export.rows, expires_at=signed_url_expiry(url),
            note=_range_note(export),
        )
    if state in _FAILED_STATES:
        reason = short_reason(export.error, secrets=secrets) if export.error else None
        if reason is None and state != "ERROR":
            reason = "the export was canceled at 24Metrics"
        return ExportStatus(state="failed", vendor_state=state, reason=reason)
    # An undocumented state is said in words ("24Metrics says: on hold"), never as IN_SOME_CODE.
    note = _PENDING_NOTES.get(state, f"24Metrics says: {state.replace('_', ' ').lower()}")
    return ExportStatus(state="pending", vendor_state=state, note=note)


#: Answer keys a bulk change may list its ids under; the docs leave the answer's shape open.
_BULK_KEYS = {
    "update": ("updated_item_ids", "updated_ids", "ids"),
    "delete": ("deleted_item_ids", "deleted_ids", "ids"),
}


def bulk_result(payload: Any, requested: Sequence[str], action: Literal["update", "delete"]) -> BulkResult:
    """What a bulk answer says changed; the ids sent when it says nothing we can read."""
    body = payload.get("data", payload) if isinstance(payload, dict) else payload
    listed: Any = None
    if isinstance(body, list):
        listed = body
    elif isinstance(body, dict):
        listed = next((body[key] for key in _BULK_KEYS[action] if isinstance(body.get(key), list)), None)
    if listed is not None and all(isinstance(item, (str, int)) for item in listed):
        return BulkResult(requested=list(requested), changed=[str(item) for item in listed], confirmed=True)
    return BulkResult(requested=list(requested), changed=list(requested), confirmed=False)


def report_query(params: Mapping[str, Any], integration: str) -> dict[str, str]:
    """The query of a report table or lookup: ``params`` as text, days checked, no paging."""
    query: dict[str, str] = {"integration_id": integration}
    for key, value in params.items():
        if key in ("integration", "integration_id") or value is None:
            continue
        if key.startswith("page["):
            raise ValueError("report_rows pages by itself; leave page[...] out of params")
        if key in ("start_date", "end_date", "request_date"):
            query[key] = _day(value, key)
        elif isinstance(value, (list, tuple)):
            query[key] = ",".join(str(v) for v in value)
        else:
            query[key] = str(value)
    return query

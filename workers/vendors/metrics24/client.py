"""24Metrics (ClickShield API v2): filter groups, Download Center exports, report tables, lookups.

Confirmed by the vendor's docs: the ``API-KEY`` header, ``/api/v2/`` paths, objects wrapped in
``{"data": ...}``, numbered pages (``page[number]``, ``page[size]`` ≤ 100, ``meta.total_page``),
cursor pages on report tables (``page[after]``, ``data.pageInfo.{endCursor,hasNextPage}``,
newest first) and the field names read here. Only ``CONVERSION_TABLE_PATH`` is a confirmed path;
every other path is inferred from the operation names (see NOTES.md), so each is one constant.

The docs print some answers bare and others wrapped (create answers ``{"created_item_id": ...}``,
the URL endpoint ``{"url": ...}``); :func:`unwrap` takes either.

Fraud summaries read report rows with the vendor's own field names:

- rejected or not: clicks ``status`` (``"Approved"`` when let through; any other value, or
  ``blocked`` = 1, is a rejection), conversions ``rejected`` (0/1) beside the same ``status``;
- why: ``rejected_simple_reason`` (a category such as "Proxy/VPN"; group by this), with
  ``rejected_advanced_reason`` as the detail, ``rejected_primary_reason`` (clicks) and the
  ``rejections`` list as fallbacks; conversions also carry ``real_rejected_simple_reason``;
- who: ``publisher`` (the publisher id; group by this), labelled with ``publisher_name`` where
  the row has one (conversion rows do, click rows do not); ``publisher_db_id`` and
  ``real_publisher`` are other ids of the same publisher.

:func:`is_rejected`, :func:`rejection_reason` and :func:`publisher_of` read exactly these.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationError

from workers.vendors.errors import VendorProtocolError, VendorRejected, VendorTransient
from workers.vendors.exports import ExportStatus
from workers.vendors.http import VendorHTTP, short_reason

__all__ = [
    "BULK_MAX",
    "CLICKS_EXPORT_PATH",
    "CLICK_PATH",
    "CLICK_TABLE_PATH",
    "CONVERSIONS_EXPORT_PATH",
    "CONVERSION_PATH",
    "CONVERSION_TABLE_PATH",
    "DEFAULT_FIELDS",
    "EXPORTS_PATH",
    "EXPORT_PATH",
    "EXPORT_TYPES",
    "EXPORT_URL_PATH",
    "FILTER_GROUPS_PATH",
    "FILTER_GROUP_PATH",
    "IMPRESSIONS_EXPORT_PATH",
    "IMPRESSION_TABLE_PATH",
    "INTEGRATION_VARIABLE",
    "KEY_VARIABLE",
    "ORGANIZATION_VARIABLE",
    "PAGE_SIZE_MAX",
    "PUBLISHER_FIELD",
    "PUBLISHER_NAME_FIELD",
    "REASON_FIELD",
    "VENDOR",
    "BulkResult",
    "Export",
    "FilterGroup",
    "Metrics24Client",
    "ReportPage",
    "bulk_result",
    "export_query",
    "is_rejected",
    "publisher_of",
    "rejection_reason",
    "signed_url_expiry",
    "status_of",
    "unwrap",
]

log = logging.getLogger(__name__)

VENDOR = "24Metrics"
KEY_VARIABLE = "METRICS24_API_KEY"
INTEGRATION_VARIABLE = "METRICS24_INTEGRATION_ID"
ORGANIZATION_VARIABLE = "METRICS24_ORGANIZATION_ID"

# -- paths: one constant each; all inferred except CONVERSION_TABLE_PATH (NOTES.md) ----------
FILTER_GROUPS_PATH = "/api/v2/integrations/{integration}/filter-groups"  # inferred; list, create, bulk
FILTER_GROUP_PATH = "/api/v2/integrations/{integration}/filter-groups/{group_id}"  # inferred
CLICKS_EXPORT_PATH = "/api/v2/integrations/{integration}/download-center/clicks"  # inferred
CONVERSIONS_EXPORT_PATH = "/api/v2/integrations/{integration}/download-center/conversions"  # inferred
IMPRESSIONS_EXPORT_PATH = "/api/v2/integrations/{integration}/download-center/impressions"  # inferred
EXPORTS_PATH = "/api/v2/download-center/exports"  # inferred
EXPORT_PATH = "/api/v2/download-center/exports/{export_id}"  # inferred
EXPORT_URL_PATH = "/api/v2/download-center/url"  # inferred
CLICK_TABLE_PATH = "/api/v2/reports/v2/click-table"  # inferred
CONVERSION_TABLE_PATH = "/api/v2/reports/v2/conversion-table"  # confirmed by the docs' example
IMPRESSION_TABLE_PATH = "/api/v2/reports/v2/impression-table"  # inferred
CLICK_PATH = "/api/v2/reports/v2/click"  # inferred
CONVERSION_PATH = "/api/v2/reports/v2/conversion"  # inferred

_EXPORT_PATHS = {
    "clicks": CLICKS_EXPORT_PATH,
    "conversions": CONVERSIONS_EXPORT_PATH,
    "impressions": IMPRESSIONS_EXPORT_PATH,
}
_TABLE_PATHS = {"click": CLICK_TABLE_PATH, "conversion": CONVERSION_TABLE_PATH, "impression": IMPRESSION_TABLE_PATH}

#: The docs' hard limit for ``page[size]``, numbered pages and report tables alike.
PAGE_SIZE_MAX = 100
#: Ids per bulk request: no limit is published, so stay at the page limit.
BULK_MAX = 100
#: A listing that claims more pages than this is looping, not long.
MAX_PAGES = 1_000
#: Paged reads retry a page in place (429/5xx) so a long walk keeps its progress; a longer wait
#: than this is left to the actor's backoff.
PAGE_RETRIES = 2
PAGE_RETRY_MAX_WAIT = 5.0
PAGE_BACKOFF = 0.5

#: ``type`` of a Download Center export per kind; the list filter documents the first two.
EXPORT_TYPES = {"clicks": "click_logs", "conversions": "conversion_logs", "impressions": "impression_logs"}
_KINDS_BY_TYPE = {value: key for key, value in EXPORT_TYPES.items()}

#: Columns asked for when the user names none (``fields`` is required by the vendor).
DEFAULT_FIELDS = {
    "clicks": (
        "request_time", "tx_id", "publisher", "offer_id", "country", "status",
        "rejected_simple_reason", "rejected_advanced_reason",
    ),
    "conversions": (
        "conversion_time", "hash", "click_tx_id", "publisher", "publisher_name", "offer_id", "country",
        "status", "rejected", "rejected_simple_reason", "rejected_advanced_reason", "payout", "revenue",
    ),
    "impressions": (
        "request_time", "tx_id", "publisher", "offer_id", "country", "status", "rejected_simple_reason",
    ),
}
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}

#: Report row fields a fraud summary groups by (see the module docstring).
REASON_FIELD = "rejected_simple_reason"
PUBLISHER_FIELD = "publisher"
PUBLISHER_NAME_FIELD = "publisher_name"
APPROVED = "Approved"

_PENDING_NOTES = {
    "PENDING": "queued at 24Metrics",
    "IN_PROGRESS": "24Metrics is building the file",
}
_FAILED_STATES = frozenset({"ERROR", "CANCELED", "CANCELLED"})
_EXPORT_PARAMS = frozenset({"kind", "start_date", "end_date", "fields", "extra", "delimiter", "integration"})
# Ids go into paths: anything that could step out of a path segment is refused.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
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


# -- pure parts ------------------------------------------------------------------------------


def _protocol(what: str, detail: str) -> VendorProtocolError:
    return VendorProtocolError(VENDOR, f"{VENDOR} sent an unexpected answer to {what} ({detail}).")


def unwrap(payload: Any, what: str) -> Any:
    """The object inside ``{"data": ...}``, or the answer itself where the vendor sends it bare."""
    if isinstance(payload, dict) and "data" in payload:
        return payload["data"]
    if isinstance(payload, dict):
        return payload
    raise _protocol(what, f"a JSON {type(payload).__name__}, not an object")


def _model(model: type[BaseModel], payload: Any, what: str) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise _protocol(what, f"bad or missing: {fields}") from None


def _user_error(message: str) -> VendorRejected:
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
    raise _user_error(f"{name} must be a date (YYYY-MM-DD), not {str(value)[:40]!r}.")


def _names(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name} must be a list of names")
    return [item.strip() for item in items if item.strip()]


def _checked_id(value: Any, what: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not _ID.fullmatch(text):
        raise _user_error(f"{text[:60]!r} is not a 24Metrics {what} id.")
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
    if kind not in _EXPORT_PATHS:
        raise _user_error(f"24Metrics exports clicks, conversions or impressions, not {kind[:40]!r}.")
    start = _day(params.get("start_date"), "start_date")
    end = _day(params.get("end_date"), "end_date")
    if end < start:
        raise _user_error(f"The range ends ({end}) before it starts ({start}).")
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
            raise _user_error(f"delimiter must be one character or one of {', '.join(DELIMITERS)}.")
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
    return ExportStatus(state="pending", vendor_state=state, note=_PENDING_NOTES.get(state, f"24Metrics says {state}"))


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


def is_rejected(row: Mapping[str, Any]) -> bool:
    """Did 24Metrics reject this click or conversion (whether or not monitoring let it through)?"""
    if "rejected" in row:  # conversions
        return bool(row.get("rejected"))
    if row.get("blocked"):
        return True
    status = row.get("status")
    if isinstance(status, str) and status:
        return status != APPROVED
    return bool(row.get(REASON_FIELD))


def rejection_reason(row: Mapping[str, Any]) -> str | None:
    """The reason category to group by; None for an approved row."""
    if not is_rejected(row):
        return None
    for field in (REASON_FIELD, "real_rejected_simple_reason", "rejected_primary_reason"):
        value = row.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    rejections = row.get("rejections")
    if isinstance(rejections, list) and rejections and isinstance(rejections[0], str):
        return rejections[0]
    return "Unknown"


def publisher_of(row: Mapping[str, Any]) -> tuple[str, str | None]:
    """(publisher id, publisher name or None) of a report row."""
    publisher = row.get(PUBLISHER_FIELD) or row.get("real_publisher") or row.get("publisher_db_id") or ""
    name = row.get(PUBLISHER_NAME_FIELD)
    return str(publisher), (str(name) if name else None)


def _report_query(params: Mapping[str, Any], integration: str) -> dict[str, str]:
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


# -- the client ------------------------------------------------------------------------------


class Metrics24Client:
    """The 24Metrics adapter; also an :class:`~workers.vendors.exports.ExportAdapter`. Thread-safe."""

    vendor = VENDOR

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        integration_id: str | None = None,
        organization_id: str | None = None,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
        page_retries: int = PAGE_RETRIES,
    ) -> None:
        secret = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not secret or not secret.strip():
            raise ValueError(f"{KEY_VARIABLE} is empty")
        self.base_url = base_url
        self.integration_id = integration_id.strip() if integration_id and integration_id.strip() else None
        self.organization_id = organization_id.strip() if organization_id and organization_id.strip() else None
        self.page_retries = page_retries
        # Kept only to scrub it from any text the vendor sends back.
        self._secrets = (secret.strip(),)
        self._http = VendorHTTP(
            VENDOR,
            base_url,
            headers={"API-KEY": secret.strip()},
            key_variable=KEY_VARIABLE,
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Metrics24Client({self.base_url!r}, integration_id={self.integration_id!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _integration(self, integration: str | None) -> str:
        chosen = integration if integration is not None and str(integration).strip() else self.integration_id
        if not chosen:
            raise ValueError(f"no 24Metrics integration given and {INTEGRATION_VARIABLE} is not set")
        return _checked_id(chosen, "integration")

    def _organization_query(self) -> dict[str, str]:
        return {"organization": self.organization_id} if self.organization_id else {}

    def _not_found(self, exc: VendorRejected, what: str) -> VendorRejected:
        if exc.status != 404:
            return exc
        return VendorRejected(
            VENDOR, f"{VENDOR} has no {what} (404). Check the id, or list them again.", status=404, reason=exc.reason
        )

    def _read_page(self, path: str, params: dict[str, Any]) -> Any:
        """GET one page of a multi-page walk, retried in place on 429/5xx a couple of times.

        A walk restarted by the actor would fetch every page again; a short wait here keeps
        what we have. Longer waits, timeouts and garbled answers go to the actor as they are.
        """
        attempt = 0
        while True:
            try:
                return self._http.json("GET", path, params=params)
            except VendorTransient as exc:
                if isinstance(exc, VendorProtocolError) or exc.status is None or attempt >= self.page_retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else PAGE_BACKOFF * 2**attempt
                if wait > PAGE_RETRY_MAX_WAIT:
                    raise
                log.info("%s %s answered %s; retrying the page in %.1f s", VENDOR, path, exc.status, wait)
                time.sleep(wait)
                attempt += 1

    def _numbered_pages(self, path: str, what: str) -> Iterator[list[Any]]:
        number = 1
        while True:
            payload = self._read_page(path, {"page[number]": number, "page[size]": PAGE_SIZE_MAX})
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                raise _protocol(what, "no data list")
            items = payload["data"]
            yield items
            meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
            total_page = meta.get("total_page")
            if not items:
                return
            if isinstance(total_page, int) and not isinstance(total_page, bool):
                if number >= total_page:
                    return
            elif len(items) < PAGE_SIZE_MAX:
                return
            number += 1
            if number > MAX_PAGES:
                raise _protocol(what, f"more than {MAX_PAGES} pages")

    # -- filter groups ------------------------------------------------------------------------

    def list_filter_groups(self, integration: str | None = None, *, name_contains: str | None = None) -> list[FilterGroup]:
        """Every filter group of the integration (all pages), optionally those whose name contains the text.

        The name match is ours (case-insensitive substring): the API's filter operators for
        text are not documented.
        """
        integration = self._integration(integration)
        path = FILTER_GROUPS_PATH.format(integration=integration)
        groups: dict[str, FilterGroup] = {}
        for items in self._numbered_pages(path, "the filter group list"):
            for item in items:
                group: FilterGroup = _model(FilterGroup, item, "the filter group list")
                groups.setdefault(group.id, group)  # a group created mid-walk shifts pages; keep one copy
        found = list(groups.values())
        if name_contains and name_contains.strip():
            needle = name_contains.strip().casefold()
            found = [g for g in found if needle in g.name.casefold()]
        return found

    def get_filter_group(self, group_id: str, integration: str | None = None) -> FilterGroup:
        integration = self._integration(integration)
        group_id = _checked_id(group_id, "filter group")
        try:
            payload = self._http.json("GET", FILTER_GROUP_PATH.format(integration=integration, group_id=group_id))
        except VendorRejected as exc:
            raise self._not_found(exc, f"filter group {group_id} in integration {integration}") from None
        return _model(FilterGroup, unwrap(payload, "the filter group"), "the filter group")

    def create_filter_group(self, fields: dict[str, Any], integration: str | None = None) -> FilterGroup:
        """Create a group (``name`` and a unique ``priority`` needed) and read it back."""
        integration = self._integration(integration)
        body = {**fields, "integration": integration}
        organization = body.get("organization") or self.organization_id
        if not organization:
            raise ValueError(f"creating a 24Metrics filter group needs an organization: set {ORGANIZATION_VARIABLE}")
        body["organization"] = organization
        payload = self._http.json("POST", FILTER_GROUPS_PATH.format(integration=integration), json=body)
        answer = unwrap(payload, "the new filter group")
        if isinstance(answer, dict) and "id" in answer and "name" in answer:
            return _model(FilterGroup, answer, "the new filter group")
        created = answer.get("created_item_id") if isinstance(answer, dict) else None
        if created in (None, ""):
            raise _protocol("the new filter group", "no created_item_id")
        return self.get_filter_group(str(created), integration)

    def update_filter_group(self, group_id: str, fields: dict[str, Any], integration: str | None = None) -> FilterGroup:
        """PATCH only ``fields`` (e.g. ``{"monitoring_mode": True}``) and return the group as it is now."""
        if not fields:
            raise ValueError("nothing to update")
        integration = self._integration(integration)
        group_id = _checked_id(group_id, "filter group")
        path = FILTER_GROUP_PATH.format(integration=integration, group_id=group_id)
        try:
            payload = self._http.json("PATCH", path, json=fields)
        except VendorRejected as exc:
            raise self._not_found(exc, f"filter group {group_id} in integration {integration}") from None
        answer = unwrap(payload, "the filter group update")
        if isinstance(answer, dict) and answer.get("id") is not None and "name" in answer:
            return _model(FilterGroup, answer, "the filter group update")
        # The documented answer is empty: read the group back for its state now.
        return self.get_filter_group(group_id, integration)

    def delete_filter_group(self, group_id: str, integration: str | None = None) -> None:
        integration = self._integration(integration)
        group_id = _checked_id(group_id, "filter group")
        try:
            self._http.request("DELETE", FILTER_GROUP_PATH.format(integration=integration, group_id=group_id))
        except VendorRejected as exc:
            raise self._not_found(exc, f"filter group {group_id} in integration {integration}") from None

    def _bulk(
        self, method: str, ids: Sequence[str], extra: dict[str, Any], integration: str | None,
        action: Literal["update", "delete"],
    ) -> BulkResult:
        integration = self._integration(integration)
        if isinstance(ids, str):
            raise ValueError("ids must be a sequence of ids, not one string")
        wanted = list(dict.fromkeys(_checked_id(i, "filter group") for i in ids))
        if not wanted:
            raise ValueError("no filter group ids given")
        path = FILTER_GROUPS_PATH.format(integration=integration)
        results = []
        for start in range(0, len(wanted), BULK_MAX):
            chunk = wanted[start:start + BULK_MAX]
            try:
                response = self._http.request(
                    method, path, params=self._organization_query(), json={"data": chunk, **extra}
                )
            except VendorRejected as exc:
                raise self._not_found(exc, f"such filter groups in integration {integration}") from None
            try:
                payload = response.json() if response.content.strip() else {}
            except ValueError:
                payload = {}  # the docs promise nothing here; the status already said it worked
            results.append(bulk_result(payload, chunk, action))
        return BulkResult(
            requested=wanted,
            changed=[i for r in results for i in r.changed],
            confirmed=all(r.confirmed for r in results),
        )

    def bulk_update_filter_groups(
        self, ids: Sequence[str], monitoring_mode: bool, integration: str | None = None
    ) -> BulkResult:
        """Set ``monitoring_mode`` on many groups at once (``PATCH`` of the collection)."""
        return self._bulk("PATCH", ids, {"monitoring_mode": bool(monitoring_mode)}, integration, "update")

    def bulk_delete_filter_groups(self, ids: Sequence[str], integration: str | None = None) -> BulkResult:
        return self._bulk("DELETE", ids, {}, integration, "delete")

    # -- Download Center ----------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> str:
        """Start a Download Center export; return its id (see :func:`export_query` for params)."""
        kind, query = export_query(params)
        integration = self._integration(params.get("integration"))
        payload = self._http.json("POST", _EXPORT_PATHS[kind].format(integration=integration), params=query)
        export: Export = _model(Export, unwrap(payload, "the export request"), "the export request")
        if not _ID.fullmatch(export.id):
            raise _protocol("the export request", "no usable export id")
        return export.id

    def check(self, export_id: str) -> ExportStatus:
        export = self.get_export(export_id)
        if export.status.strip().upper() != "COMPLETED":
            return status_of(export, secrets=self._secrets)
        if not export.artifact_name:
            raise _protocol("the export status", "COMPLETED without an artifact name")
        return status_of(export, self.export_url(export.artifact_name), secrets=self._secrets)

    def list_exports(self, *, page_size: int = 20) -> list[Export]:
        """The most recent exports (one page)."""
        size = min(max(1, page_size), PAGE_SIZE_MAX)
        payload = self._http.json("GET", EXPORTS_PATH, params={"page[number]": 1, "page[size]": size})
        items = unwrap(payload, "the export list")
        if not isinstance(items, list):
            raise _protocol("the export list", "no data list")
        return [_model(Export, item, "the export list") for item in items]

    def get_export(self, export_id: str) -> Export:
        if not _ID.fullmatch(export_id):
            raise ValueError(f"not a 24Metrics export id: {export_id[:80]!r}")
        try:
            payload = self._http.json("GET", EXPORT_PATH.format(export_id=export_id))
        except VendorRejected as exc:
            if exc.status != 404:
                raise
            raise VendorRejected(
                VENDOR, f"{VENDOR} no longer knows export {export_id} (404); it may have been deleted. "
                "Run the command again.", status=404, reason=exc.reason,
            ) from None
        return _model(Export, unwrap(payload, "the export status"), "the export status")

    def delete_export(self, export_id: str) -> None:
        if not _ID.fullmatch(export_id):
            raise ValueError(f"not a 24Metrics export id: {export_id[:80]!r}")
        try:
            self._http.request("DELETE", EXPORT_PATH.format(export_id=export_id))
        except VendorRejected as exc:
            raise self._not_found(exc, f"export {export_id}") from None

    def export_url(self, artifact_name: str) -> str:
        """The signed download URL of an export's file."""
        try:
            payload = self._http.json("GET", EXPORT_URL_PATH, params={"artifact_name": artifact_name})
        except VendorRejected as exc:
            if exc.status != 404:
                raise
            raise VendorRejected(
                VENDOR, f"{VENDOR} no longer has the file of that export (404); it may have expired. "
                "Run the command again.", status=404, reason=exc.reason,
            ) from None
        answer = unwrap(payload, "the download link")
        url = answer.get("url") if isinstance(answer, dict) else answer if isinstance(answer, str) else None
        if not isinstance(url, str) or not url:
            raise _protocol("the download link", "no url")
        if url.startswith("/"):
            url = urljoin(self.base_url, url)
        return url

    # -- reports ------------------------------------------------------------------------------

    def report_rows(
        self,
        table: Literal["click", "conversion", "impression"],
        params: dict[str, Any],
        *,
        max_rows: int,
        page_size: int = PAGE_SIZE_MAX,
    ) -> ReportPage:
        """Rows of a report table, newest first, following cursors until ``max_rows`` or the end.

        ``params``: ``start_date``, ``end_date`` and any vendor filter, passed as given;
        ``integration`` (or ``integration_id``) defaults to the client's.
        """
        if table not in _TABLE_PATHS:
            raise ValueError(f"no 24Metrics report table {table!r}")
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        query = _report_query(params, self._integration(params.get("integration") or params.get("integration_id")))
        size = min(max(1, page_size), PAGE_SIZE_MAX)
        rows: list[dict[str, Any]] = []
        pages = 0
        total: int | None = None
        after: str | None = None
        seen: set[str] = set()
        what = f"the {table} report"
        while True:
            page_query = {**query, "page[size]": min(size, max_rows - len(rows))}
            if after is not None:
                page_query["page[after]"] = after
            table_body = unwrap(self._read_page(_TABLE_PATHS[table], page_query), what)
            if not isinstance(table_body, dict) or not isinstance(table_body.get("data"), list):
                raise _protocol(what, "no data list")
            pages += 1
            if isinstance(table_body.get("count"), int):
                total = table_body["count"]
            items = [item for item in table_body["data"] if isinstance(item, dict)]
            rows.extend(items)
            info = table_body.get("pageInfo") if isinstance(table_body.get("pageInfo"), dict) else {}
            more = bool(info.get("hasNextPage")) and bool(items)
            if len(rows) >= max_rows:
                return ReportPage(rows[:max_rows], complete=not more and len(rows) <= max_rows, pages=pages, total=total)
            if not more:
                return ReportPage(rows, complete=True, pages=pages, total=total)
            cursor = info.get("endCursor")
            if not isinstance(cursor, str) or not cursor or cursor in seen:
                raise _protocol(what, "a next page without a new cursor")
            seen.add(cursor)
            after = cursor

    def _lookup(self, path: str, key: str, value: str, params: dict[str, Any], what: str) -> dict[str, Any] | None:
        if not value or not str(value).strip():
            raise _user_error(f"Give the {key} to look up.")
        query = _report_query(params, self._integration(params.get("integration") or params.get("integration_id")))
        query[key] = str(value).strip()
        try:
            payload = self._http.json("GET", path, params=query)
        except VendorRejected as exc:
            if exc.status == 404:
                return None
            raise
        row = unwrap(payload, what)
        if row in (None, {}):
            return None
        if not isinstance(row, dict):
            raise _protocol(what, "not an object")
        return row

    def click(self, tx_id: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One click by transaction id; ``params`` needs ``request_date``, ``offer`` and ``publisher``."""
        return self._lookup(CLICK_PATH, "tx_id", tx_id, params, "the click lookup")

    def conversion(self, conversion_hash: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One conversion or event by hash; ``params`` needs ``request_date``, ``offer`` and ``publisher``."""
        return self._lookup(CONVERSION_PATH, "hash", conversion_hash, params, "the conversion lookup")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Metrics24Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

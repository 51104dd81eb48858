"""The 24Metrics HTTP client: filter groups, Download Center exports, report tables, lookups.

`Metrics24Client` sends the requests. The paths and limits are in `workers.vendors.metrics24.api`,
how params become queries and answers become models in `workers.vendors.metrics24.models`, and
the page walks in `workers.vendors.metrics24.paging`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urljoin

import httpx
from pydantic import SecretStr

from workers.errors import VendorRejected
from workers.vendors.exports import ExportStatus
from workers.vendors.http import VendorHTTP
from workers.vendors.metrics24.api import (
    BULK_MAX,
    CLICK_PATH,
    CONVERSION_PATH,
    EXPORT_PATH,
    EXPORT_PATHS,
    EXPORT_URL_PATH,
    EXPORTS_PATH,
    FILTER_GROUP_PATH,
    FILTER_GROUPS_PATH,
    ID_PATTERN,
    INTEGRATION_VARIABLE,
    KEY_VARIABLE,
    ORGANIZATION_VARIABLE,
    PAGE_RETRIES,
    PAGE_SIZE_MAX,
    TABLE_PATHS,
    VENDOR,
)
from workers.vendors.metrics24.models import (
    BulkResult,
    Export,
    FilterGroup,
    ReportPage,
    bulk_result,
    checked_id,
    export_query,
    parse_model,
    protocol_error,
    report_query,
    status_of,
    unwrap,
    user_error,
)
from workers.vendors.metrics24.paging import CursorPage, cursor_page, numbered_pages
from workers.vendors.metrics24.recovery import RECENT_EXPORTS, created_since

__all__ = ["Metrics24Client"]


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
        return checked_id(chosen, "integration")

    def _organization_query(self) -> dict[str, str]:
        return {"organization": self.organization_id} if self.organization_id else {}

    def _not_found(self, exc: VendorRejected, what: str) -> VendorRejected:
        if exc.status != 404:
            return exc
        return VendorRejected(
            VENDOR, f"{VENDOR} has no {what} (404). Check the id, or list them again.", status=404, reason=exc.reason
        )

    # -- filter groups ------------------------------------------------------------------------

    def list_filter_groups(self, integration: str | None = None, *, name_contains: str | None = None) -> list[FilterGroup]:
        """Every filter group of the integration (all pages), optionally those whose name contains the text.

        The name match is ours (case-insensitive substring): the API's filter operators for
        text are not documented.
        """
        integration = self._integration(integration)
        path = FILTER_GROUPS_PATH.format(integration=integration)
        groups: dict[str, FilterGroup] = {}
        for items in numbered_pages(self._http, path, "the filter group list", retries=self.page_retries):
            for item in items:
                group: FilterGroup = parse_model(FilterGroup, item, "the filter group list")
                groups.setdefault(group.id, group)  # a group created mid-walk shifts pages; keep one copy
        found = list(groups.values())
        if name_contains and name_contains.strip():
            needle = name_contains.strip().casefold()
            found = [g for g in found if needle in g.name.casefold()]
        return found

    def get_filter_group(self, group_id: str, integration: str | None = None) -> FilterGroup:
        integration = self._integration(integration)
        group_id = checked_id(group_id, "filter group")
        try:
            payload = self._http.json("GET", FILTER_GROUP_PATH.format(integration=integration, group_id=group_id))
        except VendorRejected as exc:
            raise self._not_found(exc, f"filter group {group_id} in integration {integration}") from None
        return parse_model(FilterGroup, unwrap(payload, "the filter group"), "the filter group")

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
            return parse_model(FilterGroup, answer, "the new filter group")
        created = answer.get("created_item_id") if isinstance(answer, dict) else None
        if created in (None, ""):
            raise protocol_error("the new filter group", "no created_item_id")
        return self.get_filter_group(str(created), integration)

    def update_filter_group(self, group_id: str, fields: dict[str, Any], integration: str | None = None) -> FilterGroup:
        """PATCH only ``fields`` (e.g. ``{"monitoring_mode": True}``) and return the group as it is now."""
        if not fields:
            raise ValueError("nothing to update")
        integration = self._integration(integration)
        group_id = checked_id(group_id, "filter group")
        path = FILTER_GROUP_PATH.format(integration=integration, group_id=group_id)
        try:
            payload = self._http.json("PATCH", path, json=fields)
        except VendorRejected as exc:
            raise self._not_found(exc, f"filter group {group_id} in integration {integration}") from None
        answer = unwrap(payload, "the filter group update")
        if isinstance(answer, dict) and answer.get("id") is not None and "name" in answer:
            return parse_model(FilterGroup, answer, "the filter group update")
        # The documented answer is empty: read the group back for its state now.
        return self.get_filter_group(group_id, integration)

    def delete_filter_group(self, group_id: str, integration: str | None = None) -> None:
        integration = self._integration(integration)
        group_id = checked_id(group_id, "filter group")
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
        wanted = list(dict.fromkeys(checked_id(i, "filter group") for i in ids))
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
        payload = self._http.json("POST", EXPORT_PATHS[kind].format(integration=integration), params=query)
        export: Export = parse_model(Export, unwrap(payload, "the export request"), "the export request")
        if not ID_PATTERN.fullmatch(export.id):
            raise protocol_error("the export request", "no usable export id")
        return export.id

    def check(self, export_id: str) -> ExportStatus:
        export = self.get_export(export_id)
        if export.status.strip().upper() != "COMPLETED":
            return status_of(export, secrets=self._secrets)
        if not export.artifact_name:
            raise protocol_error("the export status", "COMPLETED without an artifact name")
        return status_of(export, self.export_url(export.artifact_name), secrets=self._secrets)

    def recover(self, params: dict[str, Any], *, since: float) -> str | None:
        """The export an earlier, unanswered create for ``params`` made since ``since``, if listed."""
        kind, query = export_query(params)
        integration = self._integration(params.get("integration"))
        return created_since(self.list_exports(page_size=RECENT_EXPORTS), kind, integration, query, since)

    def list_exports(self, *, page_size: int = 20) -> list[Export]:
        """The most recent exports (one page)."""
        size = min(max(1, page_size), PAGE_SIZE_MAX)
        payload = self._http.json("GET", EXPORTS_PATH, params={"page[number]": 1, "page[size]": size})
        items = unwrap(payload, "the export list")
        if not isinstance(items, list):
            raise protocol_error("the export list", "no data list")
        return [parse_model(Export, item, "the export list") for item in items]

    def get_export(self, export_id: str) -> Export:
        if not ID_PATTERN.fullmatch(export_id):
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
        return parse_model(Export, unwrap(payload, "the export status"), "the export status")

    def delete_export(self, export_id: str) -> None:
        if not ID_PATTERN.fullmatch(export_id):
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
            raise protocol_error("the download link", "no url")
        if url.startswith("/"):
            url = urljoin(self.base_url, url)
        return url

    # -- reports ------------------------------------------------------------------------------

    def _report_query(self, table: str, params: dict[str, Any]) -> dict[str, str]:
        if table not in TABLE_PATHS:
            raise ValueError(f"no 24Metrics report table {table!r}")
        return report_query(params, self._integration(params.get("integration") or params.get("integration_id")))

    def report_page(
        self,
        table: Literal["click", "conversion", "impression"],
        params: dict[str, Any],
        *,
        after: str | None = None,
        page_size: int = PAGE_SIZE_MAX,
    ) -> CursorPage:
        """One page of a report table, newest first: the first, or the one after cursor ``after`` (a
        page's ``next_cursor``); storing that cursor lets a long walk resume where it stopped."""
        query = self._report_query(table, params)
        size = min(max(1, page_size), PAGE_SIZE_MAX)
        return cursor_page(
            self._http, TABLE_PATHS[table], query, after=after, size=size, retries=self.page_retries,
            what=f"the {table} report",
        )

    def report_rows(
        self,
        table: Literal["click", "conversion", "impression"],
        params: dict[str, Any],
        *,
        max_rows: int,
        page_size: int = PAGE_SIZE_MAX,
    ) -> ReportPage:
        """Rows of a report table, newest first, following cursors until ``max_rows`` or the end (all
        in memory: long walks read :meth:`report_page` by page). ``params``: ``start_date``,
        ``end_date``, vendor filters; ``integration`` (or ``integration_id``) defaults to the client's."""
        self._report_query(table, params)  # refuse a bad table or params before any call
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        size = min(max(1, page_size), PAGE_SIZE_MAX)
        rows: list[dict[str, Any]] = []
        pages = 0
        total: int | None = None
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = self.report_page(table, params, after=after, page_size=min(size, max_rows - len(rows)))
            pages += 1
            total = page.total if page.total is not None else total
            rows.extend(page.items)
            if len(rows) >= max_rows or page.next_cursor is None:
                complete = page.next_cursor is None and len(rows) <= max_rows
                return ReportPage(rows[:max_rows], complete=complete, pages=pages, total=total)
            if page.next_cursor in seen:
                raise protocol_error(f"the {table} report", "a next page without a new cursor")
            seen.add(page.next_cursor)
            after = page.next_cursor

    def _lookup(self, path: str, key: str, value: str, params: dict[str, Any], what: str) -> dict[str, Any] | None:
        if not value or not str(value).strip():
            raise user_error(f"Give the {key} to look up.")
        query = report_query(params, self._integration(params.get("integration") or params.get("integration_id")))
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
            raise protocol_error(what, "not an object")
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

"""24Metrics (ClickShield API v2) as we know it: names, endpoint paths, limits and field names.

Confirmed by the vendor's docs: the ``API-KEY`` header, ``/api/v2/`` paths, objects wrapped in
``{"data": ...}``, numbered pages (``page[number]``, ``page[size]`` ≤ 100, ``meta.total_page``),
cursor pages on report tables (``page[after]``, ``data.pageInfo.{endCursor,hasNextPage}``,
newest first) and the field names read here. Only ``CONVERSION_TABLE_PATH`` is a confirmed path;
every other path is inferred from the operation names (see NOTES.md), so each is one constant.
"""

from __future__ import annotations

import re

__all__ = [
    "APPROVED",
    "BULK_MAX",
    "CLICKS_EXPORT_PATH",
    "CLICK_PATH",
    "CLICK_TABLE_PATH",
    "CONVERSIONS_EXPORT_PATH",
    "CONVERSION_PATH",
    "CONVERSION_TABLE_PATH",
    "DEFAULT_FIELDS",
    "DELIMITERS",
    "EXPORTS_PATH",
    "EXPORT_PATH",
    "EXPORT_PATHS",
    "EXPORT_TYPES",
    "EXPORT_URL_PATH",
    "FILTER_GROUPS_PATH",
    "FILTER_GROUP_PATH",
    "ID_PATTERN",
    "IMPRESSIONS_EXPORT_PATH",
    "IMPRESSION_TABLE_PATH",
    "INTEGRATION_VARIABLE",
    "KEY_VARIABLE",
    "MAX_PAGES",
    "ORGANIZATION_VARIABLE",
    "PAGE_BACKOFF",
    "PAGE_RETRIES",
    "PAGE_RETRY_MAX_WAIT",
    "PAGE_SIZE_MAX",
    "PUBLISHER_FIELD",
    "PUBLISHER_NAME_FIELD",
    "REASON_FIELD",
    "TABLE_PATHS",
    "VENDOR",
]

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

#: The create path of a Download Center export, by kind.
EXPORT_PATHS = {
    "clicks": CLICKS_EXPORT_PATH,
    "conversions": CONVERSIONS_EXPORT_PATH,
    "impressions": IMPRESSIONS_EXPORT_PATH,
}
#: The report table path, by table.
TABLE_PATHS = {"click": CLICK_TABLE_PATH, "conversion": CONVERSION_TABLE_PATH, "impression": IMPRESSION_TABLE_PATH}

# Ids go into paths: anything that could step out of a path segment is refused.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

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

#: Report row fields a fraud summary groups by (see `workers.vendors.metrics24.rows`).
REASON_FIELD = "rejected_simple_reason"
PUBLISHER_FIELD = "publisher"
PUBLISHER_NAME_FIELD = "publisher_name"
#: A click's ``status`` when 24Metrics let it through.
APPROVED = "Approved"

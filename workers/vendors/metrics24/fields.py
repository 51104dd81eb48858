"""The columns a Download Center export may name in ``fields=``, per table.

The API docs say only that ``fields`` is "the columns to include in the CSV"; the names are
the report rows' fields (``report.Click``, ``report.Conversion``, ``report.Impression``), as
the sandbox models them (a test keeps the two in step). Extra parameters are not fields: they
go in ``extra=``. Checking at parse time turns a typo into a suggestion at once, instead of a
vendor error minutes later.
"""

from __future__ import annotations

__all__ = ["FIELDS", "fields_help"]

#: Fields of every table.
_COMMON = (
    "real_tx_id", "tx_id", "request_time", "integration_id", "organization_id", "integration_type", "offer",
    "offer_id", "real_offer_id", "publisher", "real_publisher", "publisher_db_id", "advertiser", "real_advertiser",
    "country", "city", "click_ip", "device_type", "os_name", "os_version", "is_bot", "status", "filter_group_id",
    "real_filter_group_id", "rejected_simple_reason", "rejected_advanced_reason", "rejection_type", "rejections",
    "payout", "revenue",
)
#: Clicks and impressions both have these.
_TRAFFIC = (
    "request_date", "offer_db_id", "isp", "proxy_type", "browser_name", "user_agent", "blocked", "monitoring_mode",
    "rejected_primary_reason", "sub_id",
)
_IMPRESSION = ("site_url", "bundle_id")
_CONVERSION = (
    "hash", "click_tx_id", "click_time", "conversion_time", "offer_id_name", "publisher_name", "advertiser_name",
    "conversion_ip", "event_name", "event_id", "rejected", "real_rejected_simple_reason",
    "real_rejected_advanced_reason", "is_click_spam", "session_time",
)

FIELDS: dict[str, tuple[str, ...]] = {
    "clicks": _COMMON + _TRAFFIC,
    "conversions": _COMMON + _CONVERSION,
    "impressions": _COMMON + _TRAFFIC + _IMPRESSION,
}


def fields_help() -> str:
    """The valid ``fields=`` per table, grouped so the help stays short (mrkdwn)."""

    def listed(names: tuple[str, ...]) -> str:
        return ", ".join(f"`{name}`" for name in names)

    return (
        f"Every table: {listed(_COMMON)}. Clicks and impressions also: {listed(_TRAFFIC)}; "
        f"impressions also: {listed(_IMPRESSION)}. Conversions also: {listed(_CONVERSION)}."
    )

"""Reading 24Metrics report rows: was it rejected, why, and by which publisher.

Fraud summaries and lookup cards read report rows with the vendor's own field names:

- rejected or not: clicks ``status`` (``"Approved"`` when let through; any other value, or
  ``blocked`` = 1, is a rejection), conversions ``rejected`` (0/1) beside the same ``status``;
- why: ``rejected_simple_reason`` (a category such as "Proxy/VPN"; group by this), with
  ``rejected_advanced_reason`` as the detail, ``rejected_primary_reason`` (clicks) and the
  ``rejections`` list as fallbacks; conversions also carry ``real_rejected_simple_reason``;
- who: ``publisher`` (the publisher id; group by this), labelled with ``publisher_name`` where
  the row has one (conversion rows do, click rows do not); ``publisher_db_id`` and
  ``real_publisher`` are other ids of the same publisher.

:func:`is_rejected`, :func:`rejection_reason` and :func:`publisher_of` read exactly these;
:func:`when` shows a row's (or an export's) ISO time as Slack shows dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from workers.render import Mrkdwn, date, escape
from workers.vendors.metrics24.api import APPROVED, PUBLISHER_FIELD, PUBLISHER_NAME_FIELD, REASON_FIELD

__all__ = ["is_rejected", "publisher_of", "rejection_reason", "when"]


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


def when(value: str | None) -> Mrkdwn | None:
    """An ISO time as Slack shows dates (the reader's own zone); the text itself if it is not one."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return escape(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return date(moment.timestamp())

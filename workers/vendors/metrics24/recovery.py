"""Finding the Download Center export an earlier create made when its answer never came back.

24Metrics takes no idempotency key, so a create that timed out may have made an export that a
second create would duplicate. Its Download Center does list recent exports with what was asked
(type, integration, range, fields), so before a retry creates again the step looks for one that
matches this job's request and was made since the job began (:meth:`Metrics24Client.recover`).
A match made by another job asking exactly the same is as good: it holds the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from workers.vendors.metrics24.models import Export

__all__ = ["CLOCK_SKEW", "RECENT_EXPORTS", "created_since"]

#: How many of the newest exports are looked through (one page).
RECENT_EXPORTS = 50
#: 24Metrics' clock may differ from ours: an export stamped this much before the job began still
#: counts as made since.
CLOCK_SKEW = 120.0


def created_since(exports: Sequence[Export], kind: str, integration: str, query: dict[str, str],
                  since: float) -> str | None:
    """The id of the oldest export in ``exports`` (newest first, as listed) asked exactly as
    ``kind``/``query`` ask, in ``integration``, made at or after ``since`` less the clock skew."""
    found = [e for e in exports if _same_request(e, kind, integration, query) and _made_since(e, since - CLOCK_SKEW)]
    return found[-1].id if found else None


def _same_request(export: Export, kind: str, integration: str, query: dict[str, str]) -> bool:
    if export.kind != kind or (export.integration is not None and export.integration != integration):
        return False
    if export.requested_range != (query["start_date"], query["end_date"]):
        return False
    asked = export.reports_query_option or {}
    listed = export.export_list_options or {}
    fields = _names(asked.get("include_fields", listed.get("fields")))
    if fields is None or fields != _names(query["fields"]):
        return False
    extra = _names(asked.get("extra_parameters_as_new_fields", listed.get("extra_parameters")))
    if extra is not None and extra != _names(query.get("extra_parameters", "")):
        return False
    delimiter = (export.format or {}).get("delimiter")
    return delimiter is None or delimiter == query.get("delimiter", ",")


def _names(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    return None


def _made_since(export: Export, since: float) -> bool:
    # An export whose time we cannot read is not taken: a duplicate beats adopting a stale file.
    try:
        made = datetime.fromisoformat(str(export.created_at))
    except ValueError:
        return False
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    return made.timestamp() >= since

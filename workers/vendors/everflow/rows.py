"""Impressions as CSV rows: nested objects flattened into dotted columns, a stable column order,
and the tally the result message shows (top offers, top countries)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["KNOWN_COLUMNS", "column_order", "flatten", "tally"]

#: The columns we know, in the order the CSV shows them; any other column follows, sorted.
KNOWN_COLUMNS = (
    "unix_timestamp", "impression_id", "transaction_id",
    "relationship.offer.network_offer_id", "relationship.offer.name",
    "relationship.advertiser.network_advertiser_id", "relationship.advertiser.name",
    "relationship.affiliate.network_affiliate_id", "relationship.affiliate.name",
    "relationship.geolocation.country_code", "relationship.geolocation.country_name",
    "relationship.geolocation.region_name", "relationship.geolocation.city_name",
    "relationship.device_information.platform", "relationship.device_information.os_version",
    "relationship.device_information.device_type", "relationship.device_information.brand",
    "relationship.device_information.browser",
    "source_id", "sub1", "sub2", "sub3", "sub4", "sub5", "is_unique",
)
_RANK = {name: i for i, name in enumerate(KNOWN_COLUMNS)}


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"relationship": {"offer": {"name": "A"}}}`` -> ``{"relationship.offer.name": "A"}``.

    Lists are kept whole, as JSON text, in one column: their length varies from row to row."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value, separators=(",", ":"), sort_keys=True)
        else:
            out[name] = value
    return out


def column_order(seen: Iterable[str]) -> list[str]:
    """Known columns first in their fixed order, then any others sorted (pure, stable)."""
    unique = set(seen)
    return sorted(unique, key=lambda c: (0, _RANK[c], "") if c in _RANK else (1, 0, c))


def _offer(row: Mapping[str, Any]) -> str:
    name, offer_id = row.get("relationship.offer.name"), row.get("relationship.offer.network_offer_id")
    if name and offer_id is not None:
        return f"{name} ({offer_id})"
    return str(name or offer_id or "unknown")


def tally(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts by offer ("Acme (882)") and by country name, of flattened rows."""
    offers: dict[str, int] = {}
    countries: dict[str, int] = {}
    for row in rows:
        offer = _offer(row)
        offers[offer] = offers.get(offer, 0) + 1
        country = str(row.get("relationship.geolocation.country_name") or row.get(
            "relationship.geolocation.country_code") or "unknown")
        countries[country] = countries.get(country, 0) + 1
    return {"offer": offers, "country": countries}

"""Everflow's query filters: every documented ``resource_type``, and the request's ``filters`` list.

Filters of one resource_type are OR-ed, different types AND-ed (the vendor's rule), so one option
per type with a comma-separated list says exactly that: ``offer=882,883 country=US`` is
"offer 882 or 883, in the United States".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from workers.vendors.everflow.countries import country_name

__all__ = ["RESOURCE_TYPES", "filters_of", "grouped"]

#: As documented, in the documented order.
RESOURCE_TYPES = (
    "offer", "offer_group", "affiliate", "advertiser", "creative", "network", "account_manager",
    "affiliate_manager", "category", "billing_frequency", "country", "region", "city", "dma", "carrier",
    "device_platform", "device_type", "device_make", "browser", "language", "connection_type", "campaign",
    "source_id", "offer_url", "device_model", "business_unit", "label", "sales_manager", "account_executive",
    "everflow_account_manager", "os_version", "project_id", "isp", "offer_status", "sub1", "sub2", "sub3",
    "sub4", "sub5", "channel", "coupon_code", "affiliate_tier",
)


def filters_of(values: Mapping[str, Iterable[str]]) -> list[dict[str, str]]:
    """The request's ``query.filters`` from option values by resource_type (countries by name).

    Raises :class:`~workers.vendors.everflow.countries.CountryError` for a country we cannot name.
    """
    out = []
    for kind in RESOURCE_TYPES:  # a stable order: the same command makes the same request
        for value in values.get(kind, ()):
            text = country_name(value) if kind == "country" else str(value).strip()
            item = {"filter_id_value": text, "resource_type": kind}
            if item not in out:
                out.append(item)
    return out


def grouped(filters: Iterable[Mapping[str, str]]) -> dict[str, list[str]]:
    """``filters`` by resource_type: what the vendor's OR/AND rule works on."""
    out: dict[str, list[str]] = {}
    for item in filters:
        out.setdefault(str(item["resource_type"]), []).append(str(item["filter_id_value"]))
    return out

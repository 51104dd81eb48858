"""The sandbox's impressions: a pure function of the seed and the second, generated on the fly.

No row is stored: an hour's impressions of one offer are ``count(hour, offer)`` rows spread
evenly over the hour (row ``i`` at ``hour + i * 3600 // count``, so several may share a second),
each one's fields drawn from a 64-bit hash of (seed, hour, offer, i). Counting the rows of a
window needs arithmetic only, unless a filter on something other than the offer is given; so a
million-row range costs nothing until its rows are asked for.

Traffic: each offer has a daily base; dense days come in pairs (a fifth of them, three times the
base, by the day's hash), ordinary days vary by 20 %, and hours follow a daily curve. Quiet
stretches: offer 518 pauses 8 days in every 35, offer 882 3 days in every 23, and offer 999 never
has any traffic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["FIELDS", "OFFERS", "count", "rows"]

MASK = (1 << 64) - 1
#: offer id -> (name, advertiser id, advertiser name, impressions a day on an ordinary day)
OFFERS: dict[int, tuple[str, int, str, int]] = {
    882: ("Acme Summer Sale", 41, "Acme Retail", 7000),
    883: ("Beta Games CPI", 42, "Beta Games", 2000),
    518: ("Gamma Finance Leads", 43, "Gamma Finance", 500),
    999: ("Paused Offer", 41, "Acme Retail", 0),
}
_COUNTRIES = (("US", "United States", 40), ("DE", "Germany", 12), ("GB", "United Kingdom", 12),
              ("FR", "France", 10), ("BR", "Brazil", 10), ("IN", "India", 8), ("JP", "Japan", 5), ("CA", "Canada", 3))
_COUNTRY_TABLE = [c for c in _COUNTRIES for _ in range(c[2])]  # 100 entries, by weight
_AFFILIATES = ((7, "Northwind Media"), (12, "Blue Orbit Ads"), (19, "Clickhaven"), (33, "Pixel Harbor"))
_DEVICES = (("iOS", "17.2", "Mobile", "Apple", "Safari"), ("Android", "14.0", "Mobile", "Samsung", "Chrome"),
            ("Windows", "11", "Desktop", "Microsoft", "Edge"), ("macOS", "14.4", "Desktop", "Apple", "Safari"))
#: The hour-of-day curve (UTC), averaging 1.
_CURVE = tuple(0.5 + 0.5 * (1 - abs(h - 14) / 12) * 2 * 12 / 13 for h in range(24))
_CURVE = tuple(c * 24 / sum(_CURVE) for c in _CURVE)

#: What the filters can match, by resource_type: a row attribute (see :func:`_attrs`).
FIELDS = ("offer", "advertiser", "affiliate", "country", "device_platform", "os_version", "device_type",
          "device_make", "browser", "sub1", "sub2", "source_id")


def _mix(*parts: int) -> int:
    """splitmix64 over the parts: cheap, well spread, the same everywhere."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = (x ^ (part & MASK)) & MASK
        x = (x + 0x9E3779B97F4A7C15) & MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
        x ^= x >> 31
    return x


def level(seed: int, day: int, offer: int) -> float:
    """The day's multiplier for the offer: 0 in a quiet stretch, 3 on a dense day, else 0.8-1.2."""
    if offer == 518 and day % 35 < 8:
        return 0.0  # paused 8 days in 35
    if offer == 882 and day % 23 < 3:
        return 0.0  # paused 3 days in 23
    run = _mix(seed, day // 2, 0xDA7) % 1000  # dense days come in pairs (a promotion)
    if run < 200:
        return 3.0
    return 0.8 + 0.4 * (_mix(seed, day, 0xDA8) % 1000) / 1000


def count(seed: int, hour: int, offer: int) -> int:
    """Impressions of ``offer`` in the hour starting at UTC second ``hour * 3600``."""
    base = OFFERS[offer][3]
    if not base:
        return 0
    day_level = level(seed, hour // 24, offer)
    if not day_level:
        return 0
    noise = 0.9 + 0.2 * (_mix(seed, hour, offer) % 1000) / 1000
    return round(base / 24 * day_level * _CURVE[hour % 24] * noise)


def _index(offset: int, n: int) -> int:
    """The first row index of an hour of ``n`` rows whose second is at or after ``offset``."""
    return min(n, max(0, -(-offset * n // 3600)))


def span(seed: int, hour: int, offer: int, first: int, last: int) -> tuple[int, int, int]:
    """Row indexes ``[lo, hi)`` of the hour's rows between UTC seconds ``first`` and ``last``."""
    n = count(seed, hour, offer)
    start = hour * 3600
    return n, _index(first - start, n), _index(last - start + 1, n)


def _attrs(x: int, offer: int) -> dict[str, str]:
    code, name, _ = _COUNTRY_TABLE[x % 100]
    affiliate = _AFFILIATES[(x >> 8) % len(_AFFILIATES)]
    platform, os_version, device_type, make, browser = _DEVICES[(x >> 12) % len(_DEVICES)]
    return {
        "offer": str(offer), "advertiser": str(OFFERS[offer][1]), "affiliate": str(affiliate[0]), "country": name,
        "country_code": code, "device_platform": platform, "os_version": os_version, "device_type": device_type,
        "device_make": make, "browser": browser, "sub1": f"s{(x >> 16) % 5}", "sub2": f"p{(x >> 20) % 3}",
        "source_id": f"src-{(x >> 24) % 9}", "affiliate_name": affiliate[1],
    }


def matches(attrs: Mapping[str, str], filters: Mapping[str, Sequence[str]]) -> bool:
    """Everflow's rule: values of one resource_type OR-ed, different types AND-ed."""
    for kind, values in filters.items():
        got = attrs.get(kind)
        if got is None or not any(got.lower() == v.lower() or (kind == "country" and attrs["country_code"] == v.upper())
                                  for v in values):
            return False
    return True


def rows(seed: int, first: int, last: int, filters: Mapping[str, Sequence[str]],
         limit: int) -> Iterator[tuple[int, int, int, int, dict[str, str]]]:
    """(second, hour, offer, index, attrs) of each matching impression in ``[first, last]`` (UTC),
    in time order per offer-hour, stopping after ``limit`` + 1 (enough to tell "over the cap")."""
    offers = [o for o in OFFERS if "offer" not in filters or str(o) in filters["offer"]]
    others = {k: v for k, v in filters.items() if k != "offer"}
    found = 0
    for hour in range(first // 3600, last // 3600 + 1):
        for offer in offers:
            n, lo, hi = span(seed, hour, offer, first, last)
            for i in range(lo, hi):
                x = _mix(seed, hour, offer, i)
                attrs = _attrs(x, offer)
                if others and not matches(attrs, others):
                    continue
                found += 1
                yield hour * 3600 + i * 3600 // n, hour, offer, x, attrs
                if found > limit:
                    return


def total(seed: int, first: int, last: int, offers: Sequence[int] | None = None) -> int:
    """How many impressions ``[first, last]`` holds (offers filter only): arithmetic, no rows."""
    out = 0
    for hour in range(first // 3600, last // 3600 + 1):
        for offer in offers if offers is not None else OFFERS:
            _, lo, hi = span(seed, hour, offer, first, last)
            out += hi - lo
    return out


def impression(second: int, offer: int, x: int, attrs: Mapping[str, str]) -> dict[str, Any]:
    """One row as the stream answers it: flat fields plus a nested ``relationship``."""
    name, advertiser_id, advertiser, _ = OFFERS[offer]
    return {
        "impression_id": f"{x:016x}",
        "transaction_id": f"{x >> 1:016x}"[:16],
        "unix_timestamp": second,
        "sub1": attrs["sub1"], "sub2": attrs["sub2"], "sub3": "", "sub4": "", "sub5": "",
        "source_id": attrs["source_id"],
        "is_unique": (x >> 40) & 1,
        "relationship": {
            "offer": {"network_offer_id": offer, "name": name},
            "advertiser": {"network_advertiser_id": advertiser_id, "name": advertiser},
            "affiliate": {"network_affiliate_id": int(attrs["affiliate"]), "name": attrs["affiliate_name"]},
            "geolocation": {"country_code": attrs["country_code"], "country_name": attrs["country"]},
            "device_information": {"platform": attrs["device_platform"], "os_version": attrs["os_version"],
                                   "device_type": attrs["device_type"], "brand": attrs["device_make"],
                                   "browser": attrs["browser"]},
        },
        # A field no documentation names: kept by the CSV as a column of its own.
        "sandbox_tier": "gold" if (x >> 44) % 4 == 0 else "standard",
    }

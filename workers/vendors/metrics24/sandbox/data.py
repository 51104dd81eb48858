"""24Metrics' fixed world: ids, publishers and rejection reasons, and the seeded filter groups.

Pure data and pure functions of the seed; the emulator's state starts from :func:`seed_groups`.
``__all__`` is what tests and tools use; the other tables here are read by the sibling modules.
"""

from __future__ import annotations

import random
import re
from typing import Any

from workers.vendors.metrics24.settings import Metrics24Settings

__all__ = [
    "CLICK_REASONS",
    "CONVERSION_REASONS",
    "DEFAULT_INTEGRATION",
    "EXAMPLE",
    "INTEGRATIONS",
    "MAX_EXPORT_DAYS",
    "ORGANIZATION",
    "PUBLISHERS",
    "SECOND_INTEGRATION",
    "group_id",
    "new_group",
    "seed_groups",
]

ORGANIZATION = "64b7f0c2e1a94d0012c3a000"
DEFAULT_INTEGRATION = "64b7f0c2e1a94d0012c3f001"
SECOND_INTEGRATION = "64b7f0c2e1a94d0012c3f002"
INTEGRATIONS = (DEFAULT_INTEGRATION, SECOND_INTEGRATION)

#: Longer export ranges are cut to their last this many days (``results_meta.range_truncated``):
#: the same number the ingress cuts at before anything is sent (``METRICS24_EXPORT_MAX_DAYS``).
MAX_EXPORT_DAYS: int = Metrics24Settings.model_fields["export_max_days"].default
PAGE_SIZE_MAX = 100
DEFAULT_PAGE_SIZE = 10
URL_LIFETIME = 3600
SEEDED_GROUPS = 130

#: (publisher id, name, share of clicks rejected, share of conversions rejected, reason weights).
PUBLISHERS: tuple[tuple[str, str, float, float, dict[str, int]], ...] = (
    ("1042", "Adverge Media", 0.04, 0.03, {"Proxy/VPN": 3, "Bot": 1, "Blacklisted IP": 1}),
    ("1077", "ClickHarbor", 0.35, 0.20, {"Click spamming": 8, "Proxy/VPN": 1, "Bot": 1}),
    ("1101", "Nimbus Apps", 0.08, 0.05, {"Proxy/VPN": 2, "Bot": 2, "Blacklisted IP": 1}),
    ("1123", "ProxyPush Network", 0.45, 0.30, {"Proxy/VPN": 9, "Blacklisted IP": 2}),
    ("1156", "BlueOcean Ads", 0.06, 0.04, {"Bot": 1, "Proxy/VPN": 1}),
    ("1190", "Install Rush", 0.20, 0.40, {"Click injection": 7, "Click spamming": 2, "Proxy/VPN": 1}),
    ("1204", "BotFarm Traffic", 0.60, 0.50, {"Bot": 9, "Proxy/VPN": 2}),
)
#: Share of traffic per publisher, same order: the clean ones send most, so about 15 % is rejected.
TRAFFIC = (30, 10, 25, 8, 20, 10, 5)
#: Reason category -> (filter type, advanced reasons).
REASONS = {
    "Proxy/VPN": ("PROXY", ("Datacenter IP (AWS)", "Residential proxy", "VPN exit node")),
    "Click spamming": ("CLICK_SPAM", ("More than 20 clicks per device in 1 hour", "Click flood from one IP")),
    "Bot": ("BOT", ("Headless browser (HeadlessChrome)", "Known bot user agent", "No JavaScript execution")),
    "Blacklisted IP": ("IP_BLACKLIST", ("IP on organization blacklist",)),
    "Click injection": ("CLICK_INJECTION", ("Click-to-install time under 10 s",)),
}
CLICK_REASONS = ("Proxy/VPN", "Click spamming", "Bot", "Blacklisted IP")
CONVERSION_REASONS = ("Click injection", "Click spamming", "Proxy/VPN", "Bot", "Blacklisted IP")
OFFERS = (("311", "Puzzle Quest – US"), ("312", "Puzzle Quest – DE"), ("420", "Run Fit iOS"), ("508", "Casino Royale CPA"))
ADVERTISER = ("77", "Example Games GmbH")
COUNTRIES = (("US", "New York"), ("DE", "Berlin"), ("GB", "London"), ("FR", "Paris"), ("BR", "São Paulo"),
              ("IN", "Mumbai"), ("JP", "Tokyo"))
DEVICES = (("mobile", "Android", ("13", "14")), ("mobile", "iOS", ("17.2", "17.5")), ("desktop", "Windows", ("10", "11")))
ISPS = ("Deutsche Telekom", "Comcast", "Vodafone", "Amazon.com", "Orange", "Jio")
EXTRA_KEYS = ("aff_click_id", "creative")

#: Every day's first click, and the first conversion from it, carry these: the `lookup` help
#: examples name them, so the examples find a record on any day.
EXAMPLE = {"tx_id": "102a3b4c5d", "hash": "9f8e7d6c", "offer": "311", "publisher": "1077"}

TABLES = {"click": "c", "conversion": "v", "impression": "i"}
KINDS = {"clicks": ("click", "click_logs"), "conversions": ("conversion", "conversion_logs"),
          "impressions": ("impression", "impression_logs")}
CURSOR = re.compile(r"(?P<table>[civ])(?P<day>\d{8})(?P<seq>\d{5})(?P<check>[0-9a-f]{8})")
HASH = re.compile(r"(?P<day>\d{8})(?P<seq>\d{5})(?P<check>[0-9a-f]{19})")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# -- filter groups ---------------------------------------------------------------------------

_FIXED_GROUPS = (
    # name, monitoring_mode, active, tags
    ("EU Mobile – strict", False, True, ["eu", "mobile"]),
    ("EU Mobile – strict (legacy)", False, False, ["eu", "mobile", "legacy"]),
    ("EU Mobile – relaxed", True, True, ["eu", "mobile"]),
    ("US Desktop – strict", False, True, ["us", "desktop"]),
    ("US CTV – monitoring", True, True, ["us", "ctv"]),
    ("Global Bot Shield", False, True, ["bots"]),
)
_REGIONS = ("EU", "US", "UK", "DACH", "LATAM", "APAC", "MENA", "Nordics", "India", "Global")
_CHANNELS = ("Mobile", "Desktop", "CTV", "In-App", "Web")
_TIERS = ("strict", "relaxed", "monitoring", "CPI", "CPA")
_SECOND_GROUPS = (
    ("APAC In-App – strict", False, True, ["apac"]),
    ("APAC In-App – relaxed", True, True, ["apac"]),
    ("Global Bot Shield", False, True, ["bots"]),
)
PATCHABLE = {
    "active": bool, "monitoring_mode": bool, "rtb_enabled": bool, "name": str, "description": str,
    "priority": int, "tags": list, "offer_ids": list, "publisher_ids": list, "advertiser_ids": list,
    "click_filter_preset_id": int, "conversion_filter_preset_id": int, "filters": list,
}


def group_id(integration: str, number: int) -> str:
    """The seeded group ids: ``66a0…01``..``66a0…82`` (default integration), ``66b0…01``.. (second)."""
    return f"{'66a0' if integration == DEFAULT_INTEGRATION else '66b0'}{number:020x}"


def new_group(integration: str, number: int, name: str, priority: int, monitoring: bool, active: bool,
           tags: list[str], created: str) -> dict[str, Any]:
    gid = group_id(integration, number)
    return {
        "id": gid, "name": name, "name_with_id": f"{name} ({gid})", "priority": priority,
        "active": active, "monitoring_mode": monitoring, "rtb_enabled": False,
        "integration": integration, "organization": ORGANIZATION,
        "description": f"{name} filters", "tags": list(tags), "tags_meta": [],
        "filters": [{"type": "BOT", "target": "click", "block_on_reject": True, "invert": False, "settings": None}],
        "offer_ids": [], "publisher_ids": [], "advertiser_ids": [],
        "click_filter_preset_id": 0, "conversion_filter_preset_id": 0,
        "created_at": created, "updated_at": created, "last_updated_by": "seed@example.com",
    }


def seed_groups(seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Filter groups per integration: 130 in the default one (priority = 10 × number), 3 in the second.

    Names are fixed; monitoring mode, state and tags of the generated ones follow the seed.
    """
    rng = random.Random(f"24metrics:{seed}:groups")
    groups: dict[str, dict[str, dict[str, Any]]] = {integration: {} for integration in INTEGRATIONS}
    names = [fixed[0] for fixed in _FIXED_GROUPS]
    combos = (f"{_REGIONS[i % 10]} {_CHANNELS[(i // 10) % 5]} – {_TIERS[i // 50]}" for i in range(250))
    names += [name for name in combos if name not in names][: SEEDED_GROUPS - len(names)]
    for number, name in enumerate(names, 1):
        if number <= len(_FIXED_GROUPS):
            _, monitoring, active, tags = _FIXED_GROUPS[number - 1]
        else:
            monitoring, active = rng.random() < 0.25, rng.random() > 0.1
            tags = sorted(rng.sample(["mobile", "desktop", "cpi", "cpa", "eu", "us", "apac", "review"], 2))
        created = f"2024-01-{1 + number % 28:02d}T09:{number % 60:02d}:00Z"
        group = new_group(DEFAULT_INTEGRATION, number, name, 10 * number, monitoring, active, tags, created)
        groups[DEFAULT_INTEGRATION][group["id"]] = group
    for number, (name, monitoring, active, tags) in enumerate(_SECOND_GROUPS, 1):
        group = new_group(SECOND_INTEGRATION, number, name, 10 * number, monitoring, active, tags, "2024-02-01T10:00:00Z")
        groups[SECOND_INTEGRATION][group["id"]] = group
    return groups


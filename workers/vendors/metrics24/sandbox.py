"""24Metrics' ClickShield API v2, as documented (and as NOTES.md infers it), with synthetic data.

State that lives across requests: filter groups per integration (seeded; ``reset`` seeds them
again) and Download Center exports, which walk PENDING -> IN_PROGRESS -> COMPLETED over
``ready_after`` seconds. Report rows are a pure function of the seed, the integration and the
day, so every table page, lookup and export file agrees with every other.

Shapes follow the docs' samples: objects wrapped in ``{"data": ...}``, lists with
``meta.total_count``/``total_page``, report tables in ``data.{data,count,pageInfo}``; the create
answer ``{"created_item_id": ...}``, the URL answer ``{"url": ...}`` and the export create
answer are bare, as printed. Error bodies are not documented; JSON:API's ``errors`` list is
used, like the ``page[...]``/``filter[...]`` parameters suggest.

Faults beyond the generic ones: ``failed`` (the export ends ERROR with a reason) and
``canceled`` (it ends CANCELED), on ``export.create`` and ``export.get``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from devkit.sandbox.base import SANDBOX_TOKEN, Request, Response, Route, VendorApp

__all__ = [
    "CLICK_REASONS",
    "CONVERSION_REASONS",
    "DEFAULT_INTEGRATION",
    "MAX_EXPORT_DAYS",
    "ORGANIZATION",
    "PUBLISHERS",
    "SECOND_INTEGRATION",
    "Metrics24App",
    "day_rows",
    "group_id",
    "seed_groups",
]

ORGANIZATION = "64b7f0c2e1a94d0012c3a000"
DEFAULT_INTEGRATION = "64b7f0c2e1a94d0012c3f001"
SECOND_INTEGRATION = "64b7f0c2e1a94d0012c3f002"
INTEGRATIONS = (DEFAULT_INTEGRATION, SECOND_INTEGRATION)

#: Longer export ranges are cut to their last this many days (``results_meta.range_truncated``).
MAX_EXPORT_DAYS = 90
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
_TRAFFIC = (30, 10, 25, 8, 20, 10, 5)
#: Reason category -> (filter type, advanced reasons).
_REASONS = {
    "Proxy/VPN": ("PROXY", ("Datacenter IP (AWS)", "Residential proxy", "VPN exit node")),
    "Click spamming": ("CLICK_SPAM", ("More than 20 clicks per device in 1 hour", "Click flood from one IP")),
    "Bot": ("BOT", ("Headless browser (HeadlessChrome)", "Known bot user agent", "No JavaScript execution")),
    "Blacklisted IP": ("IP_BLACKLIST", ("IP on organization blacklist",)),
    "Click injection": ("CLICK_INJECTION", ("Click-to-install time under 10 s",)),
}
CLICK_REASONS = ("Proxy/VPN", "Click spamming", "Bot", "Blacklisted IP")
CONVERSION_REASONS = ("Click injection", "Click spamming", "Proxy/VPN", "Bot", "Blacklisted IP")
_OFFERS = (("311", "Puzzle Quest – US"), ("312", "Puzzle Quest – DE"), ("420", "Run Fit iOS"), ("508", "Casino Royale CPA"))
_ADVERTISER = ("77", "Example Games GmbH")
_COUNTRIES = (("US", "New York"), ("DE", "Berlin"), ("GB", "London"), ("FR", "Paris"), ("BR", "São Paulo"),
              ("IN", "Mumbai"), ("JP", "Tokyo"))
_DEVICES = (("mobile", "Android", ("13", "14")), ("mobile", "iOS", ("17.2", "17.5")), ("desktop", "Windows", ("10", "11")))
_ISPS = ("Deutsche Telekom", "Comcast", "Vodafone", "Amazon.com", "Orange", "Jio")
_EXTRA_KEYS = ("aff_click_id", "creative")

_TABLES = {"click": "c", "conversion": "v", "impression": "i"}
_KINDS = {"clicks": ("click", "click_logs"), "conversions": ("conversion", "conversion_logs"),
          "impressions": ("impression", "impression_logs")}
_CURSOR = re.compile(r"(?P<table>[civ])(?P<day>\d{8})(?P<seq>\d{5})(?P<check>[0-9a-f]{8})")
_HASH = re.compile(r"(?P<day>\d{8})(?P<seq>\d{5})(?P<check>[0-9a-f]{19})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

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
_PATCHABLE = {
    "active": bool, "monitoring_mode": bool, "rtb_enabled": bool, "name": str, "description": str,
    "priority": int, "tags": list, "offer_ids": list, "publisher_ids": list, "advertiser_ids": list,
    "click_filter_preset_id": int, "conversion_filter_preset_id": int, "filters": list,
}


def group_id(integration: str, number: int) -> str:
    """The seeded group ids: ``66a0…01``..``66a0…82`` (default integration), ``66b0…01``.. (second)."""
    return f"{'66a0' if integration == DEFAULT_INTEGRATION else '66b0'}{number:020x}"


def _group(integration: str, number: int, name: str, priority: int, monitoring: bool, active: bool,
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
        "everflow_encoded_offers": [], "everflow_encoded_publishers": [],
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
        group = _group(DEFAULT_INTEGRATION, number, name, 10 * number, monitoring, active, tags, created)
        groups[DEFAULT_INTEGRATION][group["id"]] = group
    for number, (name, monitoring, active, tags) in enumerate(_SECOND_GROUPS, 1):
        group = _group(SECOND_INTEGRATION, number, name, 10 * number, monitoring, active, tags, "2024-02-01T10:00:00Z")
        groups[SECOND_INTEGRATION][group["id"]] = group
    return groups


# -- report rows -----------------------------------------------------------------------------


def _check(*parts: object, length: int) -> str:
    return hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _count(seed: int, integration: str, table: str, day: date) -> int:
    rng = random.Random(f"24metrics:{seed}:{integration}:{table}:{day}:count")
    low, high = {"click": (180, 320), "conversion": (15, 40), "impression": (400, 700)}[table]
    return rng.randint(low, high)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reject(rng: random.Random, share: float, weights: dict[str, int], allowed: tuple[str, ...]) -> str | None:
    if rng.random() >= share:
        return None
    reasons = [r for r in weights if r in allowed]
    return rng.choices(reasons, [weights[r] for r in reasons])[0] if reasons else None


def _rejection_fields(rng: random.Random, reason: str | None) -> dict[str, Any]:
    if reason is None:
        return {"rejected_simple_reason": "", "rejected_advanced_reason": "", "rejection_type": "", "rejections": []}
    kind, details = _REASONS[reason]
    return {
        "rejected_simple_reason": reason,
        "rejected_advanced_reason": rng.choice(details),
        "rejection_type": kind,
        "rejections": [reason],
    }


def _click_row(seed: int, integration: str, table: str, day: date, seq: int, moment: datetime,
               rng: random.Random) -> dict[str, Any]:
    publisher, _, share, _, weights = rng.choices(PUBLISHERS, _TRAFFIC)[0]
    offer_id, offer_name = rng.choice(_OFFERS)
    country, city = rng.choice(_COUNTRIES)
    device, os_name, versions = rng.choice(_DEVICES)
    reason = _reject(rng, share, weights, CLICK_REASONS)
    monitoring = 1 if reason and rng.random() < 0.2 else 0
    tx_id = f"{_TABLES[table]}{day:%Y%m%d}{seq:05d}{_check(seed, integration, table, day, seq, length=8)}"
    row = {
        "real_tx_id": tx_id, "tx_id": tx_id, "request_time": _iso(moment), "request_date": day.isoformat(),
        "integration_id": integration, "organization_id": ORGANIZATION, "integration_type": "everflow",
        "offer": offer_id, "offer_id": offer_id, "real_offer_id": offer_id, "offer_db_id": f"of{offer_id:0>22}",
        "publisher": publisher, "real_publisher": publisher, "publisher_db_id": f"pb{publisher:0>22}",
        "advertiser": _ADVERTISER[0], "real_advertiser": _ADVERTISER[0],
        "country": country, "city": city,
        "click_ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "isp": rng.choice(_ISPS), "proxy_type": "VPN" if reason == "Proxy/VPN" else "",
        "device_type": device, "os_name": os_name, "os_version": rng.choice(versions),
        "browser_name": "Chrome" if os_name != "iOS" else "Safari",
        "user_agent": "HeadlessChrome/120.0" if reason == "Bot" else f"Mozilla/5.0 ({os_name})",
        "is_bot": int(reason == "Bot"),
        "status": "Approved" if reason is None else "Rejected",
        "blocked": int(reason is not None and not monitoring),
        "monitoring_mode": monitoring,
        "filter_group_id": group_id(integration, 1 + seq % 6), "real_filter_group_id": group_id(integration, 1 + seq % 6),
        "rejected_primary_reason": reason or "",
        **_rejection_fields(rng, reason),
        "sub_id": f"sub{rng.randint(1, 40)}",
        "extra_params.keys": list(_EXTRA_KEYS),
        "extra_params.values": [f"ac{rng.randint(10**6, 10**7)}", rng.choice(["banner", "video", "native"])],
        "payout": 0, "revenue": 0,
    }
    if table == "impression":
        row["site_url"] = f"https://news{rng.randint(1, 9)}.example/{offer_id}"
        row["bundle_id"] = "com.example.puzzlequest" if offer_id in ("311", "312") else ""
    return row


@lru_cache(maxsize=512)
def day_rows(seed: int, integration: str, table: str, day: date) -> tuple[dict[str, Any], ...]:
    """One day's rows of a report table, oldest first (``seq`` 0 first). Treat them as read-only."""
    count = _count(seed, integration, table, day)
    rng = random.Random(f"24metrics:{seed}:{integration}:{table}:{day}")
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if table != "conversion":
        seconds = sorted(rng.randrange(86_400) for _ in range(count))
        return tuple(
            _click_row(seed, integration, table, day, seq, midnight + timedelta(seconds=s), rng)
            for seq, s in enumerate(seconds)
        )
    clicks = day_rows(seed, integration, "click", day)
    drafts = []
    for _ in range(count):
        click = rng.choice(clicks)
        publisher = next(p for p in PUBLISHERS if p[0] == click["publisher"])
        reason = _reject(rng, publisher[3], publisher[4], CONVERSION_REASONS)
        ctit = rng.randint(2, 9) if reason == "Click injection" else rng.randint(60, 6 * 3600)
        clicked = datetime.strptime(click["request_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        converted = min(clicked + timedelta(seconds=ctit), midnight + timedelta(seconds=86_399))
        drafts.append((converted, click, publisher, reason, rng.random(), rng.choice(("install", "purchase"))))
    drafts.sort(key=lambda d: (d[0], d[1]["tx_id"]))
    rows = []
    for seq, (converted, click, publisher, reason, draw, event) in enumerate(drafts):
        real_tx_id = f"v{day:%Y%m%d}{seq:05d}{_check(seed, integration, table, day, seq, length=8)}"
        payout = 2.5 if event == "install" else 12.0
        rows.append({
            "real_tx_id": real_tx_id,
            "hash": f"{day:%Y%m%d}{seq:05d}{_check(seed, integration, 'hash', day, seq, length=19)}",
            "tx_id": click["tx_id"], "click_tx_id": click["tx_id"],
            "click_time": click["request_time"], "conversion_time": _iso(converted), "request_time": _iso(converted),
            "integration_id": integration, "organization_id": ORGANIZATION, "integration_type": "everflow",
            "offer": click["offer"], "offer_id": click["offer_id"], "real_offer_id": click["offer_id"],
            "offer_id_name": f"{click['offer_id']} - {dict(_OFFERS)[click['offer_id']]}",
            "publisher": click["publisher"], "real_publisher": click["publisher"],
            "publisher_db_id": click["publisher_db_id"], "publisher_name": publisher[1],
            "advertiser": _ADVERTISER[0], "advertiser_name": _ADVERTISER[1], "real_advertiser": _ADVERTISER[0],
            "country": click["country"], "city": click["city"], "click_ip": click["click_ip"],
            "conversion_ip": click["click_ip"], "device_type": click["device_type"], "os_name": click["os_name"],
            "os_version": click["os_version"], "event_name": event, "event_id": 1 if event == "install" else 2,
            "status": "Approved" if reason is None else "Rejected",
            "rejected": int(reason is not None),
            **_rejection_fields(random.Random(f"{real_tx_id}:{draw}"), reason),
            "real_rejected_simple_reason": reason or "", "real_rejected_advanced_reason": "",
            "is_bot": int(reason == "Bot"), "is_click_spam": int(reason == "Click spamming"),
            "session_time": int(draw * 600), "payout": payout, "revenue": round(payout * 1.4, 2),
            "filter_group_id": click["filter_group_id"], "real_filter_group_id": click["real_filter_group_id"],
            "extra_params.keys": click["extra_params.keys"], "extra_params.values": click["extra_params.values"],
        })
        rows[-1]["real_rejected_advanced_reason"] = rows[-1]["rejected_advanced_reason"]
    return tuple(rows)


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


# -- exports ---------------------------------------------------------------------------------


@dataclass
class _Export:
    id: str
    kind: str  # clicks | conversions | impressions
    integration: str
    asked: tuple[date, date]
    start: date  # the range actually exported
    fields: list[str]
    extra: list[str]
    delimiter: str
    created: float
    created_at: str
    ready_after: float
    failure: tuple[str, str] | None = None  # (status, error)
    total: int | None = None

    @property
    def truncated(self) -> bool:
        return self.start != self.asked[0]

    @property
    def artifact_name(self) -> str:
        table = _KINDS[self.kind][1]
        return f"download-center/{ORGANIZATION}/{self.id}/{table}_{self.start}_{self.asked[1]}.csv"

    def status(self, now: float) -> str:
        if self.failure is not None:
            return self.failure[0]
        elapsed = now - self.created
        if elapsed >= self.ready_after:
            return "COMPLETED"
        return "IN_PROGRESS" if elapsed >= self.ready_after / 2 else "PENDING"


class _Invalid(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def _date(request: Request, name: str, *, required: bool = True) -> date | None:
    value = _one(request, name)
    if value in (None, ""):
        if required:
            raise _Invalid(400, f"{name} is required")
        return None
    if _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Invalid(400, f"{name} must be a date formatted YYYY-MM-DD")


def _page_size(request: Request, *, required: bool) -> int:
    raw = _one(request, "page[size]")
    if raw in (None, ""):
        if required:
            raise _Invalid(400, "page[size] is required")
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise _Invalid(400, f"page[size] must be between 1 and {PAGE_SIZE_MAX}")
    return int(raw)


def _numbered(request: Request, items: list[dict[str, Any]]) -> Response:
    size = _page_size(request, required=False)
    raw = _one(request, "page[number]") or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise _Invalid(400, "page[number] must be a positive integer")
    number = int(raw)
    pages = max(1, -(-len(items) // size))
    meta: dict[str, Any] = {"total_count": len(items), "total_page": pages, "links": {}}
    if number < pages:
        meta["links"]["next"] = {"page[number]": number + 1, "page[size]": size}
    if number > 1:
        meta["links"]["prev"] = {"page[number]": number - 1, "page[size]": size}
    return Response.json({"data": items[(number - 1) * size:number * size], "meta": meta})


def _now_iso() -> str:
    return _iso(datetime.now(UTC))


class Metrics24App(VendorApp):
    name = "24metrics"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._groups = seed_groups(self.config.seed)
        self._exports: dict[str, _Export] = {}
        # Never reset: ids stay unique for the sandbox's life (see InstalApp).
        self._created_groups = 0
        self._created_exports = 0

    @property
    def api(self) -> str:
        return f"{self.prefix}/api/v2"

    def routes(self) -> list[Route]:
        api = re.escape(self.api)
        groups = api + r"/integrations/(?P<integration>[^/]+)/filter-groups"
        group = groups + r"/(?P<group_id>[^/]+)"
        exports = api + r"/download-center/exports"
        export = exports + r"/(?P<export_id>[^/]+)"
        outcomes = frozenset({"failed", "canceled"})
        return [
            Route("GET", groups, "filter_groups.list", self.list_groups),
            Route("POST", groups, "filter_groups.create", self.create_group),
            Route("PATCH", groups, "filter_groups.bulk_update", self.bulk_update),
            Route("DELETE", groups, "filter_groups.bulk_delete", self.bulk_delete),
            Route("GET", group, "filter_groups.get", self.get_group),
            Route("PATCH", group, "filter_groups.update", self.update_group),
            Route("DELETE", group, "filter_groups.delete", self.delete_group),
            Route("POST", api + r"/integrations/(?P<integration>[^/]+)/download-center/"
                  r"(?P<kind>clicks|conversions|impressions)", "export.create", self.create_export, faults=outcomes),
            Route("GET", exports, "export.list", self.list_exports),
            Route("GET", export, "export.get", self.get_export, faults=outcomes),
            Route("DELETE", export, "export.delete", self.delete_export),
            Route("GET", api + r"/download-center/url", "export.url", self.export_url),
            Route("GET", r"/files/24metrics/(?P<name>[A-Za-z0-9_./-]+\.csv)", "export.file", self.file),
            Route("GET", api + r"/reports/v2/click-table", "report.click", self._table("click")),
            Route("GET", api + r"/reports/v2/conversion-table", "report.conversion", self._table("conversion")),
            Route("GET", api + r"/reports/v2/impression-table", "report.impression", self._table("impression")),
            Route("GET", api + r"/reports/v2/click", "lookup.click", self.lookup_click),
            Route("GET", api + r"/reports/v2/conversion", "lookup.conversion", self.lookup_conversion),
        ]

    def reset(self) -> None:
        with self._lock:
            self._groups = seed_groups(self.config.seed)
            self._exports.clear()

    def error(self, status: int, message: str) -> Response:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        return Response.json({"errors": [{"status": str(status), "title": title, "detail": message}]}, status)

    # -- plumbing ----------------------------------------------------------------------------

    def _guarded(self, request: Request, handler: Callable[[], Response]) -> Response:
        key = request.header("API-KEY")
        if not key:
            authorization = request.header("Authorization") or ""
            key = authorization[7:] if authorization.startswith("Bearer ") else None
        if key != SANDBOX_TOKEN:
            return self.error(401, "No valid API key provided.")
        try:
            return handler()
        except _Invalid as exc:
            return self.error(exc.status, exc.message)

    def _integration(self, integration: str | None) -> str:
        if not integration:
            raise _Invalid(400, "integration_id is required")
        if integration not in self._groups:
            raise _Invalid(404, f"integration {integration} not found")
        return integration

    def _body(self, request: Request) -> Any:
        try:
            return request.json()
        except ValueError as exc:
            raise _Invalid(400, f"request body is not valid JSON: {exc}") from None

    # -- filter groups ------------------------------------------------------------------------

    def list_groups(self, request: Request) -> Response:
        def handle() -> Response:
            with self._lock:
                groups = self._groups.get(self._integration(request.params["integration"]), {})
                items = sorted((dict(g) for g in groups.values()), key=lambda g: g["priority"])
            return _numbered(request, items)
        return self._guarded(request, handle)

    def get_group(self, request: Request) -> Response:
        def handle() -> Response:
            with self._lock:
                return Response.json({"data": dict(self._find(request))})
        return self._guarded(request, handle)

    def _find(self, request: Request) -> dict[str, Any]:
        groups = self._groups[self._integration(request.params["integration"])]
        found = groups.get(request.params["group_id"])
        if found is None:
            raise _Invalid(404, f"filter group {request.params['group_id']} not found")
        return found

    def _validate(self, fields: dict[str, Any], groups: dict[str, dict[str, Any]], own_id: str | None) -> None:
        for name, value in fields.items():
            kind = _PATCHABLE.get(name)
            if kind is None:
                raise _Invalid(400, f"{name} cannot be set")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise _Invalid(400, f"{name} must be an integer")
            if kind is not int and not isinstance(value, kind):
                raise _Invalid(400, f"{name} must be a {'boolean' if kind is bool else kind.__name__}")
        if "name" in fields and not fields["name"].strip():
            raise _Invalid(400, "name must not be empty")
        if "tags" in fields and len(fields["tags"]) > 50:
            raise _Invalid(400, "tags must have at most 50 items")
        if "priority" in fields:
            clash = next((g for g in groups.values() if g["priority"] == fields["priority"] and g["id"] != own_id), None)
            if clash is not None:
                raise _Invalid(400, f"priority {fields['priority']} is already used by filter group "
                                    f"{clash['name']!r} ({clash['id']})")

    def create_group(self, request: Request) -> Response:
        def handle() -> Response:
            integration = self._integration(request.params["integration"])
            body = self._body(request)
            if not isinstance(body, dict):
                raise _Invalid(400, "request body must be a JSON object")
            for required in ("name", "priority", "integration", "organization"):
                if required not in body:
                    raise _Invalid(400, f"{required} is required")
            if body["integration"] != integration:
                raise _Invalid(400, "integration does not match the path")
            if body["organization"] != ORGANIZATION:
                raise _Invalid(403, "the API key has no access to that organization")
            fields = {k: v for k, v in body.items() if k not in ("integration", "organization")}
            with self._lock:
                groups = self._groups[integration]
                self._validate(fields, groups, None)
                self._created_groups += 1
                group = _group(integration, 0x10000 + self._created_groups, fields["name"], fields["priority"],
                               bool(fields.get("monitoring_mode", False)), bool(fields.get("active", True)),
                               list(fields.get("tags", [])), _now_iso())
                group.update(fields)
                group["last_updated_by"] = "api"
                groups[group["id"]] = group
            return Response.json({"created_item_id": group["id"]}, 201)
        return self._guarded(request, handle)

    def update_group(self, request: Request) -> Response:
        def handle() -> Response:
            body = self._body(request)
            if not isinstance(body, dict) or not body:
                raise _Invalid(400, "request body must be a non-empty JSON object")
            with self._lock:
                group = self._find(request)
                self._validate(body, self._groups[group["integration"]], group["id"])
                group.update(body)
                group["name_with_id"] = f"{group['name']} ({group['id']})"
                group["updated_at"], group["last_updated_by"] = _now_iso(), "api"
            return Response.json({})
        return self._guarded(request, handle)

    def delete_group(self, request: Request) -> Response:
        def handle() -> Response:
            with self._lock:
                group = self._find(request)
                del self._groups[group["integration"]][group["id"]]
            return Response.json({})
        return self._guarded(request, handle)

    def _bulk_ids(self, request: Request) -> tuple[str, dict[str, Any], list[str]]:
        integration = self._integration(request.params["integration"])
        organization = _one(request, "organization")
        if organization not in (None, ORGANIZATION):
            raise _Invalid(403, "the API key has no access to that organization")
        body = self._body(request)
        ids = body.get("data") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise _Invalid(400, "data must be a non-empty list of filter group ids")
        return integration, body, ids

    def bulk_update(self, request: Request) -> Response:
        def handle() -> Response:
            integration, body, ids = self._bulk_ids(request)
            if not isinstance(body.get("monitoring_mode"), bool):
                raise _Invalid(400, "monitoring_mode must be a boolean")
            with self._lock:
                groups = self._groups[integration]
                found = [i for i in dict.fromkeys(ids) if i in groups]
                if not found:
                    raise _Invalid(404, "none of the filter groups exist")
                for gid in found:
                    groups[gid]["monitoring_mode"] = body["monitoring_mode"]
                    groups[gid]["updated_at"], groups[gid]["last_updated_by"] = _now_iso(), "api"
            return Response.json({"updated_item_ids": found})
        return self._guarded(request, handle)

    def bulk_delete(self, request: Request) -> Response:
        def handle() -> Response:
            integration, _, ids = self._bulk_ids(request)
            with self._lock:
                groups = self._groups[integration]
                found = [i for i in dict.fromkeys(ids) if i in groups]
                if not found:
                    raise _Invalid(404, "none of the filter groups exist")
                for gid in found:
                    del groups[gid]
            return Response.json({"deleted_item_ids": found})
        return self._guarded(request, handle)

    # -- Download Center ----------------------------------------------------------------------

    def _columns(self, kind: str) -> set[str]:
        table = _KINDS[kind][0]
        return set(day_rows(self.config.seed, DEFAULT_INTEGRATION, table, date(2024, 1, 1))[0])

    def _export_json(self, export: _Export, now: float) -> dict[str, Any]:
        status = export.status(now)
        table = _KINDS[export.kind][1]
        start, end = export.asked
        completed = status == "COMPLETED"
        if completed and export.total is None:
            export.total = sum(_count(self.config.seed, export.integration, _KINDS[export.kind][0], day)
                               for day in _days(export.start, end))
        return {
            "id": export.id, "type": table, "status": status,
            "error": export.failure[1] if export.failure else "",
            "artifact": {
                "name": export.artifact_name if completed else "",
                "size": (export.total or 0) * 90 if completed else 0,
                "download_link": "",
                "meta": {"id": export.id, "organization": ORGANIZATION, "type": table},
            },
            "integration": export.integration, "organization": ORGANIZATION,
            "requested_by": "api", "last_updated_by": "api",
            "created_at": export.created_at, "updated_at": export.created_at,
            "format": {"delimiter": export.delimiter},
            "reports_query_option": {
                "start_date": start.isoformat(), "end_date": end.isoformat(),
                "include_fields": export.fields, "extra_parameters_as_new_fields": export.extra,
                "filters": {"integration_id": {"equal_values": [export.integration]}},
            },
            "export_list_options": {
                "fields": export.fields, "extra_parameters": export.extra,
                "filters": {"date_range": {"start": f"{export.start}T00:00:00Z", "end": f"{end}T23:59:59Z"}},
            },
            "results_meta": {
                "total": export.total if completed else 0,
                "range_truncated": export.truncated,
                "duration_seconds": round(export.ready_after) if completed else 0,
            },
        }

    def _outcome(self, request: Request) -> tuple[str, str] | None:
        if request.fault is None:
            return None
        if request.fault.kind == "failed":
            return "ERROR", "Query exceeded the maximum execution time while scanning the logs (sandbox fault)."
        return "CANCELED", ""

    def create_export(self, request: Request) -> Response:
        def handle() -> Response:
            integration = self._integration(request.params["integration"])
            kind = request.params["kind"]
            start = _date(request, "start_date")
            end = _date(request, "end_date")
            assert start is not None and end is not None
            if end < start:
                raise _Invalid(400, "end_date must be on or after start_date")
            fields = [f for f in (_one(request, "fields") or "").split(",") if f]
            if not fields:
                raise _Invalid(400, "fields is required")
            unknown = sorted(set(fields) - self._columns(kind))
            if unknown:
                raise _Invalid(400, f"unknown field {unknown[0]!r} for {_KINDS[kind][1]}")
            extra = [f for f in (_one(request, "extra_parameters") or "").split(",") if f]
            delimiter = _one(request, "delimiter") or ","
            if len(delimiter) != 1:
                raise _Invalid(400, "delimiter must be a single character")
            exported_start = max(start, end - timedelta(days=MAX_EXPORT_DAYS - 1))
            with self._lock:
                self._created_exports += 1
                export = _Export(
                    id=f"67e0{self._created_exports:020x}", kind=kind, integration=integration,
                    asked=(start, end), start=exported_start, fields=fields, extra=extra, delimiter=delimiter,
                    created=time.monotonic(), created_at=_now_iso(), ready_after=max(0.0, self.config.ready_after),
                    failure=self._outcome(request),
                )
                self._exports[export.id] = export
                return Response.json(self._export_json(export, time.monotonic()))
        return self._guarded(request, handle)

    def list_exports(self, request: Request) -> Response:
        def handle() -> Response:
            status, kind = _one(request, "filter[status]"), _one(request, "filter[type]")
            now = time.monotonic()
            with self._lock:
                items = [self._export_json(e, now) for e in reversed(self._exports.values())]
            items = [e for e in items if (not status or e["status"] == status) and (not kind or e["type"] == kind)]
            return _numbered(request, items)
        return self._guarded(request, handle)

    def _export(self, request: Request) -> _Export:
        export = self._exports.get(request.params["export_id"])
        if export is None:
            raise _Invalid(404, f"export {request.params['export_id']} not found")
        return export

    def get_export(self, request: Request) -> Response:
        def handle() -> Response:
            with self._lock:
                export = self._export(request)
                outcome = self._outcome(request)
                if outcome is not None and export.status(time.monotonic()) != "COMPLETED":
                    export.failure = outcome
                return Response.json({"data": self._export_json(export, time.monotonic())})
        return self._guarded(request, handle)

    def delete_export(self, request: Request) -> Response:
        def handle() -> Response:
            with self._lock:
                del self._exports[self._export(request).id]
            return Response.json({})
        return self._guarded(request, handle)

    def _signature(self, name: str, signed: str, lifetime: str) -> str:
        key = f"24metrics-sandbox-signing:{self.config.seed}".encode()
        return hmac.new(key, f"{name}\n{signed}\n{lifetime}".encode(), hashlib.sha256).hexdigest()

    def _completed(self, name: str) -> _Export | None:
        now = time.monotonic()
        return next((e for e in self._exports.values() if e.artifact_name == name and e.status(now) == "COMPLETED"),
                    None)

    def export_url(self, request: Request) -> Response:
        def handle() -> Response:
            name = _one(request, "artifact_name")
            if not name:
                raise _Invalid(400, "artifact_name is required")
            with self._lock:
                if self._completed(name) is None:
                    raise _Invalid(404, "artifact not found")
            signed = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            query = urlencode({
                "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
                "X-Goog-Credential": "sandbox@adops.iam.gserviceaccount.com/auto/storage/goog4_request",
                "X-Goog-Date": signed, "X-Goog-Expires": str(URL_LIFETIME), "X-Goog-SignedHeaders": "host",
                "X-Goog-Signature": self._signature(name, signed, str(URL_LIFETIME)),
            })
            return Response.json({"url": f"{request.base_url}/files/24metrics/{name}?{query}"})
        return self._guarded(request, handle)

    def file(self, request: Request) -> Response:
        name = request.params["name"]
        signed, lifetime = _one(request, "X-Goog-Date") or "", _one(request, "X-Goog-Expires") or ""
        given = _one(request, "X-Goog-Signature") or ""
        if not hmac.compare_digest(given, self._signature(name, signed, lifetime)):
            return _storage_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        issued = datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if datetime.now(UTC) > issued + timedelta(seconds=int(lifetime)):
            return _storage_error(400, "ExpiredToken", "The provided token has expired.")
        with self._lock:
            export = self._completed(name)
        if export is None:
            return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(200, self._csv(export), {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name.rsplit("/", 1)[-1]}"',
        })

    def _csv(self, export: _Export, chunk: int = 1000) -> Iterator[bytes]:
        table = _KINDS[export.kind][0]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=export.delimiter, lineterminator="\n")
        writer.writerow(export.fields + export.extra)
        written = 0
        for day in _days(export.start, export.asked[1]):
            for row in day_rows(self.config.seed, export.integration, table, day):
                extras = dict(zip(row["extra_params.keys"], row["extra_params.values"], strict=False))
                writer.writerow([_cell(row.get(f)) for f in export.fields] + [extras.get(e, "") for e in export.extra])
                written += 1
                if written % chunk == 0:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode()

    # -- reports ------------------------------------------------------------------------------

    def _table(self, table: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            return self._guarded(request, lambda: self._table_page(request, table))
        return handler

    def _parse_cursor(self, cursor: str, table: str, integration: str) -> tuple[date, int]:
        match = _CURSOR.fullmatch(cursor)
        if match is None or match["table"] != _TABLES[table]:
            raise _Invalid(400, f"invalid cursor {cursor[:40]!r}")
        try:
            day = datetime.strptime(match["day"], "%Y%m%d").date()
        except ValueError:
            raise _Invalid(400, f"invalid cursor {cursor[:40]!r}") from None
        seq = int(match["seq"])
        if match["check"] != _check(self.config.seed, integration, table, day, seq, length=8):
            raise _Invalid(400, f"invalid cursor {cursor[:40]!r}")
        return day, seq

    def _table_page(self, request: Request, table: str) -> Response:
        integration = self._integration(_one(request, "integration_id"))
        start, end = _date(request, "start_date"), _date(request, "end_date")
        assert start is not None and end is not None
        if end < start:
            raise _Invalid(400, "end_date must be on or after start_date")
        size = _page_size(request, required=True)
        after, before = _one(request, "page[after]"), _one(request, "page[before]")
        if after and before:
            raise _Invalid(400, "page[after] and page[before] are mutually exclusive")
        seed = self.config.seed
        if before:
            key = self._parse_cursor(before, table, integration)
            newer = list(self._walk(seed, integration, table, start, end, key, older=False, limit=size + 1))
            page = newer[:size][::-1]
            has_previous, has_next = len(newer) > size, True
        else:
            key = self._parse_cursor(after, table, integration) if after else (end + timedelta(days=1), 0)
            older = list(self._walk(seed, integration, table, start, end, key, older=True, limit=size + 1))
            page = older[:size]
            has_previous, has_next = after is not None, len(older) > size
        count = sum(_count(seed, integration, table, day) for day in _days(start, end))
        info = {
            "startCursor": page[0]["real_tx_id"] if page else "",
            "endCursor": page[-1]["real_tx_id"] if page else "",
            "hasNextPage": has_next and bool(page), "hasPreviousPage": has_previous and bool(page),
        }
        return Response.json({"data": {"count": count, "data": page, "pageInfo": info}})

    @staticmethod
    def _walk(seed: int, integration: str, table: str, start: date, end: date, key: tuple[date, int], *,
              older: bool, limit: int) -> Iterator[dict[str, Any]]:
        """Rows strictly older (newest first) or strictly newer (oldest first) than ``key``."""
        key_day, key_seq = key
        taken = 0
        if older:
            day = min(key_day, end)
            while day >= start and taken < limit:
                rows = day_rows(seed, integration, table, day)
                top = key_seq if day == key_day else len(rows)
                for row in reversed(rows[:top]):
                    yield row
                    taken += 1
                    if taken >= limit:
                        return
                day -= timedelta(days=1)
        else:
            day = max(key_day, start)
            while day <= end and taken < limit:
                rows = day_rows(seed, integration, table, day)
                first = key_seq + 1 if day == key_day else 0
                for row in rows[first:]:
                    yield row
                    taken += 1
                    if taken >= limit:
                        return
                day += timedelta(days=1)

    def _lookup(self, request: Request, table: str, key: str) -> Response:
        missing = [name for name in ("integration_id", "request_date", "offer", "publisher", key)
                   if not _one(request, name)]
        if missing:
            raise _Invalid(400, f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
        integration = self._integration(_one(request, "integration_id"))
        day = _date(request, "request_date")
        assert day is not None
        value = _one(request, key) or ""
        what = "click" if table == "click" else "conversion"
        match = (_CURSOR if table == "click" else _HASH).fullmatch(value)
        row = None
        if match is not None and match["day"] == f"{day:%Y%m%d}":
            rows = day_rows(self.config.seed, integration, table, day)
            seq = int(match["seq"])
            if seq < len(rows) and rows[seq][key] == value:
                row = rows[seq]
        if row is None or _one(request, "offer") not in (row["offer"], row["offer_id"]) \
                or _one(request, "publisher") != row["publisher"]:
            raise _Invalid(404, f"no {what} matches the given parameters")
        return Response.json({"data": row})

    def lookup_click(self, request: Request) -> Response:
        return self._guarded(request, lambda: self._lookup(request, "click", "tx_id"))

    def lookup_conversion(self, request: Request) -> Response:
        return self._guarded(request, lambda: self._lookup(request, "conversion", "hash"))


def _cell(value: Any) -> Any:
    return "|".join(str(v) for v in value) if isinstance(value, list) else value


def _storage_error(status: int, code: str, message: str) -> Response:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response.text(body, status, "application/xml; charset=UTF-8")


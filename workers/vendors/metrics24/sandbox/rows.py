"""24Metrics' report rows: a pure function of the seed, the integration, the table and the day.

Every table page, lookup and export file reads the same rows, so they all agree. A row's
``real_tx_id`` is also its cursor: table letter, day, sequence number and a seeded check, so a
cursor from another seed, table or integration is refused rather than misread.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from workers.vendors.metrics24.sandbox.data import (
    ADVERTISER,
    CLICK_REASONS,
    CONVERSION_REASONS,
    COUNTRIES,
    CURSOR,
    DEVICES,
    EXAMPLE,
    EXTRA_KEYS,
    ISPS,
    OFFERS,
    ORGANIZATION,
    PUBLISHERS,
    REASONS,
    TABLES,
    TRAFFIC,
    group_id,
)

__all__ = ["check", "count_rows", "day_rows", "days", "iso", "parse_cursor", "walk"]


def check(*parts: object, length: int) -> str:
    return hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


def count_rows(seed: int, integration: str, table: str, day: date) -> int:
    rng = random.Random(f"24metrics:{seed}:{integration}:{table}:{day}:count")
    low, high = {"click": (180, 320), "conversion": (15, 40), "impression": (400, 700)}[table]
    return rng.randint(low, high)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reject(rng: random.Random, share: float, weights: dict[str, int], allowed: tuple[str, ...]) -> str | None:
    if rng.random() >= share:
        return None
    reasons = [r for r in weights if r in allowed]
    return rng.choices(reasons, [weights[r] for r in reasons])[0] if reasons else None


def _rejection_fields(rng: random.Random, reason: str | None) -> dict[str, Any]:
    if reason is None:
        return {"rejected_simple_reason": "", "rejected_advanced_reason": "", "rejection_type": "", "rejections": []}
    kind, details = REASONS[reason]
    return {
        "rejected_simple_reason": reason,
        "rejected_advanced_reason": rng.choice(details),
        "rejection_type": kind,
        "rejections": [reason],
    }


def _click_row(seed: int, integration: str, table: str, day: date, seq: int, moment: datetime,
               rng: random.Random) -> dict[str, Any]:
    publisher, _, share, _, weights = rng.choices(PUBLISHERS, TRAFFIC)[0]
    offer_id, offer_name = rng.choice(OFFERS)
    country, city = rng.choice(COUNTRIES)
    device, os_name, versions = rng.choice(DEVICES)
    reason = _reject(rng, share, weights, CLICK_REASONS)
    monitoring = 1 if reason and rng.random() < 0.2 else 0
    tx_id = f"{TABLES[table]}{day:%Y%m%d}{seq:05d}{check(seed, integration, table, day, seq, length=8)}"
    row = {
        "real_tx_id": tx_id, "tx_id": tx_id, "request_time": iso(moment), "request_date": day.isoformat(),
        "integration_id": integration, "organization_id": ORGANIZATION, "integration_type": "hasoffers",
        "offer": offer_id, "offer_id": offer_id, "real_offer_id": offer_id, "offer_db_id": f"of{offer_id:0>22}",
        "publisher": publisher, "real_publisher": publisher, "publisher_db_id": f"pb{publisher:0>22}",
        "advertiser": ADVERTISER[0], "real_advertiser": ADVERTISER[0],
        "country": country, "city": city,
        "click_ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "isp": rng.choice(ISPS), "proxy_type": "VPN" if reason == "Proxy/VPN" else "",
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
        "extra_params.keys": list(EXTRA_KEYS),
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
    count = count_rows(seed, integration, table, day)
    rng = random.Random(f"24metrics:{seed}:{integration}:{table}:{day}")
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if table != "conversion":
        seconds = sorted(rng.randrange(86_400) for _ in range(count))
        rows = [
            _click_row(seed, integration, table, day, seq, midnight + timedelta(seconds=s), rng)
            for seq, s in enumerate(seconds)
        ]
        if table == "click":
            rows[0] = _example_click(rows[0])
        return tuple(rows)
    clicks = day_rows(seed, integration, "click", day)
    drafts = []
    for number in range(count):
        click = rng.choice(clicks)
        if number == 0:
            click = clicks[0]  # the example conversion comes from the example click
        publisher = next(p for p in PUBLISHERS if p[0] == click["publisher"])
        reason = _reject(rng, publisher[3], publisher[4], CONVERSION_REASONS)
        ctit = rng.randint(2, 9) if reason == "Click injection" else rng.randint(60, 6 * 3600)
        clicked = datetime.strptime(click["request_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        converted = min(clicked + timedelta(seconds=ctit), midnight + timedelta(seconds=86_399))
        drafts.append((converted, click, publisher, reason, rng.random(), rng.choice(("install", "purchase"))))
    drafts.sort(key=lambda d: (d[0], d[1]["tx_id"]))
    rows = []
    for seq, (converted, click, publisher, reason, draw, event) in enumerate(drafts):
        real_tx_id = f"v{day:%Y%m%d}{seq:05d}{check(seed, integration, table, day, seq, length=8)}"
        payout = 2.5 if event == "install" else 12.0
        rows.append({
            "real_tx_id": real_tx_id,
            "hash": f"{day:%Y%m%d}{seq:05d}{check(seed, integration, 'hash', day, seq, length=19)}",
            "tx_id": click["tx_id"], "click_tx_id": click["tx_id"],
            "click_time": click["request_time"], "conversion_time": iso(converted), "request_time": iso(converted),
            "integration_id": integration, "organization_id": ORGANIZATION, "integration_type": "hasoffers",
            "offer": click["offer"], "offer_id": click["offer_id"], "real_offer_id": click["offer_id"],
            "offer_id_name": f"{click['offer_id']} - {dict(OFFERS)[click['offer_id']]}",
            "publisher": click["publisher"], "real_publisher": click["publisher"],
            "publisher_db_id": click["publisher_db_id"], "publisher_name": publisher[1],
            "advertiser": ADVERTISER[0], "advertiser_name": ADVERTISER[1], "real_advertiser": ADVERTISER[0],
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
        if click is clicks[0] and not any(r["hash"] == EXAMPLE["hash"] for r in rows):
            rows[-1]["hash"] = EXAMPLE["hash"]
    return tuple(rows)


def _example_click(row: dict[str, Any]) -> dict[str, Any]:
    """The day's first click as the help's example: the tracker's id, offer and publisher the
    `lookup` examples name (so they find it on any day, `date=yesterday` included)."""
    offer, publisher = EXAMPLE["offer"], EXAMPLE["publisher"]
    return {
        **row, "tx_id": EXAMPLE["tx_id"], "offer": offer, "offer_id": offer, "real_offer_id": offer,
        "offer_db_id": f"of{offer:0>22}", "publisher": publisher, "real_publisher": publisher,
        "publisher_db_id": f"pb{publisher:0>22}",
    }


def days(start: date, end: date) -> Iterator[date]:
    """Every day from ``start`` to ``end``, both included."""
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)



def parse_cursor(cursor: str, seed: int, integration: str, table: str) -> tuple[date, int] | None:
    """The (day, sequence number) a ``page[after]``/``page[before]`` cursor names; None if it is not a valid one."""
    match = CURSOR.fullmatch(cursor)
    if match is None or match["table"] != TABLES[table]:
        return None
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").date()
    except ValueError:
        return None
    seq = int(match["seq"])
    if match["check"] != check(seed, integration, table, day, seq, length=8):
        return None
    return day, seq


def walk(seed: int, integration: str, table: str, start: date, end: date, key: tuple[date, int], *,
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

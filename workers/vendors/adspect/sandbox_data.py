"""The Adspect sandbox's synthetic data (pure, deterministic): streams, funnel cells, click log rows.

Traffic is a pure function of the day and the stream, so any range, breakdown and filter gives
the same numbers every time, and a click log of any size is generated row by row as it is sent.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

__all__ = [
    "COUNTRIES", "GROUP_BY", "LOG_COLUMNS", "METRICS", "MODES", "STREAMS", "cells", "derive", "log_rows", "stream_id",
]

MODES = ("Filter", "Review", "Money", "White")
GROUP_BY = ("date", "month", "stream_id", "sub_id", "country_code", "os", "browser", "engine", "language",
            "click_id", "mode", "target", "reason")
METRICS = ("clicks", "unique_clicks", "fp_clicks", "money_hits", "unique_money_hits", "safe_hits", "givt", "sivt",
           "mia", "quality", "cost", "conversions", "cr", "revenue", "profit", "roi", "cpc", "cpm", "cpa", "epl",
           "epc", "epm")
LOG_COLUMNS = ("timestamp", "ip_address", "asn", "account_id", "stream_id", "country_code", "os", "browser", "engine",
               "languages", "cost", "sub_id", "click_id", "mode", "stage", "target", "reasons")
COUNTRIES = ("US", "DE", "GB", "FR", "CA", "AU", "BR", "IN", "JP", "NL", "SE", "SG", "AE", "HK", "ES", "IT", "PL",
             "MX", "TR", "ZA")
_OS = (("Android", "Blink", "Google Chrome"), ("iOS", "WebKit", "Apple Safari"), ("Windows", "Blink", "Microsoft Edge"),
       ("macOS", "WebKit", "Apple Safari"))
_LANGS = ("en", "de", "fr", "pt", "ja", "es")
_GEOS = ("US", "DE", "UK", "FR", "BR", "CA", "AU", "JP", "NL")
_SOURCES = ("Search", "Social", "Native", "Push")
_VARIANTS = ("Brand", "Broad", "Retarget", "Lookalike", "Test")
#: Counted per cell, summed by a breakdown; the other metrics are derived from these.
BASE = ("clicks", "unique_clicks", "fp_clicks", "money_hits", "unique_money_hits", "safe_hits", "givt", "sivt", "mia",
        "cost", "conversions", "revenue")
ACCOUNT_ID = "1eaa2ce5-d4dd-63ec-b8a4-00162501c2b4"


def stream_id(n: int) -> str:
    return f"{n:08x}-5eed-4d00-8a00-{zlib.crc32(str(n).encode()):012x}"


def _streams() -> list[dict[str, Any]]:
    out = []
    for n in range(45):  # three pages of the default 20
        geo, source, variant = _GEOS[n % 9], _SOURCES[n % 4], _VARIANTS[n % 5]
        name = f"{geo} {source} – {variant}" + (f" {n // 9 + 1}" if n >= 9 else "")
        out.append({"stream_id": stream_id(n), "account_id": ACCOUNT_ID, "name": name, "tags": [geo, source],
                    "mode": MODES[(n * 3 + n // 9) % 4], "notes": "", "n": n})
    return sorted(out, key=lambda s: s["name"])


STREAMS = _streams()


def _h(*parts: Any) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _volume(n: int, day: date) -> int:
    """Clicks a day for stream ``n``: a dozen busy streams, the rest quiet or idle."""
    if n % 4 == 3:
        return 0
    base = 4000 if n < 12 else 150
    return base // (1 + n % 5) + _h("v", n, day) % (base // 3 + 1)


def cells(start: date, end: date, modes: dict[str, str]) -> Iterator[tuple[dict[str, Any], dict[str, float]]]:
    """Every (breakdown values, base counts) cell of the days ``start``..``end``: per day, stream,
    four cohorts (country, device, sub id), each split into its money and its safe page."""
    day = start
    while day <= end:
        for s in STREAMS:
            n, clicks_day = s["n"], _volume(s["n"], day)
            if not clicks_day:
                continue
            mode = modes.get(s["stream_id"], s["mode"])
            for k in range(4):
                c = clicks_day // 4 + (1 if k < clicks_day % 4 else 0)
                h = _h("c", n, day, k)
                os_, engine, browser = _OS[h % 4]
                dims = {"date": day.isoformat(), "month": day.strftime("%Y-%m"), "stream_id": s["stream_id"],
                        "sub_id": f"zone-{h % 23:02d}", "country_code": COUNTRIES[(n + k * 3 + day.day) % 12],
                        "os": os_, "browser": browser, "engine": engine, "language": _LANGS[h % 6],
                        "click_id": f"clk-{h % 100000:05d}", "mode": mode}
                share = {"Money": 1.0, "White": 0.0, "Review": 0.0}.get(mode, 0.35 + (h % 40) / 100)
                money = int(c * share)
                for target, hits in ((1, money), (0, c - money)):
                    if not hits:
                        continue
                    conv = hits // 20 if target else 0
                    base = {"clicks": hits, "unique_clicks": hits * 4 // 5, "fp_clicks": hits * 9 // 10,
                            "money_hits": hits if target else 0, "unique_money_hits": hits * 4 // 5 if target else 0,
                            "safe_hits": 0 if target else hits, "givt": 0 if target else hits // 2,
                            "sivt": 0 if target else hits * 3 // 10, "mia": hits - hits * 9 // 10,
                            "cost": hits * 0.02, "conversions": conv, "revenue": conv * 1.5}
                    reason = "" if target else ("ip_blacklist", "ua_bot", "fp_sivt")[h % 3]
                    yield {**dims, "target": target, "reason": reason}, base
        day += timedelta(days=1)


def derive(base: dict[str, float], metric: str) -> Any:
    """A metric's value as Adspect sends it: counts as numeric strings, rates as floats."""
    b = base

    def div(a: float, c: float) -> float:
        return a / c if c else 0

    if metric in ("cost", "revenue"):
        return f"{b[metric]:.2f}"
    if metric in BASE:
        return str(int(b[metric]))
    profit = b["revenue"] - b["cost"]
    return {
        "quality": div(b["money_hits"], b["clicks"]), "cr": div(b["conversions"], b["clicks"]),
        "profit": f"{profit:.2f}", "roi": div(profit, b["cost"]), "cpc": div(b["cost"], b["clicks"]),
        "cpm": div(b["cost"], b["clicks"]) * 1000, "cpa": div(b["cost"], b["conversions"]),
        "epl": div(b["revenue"], b["conversions"]), "epc": div(b["revenue"], b["clicks"]),
        "epm": div(b["revenue"], b["clicks"]) * 1000,
    }[metric]


def log_rows(day_start: int, n: int, day_index: int, modes: dict[str, str]) -> Iterator[dict[str, Any]]:
    """``n`` clicks of one day from Unix time ``day_start``, spread over its 86 400 seconds;
    generated one at a time, so any number costs no memory."""
    busy = [s for s in STREAMS if _volume(s["n"], date(2026, 1, 1)) > 0]
    reasons = ("ip_blacklist", "ua_bot", "fp_sivt")
    for i in range(n):
        g = day_index * n + i
        h = (g * 2654435761) & 0xFFFFFFFF
        s = busy[h % len(busy)]
        os_, engine, browser = _OS[(h >> 4) % 4]
        target = 1 if (h >> 9) % 100 < 60 else 0
        yield {
            "ts": day_start + i * 86_400 // n,
            "ip_address": f"{11 + h % 200}.{(h >> 8) & 255}.{(h >> 16) & 255}.{(h >> 24) & 255}",
            "asn": 1000 + h % 60000, "account_id": ACCOUNT_ID, "stream_id": s["stream_id"],
            "country_code": COUNTRIES[(h >> 3) % len(COUNTRIES)], "os": os_, "browser": browser, "engine": engine,
            "languages": _LANGS[(h >> 5) % 6], "cost": "0.02", "sub_id": f"zone-{h % 23:02d}",
            "click_id": f"clk-{g:09d}", "mode": modes.get(s["stream_id"], s["mode"]), "stage": "final",
            "target": target, "reasons": "" if target else reasons[h % 3],
        }

"""Adspect's collections (the valid breakdowns, metrics, log columns, countries, modes): read
from the vendor, cached, and used to check what a person typed before any report is asked for.

Cached in Redis for a day (every process and every job share one read a day); a caller without
Redis (a build's plan gets only the adapter) keeps them on the adapter for a day instead. A
mistyped value is refused with the nearest valid one, and no report request is made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from workers.errors import Refused
from workers.grammar.suggest import did_you_mean
from workers.vendors.adspect.client import AdspectClient

__all__ = ["COLLECTIONS", "TTL", "Collections"]

#: What each checked option takes its values from, and how a person reads the option.
COLLECTIONS = {
    "by": ("query-group-by", "funnel breakdown"),
    "metrics": ("query-funnel-metrics", "funnel metric"),
    "columns": ("query-log-columns", "click log column"),
    "country": ("countries", "country code"),
    "mode": ("stream-modes", "stream mode"),
}
#: Refreshed daily: they change with Adspect's releases, not by the minute.
TTL = 86_400


class Collections:
    def __init__(self, client: AdspectClient, cache: redis.Redis | None = None, prefix: str = "adops:",
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.cache = cache
        self.prefix = prefix
        self.clock = clock

    def values(self, name: str) -> list[str]:
        """One collection's values, from the cache when read within the day."""
        key = f"{self.prefix}adspect:collection:{name}"
        if self.cache is not None:
            raw = self.cache.get(key)
            if raw is not None:
                return list(json.loads(raw))
        else:
            memo = self.client.memo.get(name)
            if memo is not None and self.clock() - memo[1] < TTL:
                return memo[0]
        values = self.client.collection(name)
        if self.cache is not None:
            self.cache.set(key, json.dumps(values), ex=TTL)
        else:
            self.client.memo[name] = (values, self.clock())
        return values

    def check(self, option: str, typed: Iterable[Any]) -> list[str]:
        """``typed`` as the collection spells them (case aside); Refused naming the first that is
        not there, with the nearest valid value."""
        name, what = COLLECTIONS[option]
        typed = list(typed)
        if not typed:
            return []  # nothing to check: no need to read the collection
        known = self.values(name)
        by_fold = {v.casefold(): v for v in known}
        out = []
        for value in typed:
            text = str(value).strip()
            found = by_fold.get(text.casefold())
            if found is None:
                hint = did_you_mean(text, known, prefix=f"{option}=")
                listed = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
                raise Refused(f"`{text}` is not an Adspect {what}.{hint or f' Valid: {listed}.'} "
                              "Nothing was asked of Adspect.")
            out.append(found)
        return out

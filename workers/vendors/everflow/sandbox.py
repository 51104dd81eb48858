"""Everflow's raw impressions stream, as documented, over synthetic impressions (``sandbox_data``).

``POST /v1/networks/reporting/impressions/stream`` with ``from``/``to`` (``YYYY-mm-DD HH:MM:SS``,
inclusive, wall-clock in ``timezone_id``), ``timezone_id`` and optional ``query.filters``:

- a period over 14 days is a 400; so is a missing or malformed field or an unknown resource_type;
- more than 10 000 matching impressions: ``{"impressions": []}``, silently, as for none at all;
- impressions older than 3 months are gone (never returned);
- filters: one resource_type OR-ed, different ones AND-ed; a type the sandbox's rows do not
  carry (``dma``, ``carrier``...) matches nothing, as a value no impression has would;
- ``X-Eflow-API-Key`` must be the sandbox token (401 otherwise). 429s and the other faults
  come from the sandbox's generic faults on op ``impressions``.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from devkit.sandbox.base import SANDBOX_TOKEN, Request, Response, Route, VendorApp
from workers.vendors.everflow import sandbox_data as data
from workers.vendors.everflow.filters import RESOURCE_TYPES, grouped
from workers.vendors.everflow.windows import FORMAT, MAX_WINDOW, months_before
from workers.vendors.everflow.zones import ZONES

__all__ = ["CAP", "EverflowApp"]

CAP = 10_000
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class EverflowApp(VendorApp):
    name = "everflow"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        #: Every window asked, as (from, to, timezone_id), for tests that check what was sent.
        self.asked: list[tuple[str, str, int]] = []

    def routes(self) -> list[Route]:
        path = re.escape(f"{self.prefix}/v1/networks/reporting/impressions/stream")
        return [Route("POST", path, "impressions", self.impressions)]

    def reset(self) -> None:
        with self._lock:
            self.asked.clear()

    def error(self, status: int, message: str) -> Response:
        return Response.json({"Error": message}, status)

    def impressions(self, request: Request) -> Response:
        if request.header("X-Eflow-API-Key") != SANDBOX_TOKEN:
            return self.error(401, "Invalid API key")
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "Invalid JSON body")
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON body")
        zone_id = body.get("timezone_id")
        if not isinstance(zone_id, int) or zone_id not in ZONES:
            return self.error(400, "timezone_id is missing or invalid")
        zone = ZoneInfo(ZONES[zone_id])
        ends = []
        for name in ("from", "to"):
            value = body.get(name)
            if not isinstance(value, str) or not _TIME.fullmatch(value):
                return self.error(400, f"{name} must be YYYY-mm-DD HH:MM:SS")
            try:
                ends.append(datetime.strptime(value, FORMAT))
            except ValueError:
                return self.error(400, f"{name} is not a date")
        start, end = ends
        if end < start:
            return self.error(400, "to must not be before from")
        if (end - start).total_seconds() + 1 > MAX_WINDOW:
            return self.error(400, "Requests are only allowed for a period of 14 days or less")
        query = body.get("query") or {}
        items = query.get("filters", []) if isinstance(query, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return self.error(400, "query.filters must be a list of filters")
        unknown = {str(i.get("resource_type")) for i in items} - set(RESOURCE_TYPES)
        if unknown:
            return self.error(400, f"Unknown resource_type: {', '.join(sorted(unknown))}")
        with self._lock:
            self.asked.append((body["from"], body["to"], zone_id))
        filters = grouped(items)
        if set(filters) - set(data.FIELDS):
            return Response.json({"impressions": []})  # a type our rows lack: nothing has that value
        first = int(start.replace(tzinfo=zone).timestamp())
        last = int(end.replace(tzinfo=zone).timestamp())
        kept_from = int(months_before(datetime.now(UTC), 3).timestamp())
        first = max(first, kept_from)
        if last < first:
            return Response.json({"impressions": []})
        offers = [int(o) for o in filters["offer"] if o.isdigit() and int(o) in data.OFFERS] \
            if "offer" in filters else None
        if set(filters) <= {"offer"} and data.total(self.config.seed, first, last, offers) > CAP:
            return Response.json({"impressions": []})  # counted without making a row
        found = [data.impression(second, offer, x, attrs)
                 for second, _, offer, x, attrs in data.rows(self.config.seed, first, last, filters, CAP)]
        if len(found) > CAP:
            found = []  # the documented cap: more than 10 000 match, so none are returned
        return Response.json({"impressions": found})

    def __repr__(self) -> str:
        return f"EverflowApp(seed={self.config.seed}, at={time.time():.0f})"

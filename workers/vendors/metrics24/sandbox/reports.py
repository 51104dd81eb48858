"""24Metrics' report endpoints: cursor-paged click/conversion/impression tables and single-row lookups.

Stateless: every answer is read off :func:`~workers.vendors.metrics24.sandbox.rows.day_rows`.
Table pages come newest first in ``data.{data,count,pageInfo}``; ``page[after]`` walks to older
rows, ``page[before]`` back to newer ones, each cursor being a row's ``real_tx_id``.
"""

from __future__ import annotations

from datetime import date, timedelta

from devkit.sandbox.base import Request, Response, SandboxConfig
from workers.vendors.metrics24.sandbox.common import Handler, Invalid, date_param, integration, one, page_size
from workers.vendors.metrics24.sandbox.data import CURSOR, HASH
from workers.vendors.metrics24.sandbox.rows import count_rows, day_rows, days, parse_cursor, walk

__all__ = ["Reports"]


class Reports:
    """The report handlers; they read the seed from the shared config on every request."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def table(self, table: str) -> Handler:
        """The handler of ``table``'s (click, conversion, impression) paged report."""

        def handler(request: Request) -> Response:
            return self._table_page(request, table)

        return handler

    def _cursor(self, cursor: str, table: str, owner: str) -> tuple[date, int]:
        key = parse_cursor(cursor, self.config.seed, owner, table)
        if key is None:
            raise Invalid(400, f"invalid cursor {cursor[:40]!r}")
        return key

    def _table_page(self, request: Request, table: str) -> Response:
        owner = integration(one(request, "integration_id"))
        start, end = date_param(request, "start_date"), date_param(request, "end_date")
        assert start is not None and end is not None
        if end < start:
            raise Invalid(400, "end_date must be on or after start_date")
        size = page_size(request, required=True)
        after, before = one(request, "page[after]"), one(request, "page[before]")
        if after and before:
            raise Invalid(400, "page[after] and page[before] are mutually exclusive")
        seed = self.config.seed
        if before:
            key = self._cursor(before, table, owner)
            newer = list(walk(seed, owner, table, start, end, key, older=False, limit=size + 1))
            page = newer[:size][::-1]
            has_previous, has_next = len(newer) > size, True
        else:
            key = self._cursor(after, table, owner) if after else (end + timedelta(days=1), 0)
            older = list(walk(seed, owner, table, start, end, key, older=True, limit=size + 1))
            page = older[:size]
            has_previous, has_next = after is not None, len(older) > size
        count = sum(count_rows(seed, owner, table, day) for day in days(start, end))
        info = {
            "startCursor": page[0]["real_tx_id"] if page else "",
            "endCursor": page[-1]["real_tx_id"] if page else "",
            "hasNextPage": has_next and bool(page), "hasPreviousPage": has_previous and bool(page),
        }
        return Response.json({"data": {"count": count, "data": page, "pageInfo": info}})

    def _lookup(self, request: Request, table: str, key: str) -> Response:
        missing = [name for name in ("integration_id", "request_date", "offer", "publisher", key)
                   if not one(request, name)]
        if missing:
            raise Invalid(400, f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
        owner = integration(one(request, "integration_id"))
        day = date_param(request, "request_date")
        assert day is not None
        value = one(request, key) or ""
        what = "click" if table == "click" else "conversion"
        match = (CURSOR if table == "click" else HASH).fullmatch(value)
        row = None
        rows = day_rows(self.config.seed, owner, table, day)
        if match is not None and match["day"] == f"{day:%Y%m%d}":
            seq = int(match["seq"])
            if seq < len(rows) and rows[seq][key] == value:
                row = rows[seq]
        if row is None and match is None:
            # Not one of ours by its shape: a tracker's id, such as the example click's.
            row = next((r for r in rows if r[key] == value), None)
        if row is None or one(request, "offer") not in (row["offer"], row["offer_id"]) \
                or one(request, "publisher") != row["publisher"]:
            raise Invalid(404, f"no {what} matches the given parameters")
        return Response.json({"data": row})

    def lookup_click(self, request: Request) -> Response:
        return self._lookup(request, "click", "tx_id")

    def lookup_conversion(self, request: Request) -> Response:
        return self._lookup(request, "conversion", "hash")

"""Walking 24Metrics listings page by page without losing progress to a short vendor hiccup.

`read_page` fetches one page of any walk, retrying it in place; `numbered_pages` walks the
numbered listings (``page[number]``, ``meta.total_page``); `cursor_page` reads one page of a
report table (``page[after]``, ``pageInfo.endCursor``). Cursor walks are driven by their callers,
one page at a time, so a caller can store the cursor between pages and resume a walk that a
failure or a retry cut (``Metrics24Client.report_rows`` for a short walk in memory, the fraud
summary for a long one checkpointed in Redis).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from workers.errors import VendorProtocolError, VendorTransient
from workers.vendors.http import VendorHTTP
from workers.vendors.metrics24.api import MAX_PAGES, PAGE_BACKOFF, PAGE_RETRY_MAX_WAIT, PAGE_SIZE_MAX, VENDOR
from workers.vendors.metrics24.models import protocol_error, unwrap

__all__ = ["CursorPage", "cursor_page", "numbered_pages", "read_page"]

log = logging.getLogger(__name__)


def read_page(http: VendorHTTP, path: str, params: dict[str, Any], *, retries: int) -> Any:
    """GET one page of a multi-page walk, retried in place on 429/5xx up to `retries` times.

    A walk restarted by the actor would fetch every page again; a short wait here keeps
    what we have. Longer waits, timeouts and garbled answers go to the actor as they are.
    """
    attempt = 0
    while True:
        try:
            return http.json("GET", path, params=params)
        except VendorTransient as exc:
            if isinstance(exc, VendorProtocolError) or exc.status is None or attempt >= retries:
                raise
            wait = exc.retry_after if exc.retry_after is not None else PAGE_BACKOFF * 2**attempt
            if wait > PAGE_RETRY_MAX_WAIT:
                raise
            log.info("%s %s answered %s; retrying the page in %.1f s", VENDOR, path, exc.status, wait)
            time.sleep(wait)
            attempt += 1


def numbered_pages(http: VendorHTTP, path: str, what: str, *, retries: int) -> Iterator[list[Any]]:
    """The items of each page of a numbered listing, first page first; `what` names it in errors."""
    number = 1
    while True:
        payload = read_page(http, path, {"page[number]": number, "page[size]": PAGE_SIZE_MAX}, retries=retries)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise protocol_error(what, "no data list")
        items = payload["data"]
        yield items
        meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
        total_page = meta.get("total_page")
        if not items:
            return
        if isinstance(total_page, int) and not isinstance(total_page, bool):
            if number >= total_page:
                return
        elif len(items) < PAGE_SIZE_MAX:
            return
        number += 1
        if number > MAX_PAGES:
            raise protocol_error(what, f"more than {MAX_PAGES} pages")


@dataclass(frozen=True)
class CursorPage:
    """One page of a cursor-paged table, newest rows first."""

    items: list[dict[str, Any]]
    #: The vendor's ``count`` of rows in the whole range, where it sends one.
    total: int | None
    #: What to pass as ``after`` for the next page; None when this page was the last.
    next_cursor: str | None


def cursor_page(
    http: VendorHTTP, path: str, query: dict[str, str], *, after: str | None, size: int, retries: int, what: str
) -> CursorPage:
    """The page of ``path`` after cursor ``after`` (the first page for None); `what` names it in errors."""
    page_query: dict[str, Any] = {**query, "page[size]": size}
    if after is not None:
        page_query["page[after]"] = after
    body = unwrap(read_page(http, path, page_query, retries=retries), what)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise protocol_error(what, "no data list")
    count = body.get("count")
    total = count if isinstance(count, int) and not isinstance(count, bool) else None
    items = [item for item in body["data"] if isinstance(item, dict)]
    info = body.get("pageInfo") if isinstance(body.get("pageInfo"), dict) else {}
    if not (info.get("hasNextPage") and items):
        return CursorPage(items, total, None)
    cursor = info.get("endCursor")
    # The same cursor again would read the same page for ever.
    if not isinstance(cursor, str) or not cursor or cursor == after:
        raise protocol_error(what, "a next page without a new cursor")
    return CursorPage(items, total, cursor)

"""Walking 24Metrics listings page by page without losing progress to a short vendor hiccup.

`read_page` fetches one page of any walk, retrying it in place; `numbered_pages` walks the
numbered listings (``page[number]``, ``meta.total_page``). Report tables page by cursor, and
`Metrics24Client.report_rows` walks those itself because it also stops at a row budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from workers.errors import VendorProtocolError, VendorTransient
from workers.vendors.http import VendorHTTP
from workers.vendors.metrics24.api import MAX_PAGES, PAGE_BACKOFF, PAGE_RETRY_MAX_WAIT, PAGE_SIZE_MAX, VENDOR
from workers.vendors.metrics24.models import protocol_error

__all__ = ["numbered_pages", "read_page"]

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

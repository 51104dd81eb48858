"""Adspect's REST API: streams (pages, one, PATCH), the sales funnel, the click log (streamed),
the account and the collections.

Documented: HTTP Basic with the API key as user name and an empty password; reports answer one
JSON array per row, one per line (counts often as strings); ``HEAD /streams`` answers
``X-Pagination-Total-Count`` and ``X-Pagination-Page-Count`` (Yii's names, and Yii's error
bodies: ``{"name", "message", "status"}``, field errors as ``[{"field", "message"}]``, which
``workers.vendors.reasons`` reads). Array parameters repeat with ``[]`` (``metrics[]=clicks``).
401 names ADSPECT_API_KEY; 429, 5xx and timeouts are VendorTransient, retried by the steps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from workers.errors import VendorProtocolError, VendorRejected
from workers.vendors.adspect.models import Account, Stream, number, parse_row
from workers.vendors.http import VendorHTTP

__all__ = ["KEY_VARIABLE", "PER_PAGE", "VENDOR", "AdspectClient", "query"]

VENDOR = "Adspect"
KEY_VARIABLE = "ADSPECT_API_KEY"
#: The most streams a page gives (documented 1..100).
PER_PAGE = 100
#: The docs leave the name of the "name contains" parameter of ``GET /streams`` blank; Yii's
#: search models call it after the field.
NAME_PARAM = "name"
#: Stream ids are UUIDs; anything that could leave the path segment is refused.
_STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_COLLECTION = re.compile(r"[a-z][a-z0-9-]{0,63}")


def query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query pairs: lists repeat as ``name[]`` (OR within a name), None is left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs += [(f"{name}[]", str(v)) for v in value]
        else:
            pairs.append((name, str(value)))
    return pairs


class AdspectClient:
    """The Adspect adapter. Thread-safe; one per runtime."""

    vendor = VENDOR

    def __init__(
        self, base_url: str, api_key: SecretStr | str, *, timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        secret = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not secret or not secret.strip():
            raise ValueError(f"{KEY_VARIABLE} is empty")
        self.base_url = base_url.rstrip("/") + "/"
        self._http = VendorHTTP(
            VENDOR, self.base_url, auth=(secret.strip(), ""), key_variable=KEY_VARIABLE, timeout=timeout,
            headers={"Content-Type": "application/json"}, transport=transport,
        )
        #: Collections this process read, for callers without Redis (a build's plan): name ->
        #: (values, read at). See :mod:`workers.vendors.adspect.collections`.
        self.memo: dict[str, tuple[list[str], float]] = {}

    def __repr__(self) -> str:
        return f"AdspectClient({self.base_url!r})"

    # -- collections and the account ------------------------------------------------------------

    def collection(self, name: str) -> list[str]:
        """The valid values of one collection (``query-funnel-metrics``…), as strings."""
        if not _COLLECTION.fullmatch(name):
            raise ValueError(f"not a collection name: {name!r}")
        payload = self._http.json("GET", f"collections/{name}")
        items = payload.items() if isinstance(payload, dict) else payload if isinstance(payload, list) else None
        if items is None:
            raise VendorProtocolError(VENDOR, f"{VENDOR} sent an unexpected answer to collection {name}.")
        values = []
        for item in items:
            if isinstance(item, tuple):  # {"value": "label"}
                item = item[0]
            if isinstance(item, dict):
                item = next((item[k] for k in ("value", "id", "code", "name") if k in item), None)
            if isinstance(item, (str, int)) and str(item):
                values.append(str(item))
        return values

    def account(self) -> Account:
        try:
            return Account.model_validate(self._http.json("GET", "account"))
        except ValidationError:
            raise VendorProtocolError(VENDOR, f"{VENDOR} sent an account we could not read.") from None

    # -- streams ------------------------------------------------------------------------------

    def stream_pages(self, *, name: str | None = None, per_page: int = PER_PAGE) -> tuple[int, int]:
        """(streams, pages) from ``HEAD /streams``."""
        response = self._http.request("HEAD", "streams", params=query({"per-page": per_page, NAME_PARAM: name}))
        total = number(response.headers.get("x-pagination-total-count", ""))
        pages = number(response.headers.get("x-pagination-page-count", ""))
        if not isinstance(total, int):
            raise VendorProtocolError(VENDOR, f"{VENDOR} sent no stream count (X-Pagination-Total-Count).")
        return total, pages if isinstance(pages, int) else max(1, math.ceil(total / per_page))

    def streams(self, *, name: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> list[Stream]:
        payload = self._http.json("GET", "streams", params=query({"page": page, "per-page": per_page, NAME_PARAM: name}))
        return [self._stream(item) for item in (payload if isinstance(payload, list) else [])]

    def all_streams(self, *, name: str | None = None) -> list[Stream]:
        """Every stream (every page), ordered by name as Adspect orders them."""
        _, pages = self.stream_pages(name=name)
        found: dict[str, Stream] = {}
        for page in range(1, pages + 1):
            for stream in self.streams(name=name, page=page):
                found.setdefault(stream.stream_id, stream)  # a stream added meanwhile shifts pages
        return list(found.values())

    def stream(self, stream_id: str) -> Stream:
        return self._stream(self._http.json("GET", f"streams/{self._id(stream_id)}"))

    def set_mode(self, stream_id: str, mode: str) -> Stream:
        """``PATCH`` the stream's mode only (PATCH changes only the fields sent)."""
        return self._stream(self._http.json("PATCH", f"streams/{self._id(stream_id)}", json={"mode": mode}))

    @staticmethod
    def _id(stream_id: str) -> str:
        if not _STREAM_ID.fullmatch(stream_id):
            raise VendorRejected(VENDOR, f"`{stream_id[:80]}` is not an Adspect stream id.", status=400)
        return stream_id

    @staticmethod
    def _stream(payload: Any) -> Stream:
        try:
            return Stream.model_validate(payload)
        except ValidationError:
            raise VendorProtocolError(VENDOR, f"{VENDOR} sent a stream we could not read.") from None

    # -- reports ------------------------------------------------------------------------------

    def funnel(self, group_by: Sequence[str], metrics: Sequence[str], filters: Mapping[str, Any]) -> list[list[Any]]:
        """The sales funnel's rows: breakdown values then metrics, in the order asked; numbers as numbers."""
        params = query({**filters, "group_by": list(group_by), "metrics": list(metrics)})
        width = len(group_by) + len(metrics)
        rows = []
        with self.report_lines("reports/funnel", params) as lines:
            for row in lines:
                if len(row) != width:
                    raise VendorProtocolError(VENDOR, f"{VENDOR} sent a funnel row of {len(row)} values, not {width}.")
                rows.append(row[: len(group_by)] + [number(v) for v in row[len(group_by):]])
        return rows

    @contextmanager
    def log(self, columns: Sequence[str], filters: Mapping[str, Any]) -> Iterator[Iterator[list[Any]]]:
        """The click log's rows as they arrive, one list per click, never held whole."""
        with self.report_lines("reports/log", query({**filters, "columns": list(columns)})) as rows:
            yield rows

    @contextmanager
    def report_lines(self, path: str, params: list[tuple[str, str]]) -> Iterator[Iterator[list[Any]]]:
        with self._http.lines("GET", path, params=params) as lines:
            yield self._rows(lines)

    def _rows(self, lines: Iterator[str]) -> Iterator[list[Any]]:
        for n, line in enumerate(lines, 1):
            try:
                row = parse_row(line)
            except ValueError:
                raise VendorProtocolError(VENDOR, f"{VENDOR} sent a report line we could not read (line {n}).") from None
            if row is None:
                continue
            if row and isinstance(row[0], list):  # the whole answer as one array of arrays on a line
                yield from row
            else:
                yield row

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdspectClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

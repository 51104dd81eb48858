"""Everflow's raw impressions stream: one window a request, within Everflow's limits.

``POST {IMPRESSIONS_PATH}`` with ``from``/``to``/``timezone_id``/``query.filters`` answers
``{"impressions": [...]}`` (the row shape is not published; NOTES.md expects the click stream's:
flat fields plus a nested ``relationship``). The search (``search.py``) decides which windows to
ask; this adapter only sends one and reads it. Every request takes a slot of
:class:`~workers.vendors.everflow.limits.EverflowLimits` first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import SecretStr

from workers.errors import VendorError, VendorProtocolError, VendorRejected
from workers.vendors.everflow.limits import EverflowLimits, backend_of_broker
from workers.vendors.http import VendorHTTP

__all__ = ["IMPRESSIONS_PATH", "KEY_VARIABLE", "VENDOR", "EverflowClient"]

VENDOR = "Everflow"
KEY_VARIABLE = "EVERFLOW_API_KEY"
IMPRESSIONS_PATH = "/v1/networks/reporting/impressions/stream"


class EverflowClient:
    """The Everflow adapter. Shared by worker threads; ``requests`` counts what it sent (for tests and benches)."""

    vendor = VENDOR

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        limits: EverflowLimits | None = None,
    ) -> None:
        secret = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not secret or not secret.strip():
            raise ValueError(f"{KEY_VARIABLE} is empty")
        self.base_url = base_url
        self.limits = limits if limits is not None else EverflowLimits(backend_of_broker)
        self.requests = 0
        self._http = VendorHTTP(
            VENDOR, base_url, headers={"X-Eflow-API-Key": secret.strip(), "Content-Type": "application/json"},
            key_variable=KEY_VARIABLE, timeout=timeout, transport=transport,
        )

    def __repr__(self) -> str:
        return f"EverflowClient({self.base_url!r})"

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold one of this process's answers over more than a request (the builder's whole fetch:
        the parsed rows stay in memory until they are written), so the cap bounds memory."""
        with self.limits.answer():
            yield

    def impressions(
        self, start: str, end: str, timezone_id: int, filters: list[dict[str, str]]
    ) -> list[dict[str, Any]]:
        """Every impression of ``[start, end]`` (inclusive, ``YYYY-mm-DD HH:MM:SS`` in ``timezone_id``),
        or ``[]`` when there are none *or more than 10 000* (Everflow cannot tell us which)."""
        body: dict[str, Any] = {"from": start, "to": end, "timezone_id": timezone_id}
        if filters:
            body["query"] = {"filters": filters}
        with self.limits.answer(), self.limits.slot():
            self.requests += 1
            try:
                payload = self._http.json("POST", IMPRESSIONS_PATH, json=body)
            except VendorRejected as exc:
                if exc.status != 400:
                    raise
                # We check every window and value before sending: a 400 is our bug, and asking
                # again would get the same answer. It fails the job with what the vendor said.
                raise VendorError(
                    VENDOR, f"Everflow refused our request for {start}..{end} ({exc.reason or '400'}); this is a "
                    "bug on our side, please report it.", status=400,
                ) from exc
        rows = payload.get("impressions") if isinstance(payload, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise VendorProtocolError(VENDOR, "Everflow sent an unexpected answer (no list of impressions).")
        return rows

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EverflowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

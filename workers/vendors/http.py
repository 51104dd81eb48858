"""The vendor adapters' HTTP client: one pooled client per vendor, every way of asking mapped.

:class:`VendorHTTP` hands an adapter a 2xx answer or raises one exception of
:mod:`workers.errors`: statuses through the one status map (:mod:`workers.vendors.statuses`),
timeouts, refused and broken connections and bodies too big or not JSON here. Every request is
counted once in ``adops_vendor_requests_total`` with its latency: an answer by its status (httpx
event hooks, :func:`workers.metrics.vendor_hooks`), a request that got none as ``timeout``,
``connect_error`` or ``broken``. Keys travel in headers only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from workers.errors import VendorError, VendorProtocolError, VendorTransient
from workers.metrics import vendor_hooks, vendor_unanswered
from workers.vendors.statuses import raise_for_status

__all__ = ["MAX_RESPONSE_BYTES", "VendorHTTP"]

log = logging.getLogger(__name__)

#: The most of a vendor's answer we hold in memory (decoded); more is a vendor fault or a bomb (streams: ``lines``).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
USER_AGENT = "adops/0.1"
#: A transport error's kind (:class:`VendorTransient`'s ``kind``) as the metric's status label.
UNANSWERED = {"timeout": "timeout", "connect": "connect_error", "broken": "broken"}


class VendorHTTP:
    """One vendor's HTTP client: pooled connections, shared by all worker threads.

    ``headers`` and ``auth`` carry the key; ``key_variable`` names the setting it came from.
    Redirects are not followed: httpx drops ``Authorization`` on a cross-host redirect but
    would forward a custom key header such as ``API-KEY``.
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        key_variable: str,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
        max_body: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url
        self.key_variable = key_variable
        self.timeout = timeout
        self.max_body = max_body
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            auth=auth,
            timeout=timeout,
            transport=transport, event_hooks=vendor_hooks(vendor),  # every answer counted, with its latency
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VendorHTTP({self.vendor!r}, {self.base_url!r})"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; return a 2xx response (body read) or raise a VendorError."""
        started = time.monotonic()
        with self._mapped(method, path):
            # Streamed, so a body over ``max_body`` is refused without holding more than that.
            with self._client.stream(method, path, **kwargs) as streamed:
                response = self._read_capped(streamed)
        log.debug("%s %s %s -> %s in %.0f ms", self.vendor, method, path, response.status_code,
                  (time.monotonic() - started) * 1000)
        raise_for_status(response, self.vendor, self.key_variable)
        return response

    @contextmanager
    def lines(self, method: str, path: str, **kwargs: Any) -> Iterator[Iterator[str]]:
        """A 2xx body line by line as it arrives, never whole (a click log of millions of rows);
        errors as :meth:`request`'s, a break mid-body VendorTransient from the iteration."""
        with self._mapped(method, path):
            with self._client.stream(method, path, **kwargs) as streamed:
                if not 200 <= streamed.status_code < 300:
                    raise_for_status(self._read_capped(streamed), self.vendor, self.key_variable)
                yield streamed.iter_lines()

    @contextmanager
    def _mapped(self, method: str, path: str) -> Iterator[None]:
        """httpx's transport errors as our VendorErrors, in one place for every way of asking."""
        try:
            yield
        except httpx.TimeoutException as exc:
            connect = isinstance(exc, httpx.ConnectTimeout)
            message = (f"Could not connect to {self.vendor} within {self.timeout:g} s." if connect
                       else f"{self.vendor} did not answer within {self.timeout:g} s.")
            log.info("%s %s %s: %s", self.vendor, method, path, type(exc).__name__)
            kind = "connect" if connect else "timeout"
            self._unanswered(exc, kind)
            raise VendorTransient(self.vendor, message + " This is usually temporary.", kind=kind) from exc
        except httpx.UnsupportedProtocol as exc:  # never sent: not a vendor request to count
            message = f"The {self.vendor} base URL is not an http(s) URL; check the configuration."
            raise VendorError(self.vendor, message) from exc
        except httpx.TransportError as exc:
            connect = isinstance(exc, httpx.ConnectError)
            message = f"Could not connect to {self.vendor}." if connect else f"The connection to {self.vendor} broke off."
            log.info("%s %s %s: %s", self.vendor, method, path, type(exc).__name__)
            kind = "connect" if connect else "broken"
            self._unanswered(exc, kind)
            raise VendorTransient(self.vendor, message + " This is usually temporary.", kind=kind) from exc

    def _unanswered(self, exc: httpx.RequestError, kind: str) -> None:
        try:
            request = exc.request
        except RuntimeError:  # httpx sets it on every error of a request it sent: none was sent
            return
        vendor_unanswered(self.vendor, request, UNANSWERED[kind])

    def _read_capped(self, streamed: httpx.Response) -> httpx.Response:
        """The streamed answer read into memory, or VendorProtocolError past ``max_body`` bytes."""
        declared = streamed.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise self._too_big(streamed, f"{int(declared):,} bytes announced")
        if declared.isdigit() and "content-encoding" not in streamed.headers:
            # The common answer: a small body of announced length, sent as is. Reading it is
            # bounded by that length, and its headers describe it as read, so it is kept as is
            # (building a copy cost a tenth of a vendor call's CPU).
            streamed.read()
            return streamed
        chunks: list[bytes] = []
        size = 0
        for chunk in streamed.iter_bytes():  # decoded: the cap holds for a compressed body too
            size += len(chunk)
            if size > self.max_body:
                raise self._too_big(streamed, f"more than {self.max_body:,} bytes")
            chunks.append(chunk)
        # The body as read, decoded; the encoding headers described the bytes on the wire.
        headers = [(k, v) for k, v in streamed.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(
            streamed.status_code, headers=headers, content=b"".join(chunks), request=streamed.request,
            extensions=streamed.extensions,
        )

    def _too_big(self, streamed: httpx.Response, what: str) -> VendorProtocolError:
        log.warning("%s answered %s with %s; not read", self.vendor, streamed.status_code, what)
        return VendorProtocolError(
            self.vendor,
            f"{self.vendor} sent an answer too large to read ({what}; we read at most {self.max_body:,}).",
            status=streamed.status_code,
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, and decode the body as JSON or raise VendorProtocolError."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise VendorProtocolError(
                self.vendor,
                f"{self.vendor} sent an answer we could not read (not JSON: {kind}, {len(response.content)} bytes).",
                status=response.status_code,
            ) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VendorHTTP:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

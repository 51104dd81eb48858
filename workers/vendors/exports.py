"""What every export adapter promises, whatever the vendor calls its states.

The export state machine in the actors speaks only this: ``create`` once, then ``check`` until
the status is ``ready`` or ``failed`` (or the job's deadline passes). ``vendor_state`` keeps the
vendor's own word (``STARTED``, ``IN_PROGRESS``) for the progress message.

A create that timed out may still have made an export. :func:`request_may_have_landed` tells a
failure that surely made nothing (no connection, a 429 or 503 answer) from one that may have;
an adapter may offer ``recover`` (see :class:`Recovers`) to find the export an earlier try made
before the step creates another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from workers.errors import VendorError

__all__ = ["ExportAdapter", "ExportState", "ExportStatus", "Recovers", "request_may_have_landed"]

#: Answers that say the vendor did not act on the request: throttled, unavailable, or (408, 425)
#: it did not take the request at all.
NOT_ACTED_ON = frozenset({408, 425, 429, 503})
#: Failures before a request was sent: nothing can have reached the vendor.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def request_may_have_landed(exc: VendorError) -> bool:
    """Whether the call that raised ``exc`` may have reached the vendor and acted there.

    Surely not: a connection that was never made, or an answer the vendor gives before acting
    (429, 503, 408, 425). Anything else may have: a read timeout, a connection broken after the
    request was sent, another 5xx, an answer we could not read.
    """
    if exc.status is not None:
        return exc.status not in NOT_ACTED_ON
    return not isinstance(exc.__cause__, _NOT_SENT)

ExportState = Literal["pending", "ready", "failed"]


@dataclass(frozen=True)
class ExportStatus:
    state: ExportState
    vendor_state: str
    url: str | None = None  # the vendor's download link, posted as is
    reason: str | None = None  # why it failed, in the vendor's words (short, safe to show)
    rows: int | None = None
    expires_at: datetime | None = None  # when ``url`` stops working, where the vendor says
    note: str | None = None  # anything else worth telling the user (a truncated range, ...)

    def __post_init__(self) -> None:
        if self.state == "ready" and not self.url:
            raise ValueError("a ready export needs a url")

    @property
    def finished(self) -> bool:
        return self.state != "pending"


@runtime_checkable
class ExportAdapter(Protocol):
    """One vendor's asynchronous export: thread-safe, raising only VendorError subclasses."""

    def create(self, params: dict[str, Any]) -> str:
        """Ask the vendor for an export; return its export id."""
        ...

    def check(self, export_id: str) -> ExportStatus:
        """Ask once how the export is doing; never wait."""
        ...


@runtime_checkable
class Recovers(Protocol):
    """An adapter that can tell whether an earlier, unanswered create made an export."""

    def recover(self, params: dict[str, Any], *, since: float) -> str | None:
        """The id of an export for ``params`` made at or after ``since`` (epoch seconds), or None
        when there surely is none; raise a VendorError when that cannot be known."""
        ...

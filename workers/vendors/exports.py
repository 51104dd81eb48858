"""What every export adapter promises, whatever the vendor calls its states.

The export state machine in the actors speaks only this: ``create`` once, then ``check`` until
the status is ``ready`` or ``failed`` (or the job's deadline passes). ``vendor_state`` keeps the
vendor's own word (``STARTED``, ``IN_PROGRESS``) for the progress message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["ExportAdapter", "ExportState", "ExportStatus"]

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

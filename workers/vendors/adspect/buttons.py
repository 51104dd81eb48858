"""Adspect's buttons: set a stream's mode (one button a mode: action ids must differ within a
block), page through the streams, apply a change of several streams once confirmed, restore
the modes such a change replaced. Values are short-aliased JSON, as every vendor's."""

from __future__ import annotations

from pydantic import Field

from workers.buttons import Button, ButtonValue
from workers.vendors.adspect.models import MODES

__all__ = ["BULK_APPLY", "MODE_BUTTONS", "NEXT_PAGE", "PREVIOUS_PAGE", "RESTORE", "BUTTONS", "BulkApply", "BulkRestore",
           "StreamMode", "StreamPage"]


class StreamPage(ButtonValue):
    """Which listing a message shows: the name filter, the page, whether an admin asked."""

    name: str | None = Field(default=None, alias="q")
    page: int = Field(default=0, alias="p", ge=0)
    admin: bool | None = Field(default=None, alias="m")


class StreamMode(StreamPage):
    """Set stream ``stream_id`` to mode ``to`` (never "next"), on the listing the button sits on."""

    stream_id: str = Field(alias="s", min_length=1, max_length=64)
    to: str = Field(alias="t")


class BulkApply(ButtonValue):
    prompt: str = Field(alias="p", min_length=1)


class BulkRestore(ButtonValue):
    audit_id: str = Field(alias="a", pattern=r"^\d+-\d+$")


def _listing(value: StreamPage) -> dict[str, object]:
    return {"name": value.name, "page": value.page, "admin": value.admin}


def _mode_button(mode: str) -> Button[StreamMode]:
    return Button(
        f"ad_mode_{mode.lower()}", StreamMode, op="ad_stream_set",
        summary=lambda v: f"Switch Adspect stream {v.stream_id} to {v.to}",
        params=lambda v: {**_listing(v), "stream_id": v.stream_id, "to": v.to},
        admin_only=True,
    )


MODE_BUTTONS: dict[str, Button[StreamMode]] = {mode: _mode_button(mode) for mode in MODES}
PREVIOUS_PAGE: Button[StreamPage] = Button(
    "ad_streams_prev", StreamPage, op="ad_streams", summary=lambda v: f"Adspect streams, page {v.page + 1}",
    params=_listing,
)
NEXT_PAGE: Button[StreamPage] = Button(
    "ad_streams_next", StreamPage, op="ad_streams", summary=lambda v: f"Adspect streams, page {v.page + 1}",
    params=_listing,
)
BULK_APPLY: Button[BulkApply] = Button(
    "ad_bulk_apply", BulkApply, op="ad_bulk_apply",
    summary=lambda v: f"Apply the change of Adspect streams asked in job {v.prompt}",
    params=lambda v: {"prompt": v.prompt}, admin_only=True,
)
RESTORE: Button[BulkRestore] = Button(
    "ad_restore", BulkRestore, op="ad_bulk_apply",
    summary=lambda v: f"Restore the Adspect streams' modes from before audit entry {v.audit_id}",
    params=lambda v: {"audit_id": v.audit_id}, admin_only=True,
)

BUTTONS = (*MODE_BUTTONS.values(), PREVIOUS_PAGE, NEXT_PAGE, BULK_APPLY, RESTORE)

"""The "Get a fresh link" button of ``/adops export 24metrics list``.

A Download Center link is signed for about an hour; the file stays longer. The button on each
completed export asks 24Metrics for a new signed link to the same file (``GET
/api/v2/download-center/url?artifact_name=…``), through a task job like every other button.
"""

from __future__ import annotations

from pydantic import Field

from workers.buttons import Button, ButtonValue

__all__ = ["FRESH_LINK", "ExportRef"]


class ExportRef(ButtonValue):
    """One export of one integration (the ingress checks the integration is one we may name)."""

    export_id: str = Field(alias="x", min_length=1, max_length=64)
    integration: str = Field(alias="i")


FRESH_LINK: Button[ExportRef] = Button(
    "m24_fresh_link",
    ExportRef,
    op="m24_fresh_link",
    summary=lambda v: f"A fresh link to 24Metrics export {v.export_id}",
    params=lambda v: {"integration": v.integration, "export_id": v.export_id},
)

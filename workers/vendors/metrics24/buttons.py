"""The 24Metrics buttons: switch a filter group, page through the groups, delete one, apply a
change of several groups once confirmed, and restore the modes a change of several replaced.

Each value is one model, written by the renderer and read by the ingress through the same
:class:`~workers.buttons.Button`. The short aliases are the keys buttons already posted in Slack
carry, so those keep working.
"""

from __future__ import annotations

from pydantic import Field

from workers.buttons import Button, ButtonValue

__all__ = [
    "BULK_APPLY", "DELETE", "NEXT_PAGE", "PREVIOUS_PAGE", "RESTORE", "SWITCH", "BulkApply", "BulkRestore",
    "GroupChange", "GroupDelete", "GroupPage",
]


class GroupPage(ButtonValue):
    """Which listing a message shows: the integration, the name filter and the page."""

    integration: str = Field(alias="i")
    name: str | None = Field(default=None, alias="q")
    page: int = Field(default=0, alias="p", ge=0)
    #: Whether the page was asked for by an admin, so paging keeps its buttons (or their
    #: absence) whoever pages; None on pages posted before this was kept: the pager decides.
    admin: bool | None = Field(default=None, alias="m")


class GroupChange(GroupPage):
    """Set ``field`` of one group to ``to`` (never "flip"), on the listing the button sits on."""

    group_id: str = Field(alias="g", min_length=1)
    field: str = Field(default="monitoring_mode", alias="f")
    to: bool


class GroupDelete(ButtonValue):
    group_id: str = Field(alias="g", min_length=1)
    integration: str = Field(alias="i")


class BulkApply(ButtonValue):
    """Apply the change a prompt job listed (its result holds the groups), once."""

    prompt: str = Field(alias="p", min_length=1)
    integration: str = Field(alias="i")


class BulkRestore(ButtonValue):
    """Put back the modes the groups of one audited change of several groups had before it."""

    audit_id: str = Field(alias="a", pattern=r"^\d+-\d+$")
    integration: str = Field(alias="i")


def _listing(value: GroupPage) -> dict[str, object]:
    return {"integration": value.integration, "name": value.name, "page": value.page, "admin": value.admin}


SWITCH: Button[GroupChange] = Button(
    "fg_toggle",
    GroupChange,
    op="fg_set",
    summary=lambda v: f"Switch filter group {v.group_id}",
    params=lambda v: {**_listing(v), "group_id": v.group_id, "field": v.field, "to": v.to},
    admin_only=True,
)
PREVIOUS_PAGE: Button[GroupPage] = Button(
    "fg_page_prev", GroupPage, op="fg_list", summary=lambda v: f"24Metrics filter groups, page {v.page + 1}",
    params=_listing,
)
NEXT_PAGE: Button[GroupPage] = Button(
    "fg_page_next", GroupPage, op="fg_list", summary=lambda v: f"24Metrics filter groups, page {v.page + 1}",
    params=_listing,
)
DELETE: Button[GroupDelete] = Button(
    "fg_delete",
    GroupDelete,
    op="fg_delete",
    summary=lambda v: f"Delete filter group {v.group_id}",
    params=lambda v: {"integration": v.integration, "group_id": v.group_id},
    admin_only=True,
)

BULK_APPLY: Button[BulkApply] = Button(
    "fg_bulk_apply",
    BulkApply,
    op="fg_bulk_apply",
    summary=lambda v: f"Apply the change of filter groups asked in job {v.prompt}",
    params=lambda v: {"integration": v.integration, "prompt": v.prompt},
    admin_only=True,
)
RESTORE: Button[BulkRestore] = Button(
    "fg_restore",
    BulkRestore,
    op="fg_bulk_apply",
    summary=lambda v: f"Restore the filter groups' modes from before audit entry {v.audit_id}",
    params=lambda v: {"integration": v.integration, "audit_id": v.audit_id},
    admin_only=True,
)

BUTTONS = (SWITCH, PREVIOUS_PAGE, NEXT_PAGE, DELETE, BULK_APPLY, RESTORE)

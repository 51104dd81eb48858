"""The 24Metrics buttons: switch a filter group, page through the groups, delete one.

Each value is one model, written by the renderer and read by the ingress through the same
:class:`~workers.buttons.Button`. The short aliases are the keys buttons already posted in Slack
carry, so those keep working.
"""

from __future__ import annotations

from pydantic import Field

from workers.buttons import Button, ButtonValue

__all__ = ["DELETE", "NEXT_PAGE", "PREVIOUS_PAGE", "SWITCH", "GroupChange", "GroupDelete", "GroupPage"]


class GroupPage(ButtonValue):
    """Which listing a message shows: the integration, the name filter and the page."""

    integration: str = Field(alias="i")
    name: str | None = Field(default=None, alias="q")
    page: int = Field(default=0, alias="p", ge=0)


class GroupChange(GroupPage):
    """Set ``field`` of one group to ``to`` (never "flip"), on the listing the button sits on."""

    group_id: str = Field(alias="g", min_length=1)
    field: str = Field(default="monitoring_mode", alias="f")
    to: bool


class GroupDelete(ButtonValue):
    group_id: str = Field(alias="g", min_length=1)
    integration: str = Field(alias="i")


def _listing(value: GroupPage) -> dict[str, object]:
    return {"integration": value.integration, "name": value.name, "page": value.page}


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

BUTTONS = (SWITCH, PREVIOUS_PAGE, NEXT_PAGE, DELETE)

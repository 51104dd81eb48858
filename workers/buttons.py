"""Buttons that start a task on the message they sit on: one schema writes and reads a value.

A :class:`Button` is declared once, in its vendor's folder, with the pydantic model of its value.
The renderer calls :meth:`Button.element` to put it on a message; the ingress calls
:meth:`Button.read` on the click and :meth:`Button.params` to build the task's job. The value is
compact JSON (field aliases keep it short and keep buttons already posted in Slack working).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from slack_sdk.models.blocks import ButtonElement, ConfirmObject

__all__ = ["Button", "ButtonValue"]

#: Slack's limit on a button's value.
VALUE_LIMIT = 2000


class ButtonValue(BaseModel):
    """Base of every button value: frozen, written by alias, unknown keys ignored (old buttons)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


V = TypeVar("V", bound=ButtonValue)


@dataclass(frozen=True)
class Button(Generic[V]):
    action_id: str
    value: type[V]
    #: The task a click starts.
    op: str
    #: The job's summary, from the value ("Switch filter group 12").
    summary: Callable[[V], str]
    #: The task's params, from the value (the ingress adds ``op`` and ``update``).
    params: Callable[[V], dict[str, Any]]
    #: Changes state: only ADOPS_ADMINS may click it; others get a plain refusal.
    admin_only: bool = False

    def encode(self, value: V) -> str:
        raw = value.model_dump_json(by_alias=True, exclude_none=True)
        if len(raw) > VALUE_LIMIT:
            raise ValueError(f"{self.action_id} value is {len(raw)} characters; Slack takes {VALUE_LIMIT}")
        return raw

    def read(self, raw: str) -> V | None:
        """The value of a click, or None when it is not one this button wrote."""
        try:
            return self.value.model_validate_json(raw or "{}")
        except ValidationError:
            return None

    def element(
        self, text: str, value: V, *, style: str | None = None, confirm: ConfirmObject | None = None
    ) -> ButtonElement:
        return ButtonElement(text=text, action_id=self.action_id, value=self.encode(value), style=style, confirm=confirm)

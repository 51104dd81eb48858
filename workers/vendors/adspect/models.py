"""Adspect's objects as the adapter hands them on (pure): streams, the account, report rows.

Adspect sends counts as strings (``"1453"``) beside floats (``0.5189``) and the balance as a
numeric string; here they are numbers. Unknown fields are kept out, missing optional ones are None.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

__all__ = ["MODES", "Account", "Stream", "number", "parse_row"]

#: The documented stream modes (``stream-modes`` lists them; Review is the default).
MODES = ("Filter", "Review", "Money", "White")


def number(value: Any) -> Any:
    """A count or a rate as a number: ``"1453"`` -> 1453, ``"0.15"`` -> 0.15; text stays text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            f = float(text)
        except ValueError:
            return value
        return f if f == f and f not in (float("inf"), float("-inf")) else value
    return value


def parse_row(line: str) -> list[Any] | None:
    """One answer line (a JSON array) as values; None for a blank line. ValueError when the line
    is not an array."""
    text = line.strip()
    if text.endswith(","):
        text = text[:-1]
    if not text or text in ("[", "]"):
        return None  # a single JSON array of arrays, pretty-printed: its brackets
    row = json.loads(text)
    if not isinstance(row, list):
        raise ValueError("not a JSON array")
    return row


class Stream(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stream_id: str
    name: str = ""
    mode: str = "Review"
    tags: list[str] = Field(default_factory=list)

    @field_validator("name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value


class Account(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: str = ""
    email: str | None = None
    time_zone: str | None = None
    balance: Decimal | None = None
    #: Unix time the subscription ends. The docs' field names are not printed; these are the
    #: ones the Account object's description reads as (see NOTES.md).
    expires_at: int | None = Field(default=None, validation_alias=AliasChoices("expires_at", "expires", "expiry",
                                                                               "subscription_expires", "expire_at"))

    @field_validator("balance", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("balance is not a number") from None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _epoch(cls, value: Any) -> Any:
        return None if value in (None, "", 0, "0") else int(number(value))

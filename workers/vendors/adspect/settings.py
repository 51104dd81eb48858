"""Adspect's settings: the API key (HTTP Basic user name, empty password), the base URL, and
when ``/adops account`` warns."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from workers.settings import VendorSettings

__all__ = ["AdspectSettings"]


class AdspectSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="ADSPECT_")
    name: ClassVar[str] = "adspect"
    key_field: ClassVar[str] = "api_key"

    api_key: SecretStr | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("https://api.adspect.net/v1/")
    #: Warn when the subscription ends within this many days.
    expiry_warn_days: int = Field(default=7, ge=0, le=365)
    #: Warn when the balance is under this (the account's standard units); unset: never.
    balance_warn: Decimal | None = Field(default=None, ge=0)

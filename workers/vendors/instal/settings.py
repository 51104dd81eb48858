"""Instal's settings: ``INSTAL_TOKEN`` (sent as ``Authorization: Token …``) and ``INSTAL_BASE_URL``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict

from workers.settings import VendorSettings

__all__ = ["InstalSettings"]


class InstalSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="INSTAL_")
    name: ClassVar[str] = "instal"
    key_field: ClassVar[str] = "token"

    token: SecretStr | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("https://dashboard.instal.com")

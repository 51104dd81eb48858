"""Everflow's settings: ``EVERFLOW_API_KEY`` (sent as ``X-Eflow-API-Key``), ``EVERFLOW_BASE_URL``
and ``EVERFLOW_TIMEZONE_ID``, the zone ranges are read in when the command names none (67 = UTC)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from workers.settings import VendorSettings
from workers.vendors.everflow.zones import ZONES

__all__ = ["EverflowSettings"]


class EverflowSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="EVERFLOW_")
    name: ClassVar[str] = "everflow"
    key_field: ClassVar[str] = "api_key"

    api_key: SecretStr | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("https://api.eflow.team")
    timezone_id: int = 67

    @field_validator("timezone_id")
    @classmethod
    def _known_zone(cls, value: int) -> int:
        # A zone we cannot name would shift every window's bounds without anyone noticing.
        if value not in ZONES:
            known = ", ".join(f"{k} ({v})" for k, v in ZONES.items())
            raise ValueError(f"unknown Everflow timezone_id {value}; known: {known}")
        return value

"""Everflow's settings: ``EVERFLOW_API_KEY`` (sent as ``X-Eflow-API-Key``), ``EVERFLOW_BASE_URL``
and ``EVERFLOW_TIMEZONE_ID``, the zone ranges are read in when the command names none (67 = UTC), and
``EVERFLOW_ANSWERS_PER_PROCESS``, how many answers one worker process reads at once (memory)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from workers.settings import VendorSettings
from workers.vendors.everflow.limits import ANSWERS_PER_PROCESS, CONCURRENT
from workers.vendors.everflow.zones import ZONES

__all__ = ["EverflowSettings"]


class EverflowSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="EVERFLOW_")
    name: ClassVar[str] = "everflow"
    key_field: ClassVar[str] = "api_key"

    api_key: SecretStr | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("https://api.eflow.team")
    timezone_id: int = 67
    #: Everflow answers a worker process holds at once (limits.ANSWERS_PER_PROCESS): each is up
    #: to ~40 MB while read; more overlaps more requests per process at that cost in memory.
    answers_per_process: int = Field(default=ANSWERS_PER_PROCESS, ge=1, le=CONCURRENT)

    @field_validator("timezone_id")
    @classmethod
    def _known_zone(cls, value: int) -> int:
        # A zone we cannot name would shift every window's bounds without anyone noticing.
        if value not in ZONES:
            known = ", ".join(f"{k} ({v})" for k, v in ZONES.items())
            raise ValueError(f"unknown Everflow timezone_id {value}; known: {known}")
        return value

"""24Metrics' settings: ``METRICS24_API_KEY`` (the ``API-KEY`` header), the base URL, and the
integration and organization used when a command names none."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict

from workers.settings import VendorSettings

__all__ = ["Metrics24Settings"]


class Metrics24Settings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS24_")
    name: ClassVar[str] = "24metrics"

    api_key: SecretStr | None = None
    # Not confirmed by a public source; one setting to correct (see the README).
    base_url: AnyHttpUrl = AnyHttpUrl("https://api.24metrics.com")
    integration_id: str | None = None
    organization_id: str | None = None

"""24Metrics' settings: ``METRICS24_API_KEY`` (the ``API-KEY`` header), the base URL, the
integration and organization used when a command names none, and the other integrations
``integration=`` may name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from workers.settings import CommaList, VendorSettings

__all__ = ["Metrics24Settings"]

#: What an integration id looks like when we repeat it back; anything else is not echoed.
_SHOWN = re.compile(r"[\w.-]{1,64}")


class Metrics24Settings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS24_")
    name: ClassVar[str] = "24metrics"

    api_key: SecretStr | None = None
    # Not confirmed by a public source; one setting to correct (see the README).
    base_url: AnyHttpUrl = AnyHttpUrl("https://api.24metrics.com")
    integration_id: str | None = None
    organization_id: str | None = None
    # The key may reach integrations this team must not touch: `integration=` (and a button's
    # value, which anyone can hand-write) may name only these and the default.
    integrations: CommaList = ()
    # The Download Center cuts a longer export to its last this many days (``range_truncated``).
    # 24Metrics publishes no number; 90 is what we have seen. The ingress cuts or refuses at once
    # with this, and the fraud summary never suggests an export longer than it.
    export_max_days: int = Field(default=90, ge=1, le=3660)

    @field_validator("integrations", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def allowed_integrations(self) -> tuple[str, ...]:
        """The default integration first, then the listed ones."""
        return tuple(dict.fromkeys(i for i in (self.integration_id, *self.integrations) if i))

    def refusal(self, params: Mapping[str, Any], *, admin: bool = False) -> str | None:
        integration = params.get("integration")
        allowed = self.allowed_integrations
        if not integration or integration in allowed:
            return None
        named = f"`{integration}`" if _SHOWN.fullmatch(str(integration)) else "that integration"
        if not allowed:
            fix = ("set METRICS24_INTEGRATION_ID (or METRICS24_INTEGRATIONS)" if admin
                   else "ask an admin to set one up")
            return f"24Metrics integration {named} is not allowed here, and none is yet: {fix}. Nothing was queued."
        listed = ", ".join(f"`{i}`" for i in allowed)
        where = " (METRICS24_INTEGRATION_ID and METRICS24_INTEGRATIONS)" if admin else ""
        return f"24Metrics integration {named} is not allowed here; allowed: {listed}{where}. Nothing was queued."

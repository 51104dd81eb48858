"""Configuration, read once from the environment and passed in.

Every process (web, worker, clock, socket, console) calls :func:`load` at start-up. A missing or
malformed value raises :class:`ConfigError` naming the variable, so the process refuses to start
instead of failing at the first request. Secrets are ``SecretStr`` and are never echoed back,
not even in the error for a malformed value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ConfigError", "Settings", "load"]

#: Prefixes of variables that belong to us: an unknown one is a typo worth refusing to start for
#: (``ADOPS_ADMIN`` instead of ``ADOPS_ADMINS`` would otherwise silently lock everyone out).
OWN_PREFIXES = ("ADOPS_", "METRICS24_", "INSTAL_", "EVERFLOW_", "ADSPECT_")

CommaList = Annotated[tuple[str, ...], NoDecode]


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and never its value."""


class Settings(BaseSettings):
    # Empty strings mean "unset": deployment tools often export VAR= for optional values.
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    # Redis: broker, job store, locks. Unset means the embedded in-process mode.
    redis_url: str | None = None

    # Who may do what, and where.
    adops_admins: CommaList = ()
    adops_channels: CommaList = ()
    adops_audit_channel: str | None = None
    adops_timezone: str = "UTC"

    # Signed links for files the bot builds.
    adops_public_url: AnyHttpUrl | None = None
    adops_link_secret: SecretStr | None = None
    adops_link_ttl: int = Field(default=86_400, ge=60, le=30 * 86_400)

    # Job timing.
    adops_export_deadline: int = Field(default=3_600, ge=10, le=7 * 86_400)
    adops_progress_interval: float = Field(default=15.0, ge=0.0, le=600.0)

    adops_vendor_timeout: float = Field(default=20.0, gt=0.0, le=120.0)

    # Broker tuning; production keeps Dramatiq's defaults, tests that kill workers lower them.
    adops_broker_heartbeat_ms: int = Field(default=60_000, ge=1_000)
    # Out of a million broker commands, how many run maintenance (requeueing dead workers' messages).
    adops_broker_maintenance_chance: int = Field(default=1_000, ge=1, le=1_000_000)
    adops_worker_threads: int = Field(default=8, ge=1, le=256)

    # Vendors
    metrics24_api_key: SecretStr | None = None
    metrics24_base_url: AnyHttpUrl = AnyHttpUrl("https://api.24metrics.com")
    metrics24_integration_id: str | None = None
    metrics24_organization_id: str | None = None
    instal_token: SecretStr | None = None
    instal_base_url: AnyHttpUrl = AnyHttpUrl("https://dashboard.instal.com")
    everflow_api_key: SecretStr | None = None
    everflow_base_url: AnyHttpUrl = AnyHttpUrl("https://api.eflow.team")
    everflow_timezone_id: int = 67
    adspect_api_key: SecretStr | None = None
    adspect_base_url: AnyHttpUrl = AnyHttpUrl("https://api.adspect.net/v1/")

    @field_validator("adops_admins", "adops_channels", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("adops_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone such as Europe/Berlin") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    # -- derived views --------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.adops_timezone)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.adops_admins

    def channel_allowed(self, channel_id: str) -> bool:
        return not self.adops_channels or channel_id in self.adops_channels

    def require(self, *names: str) -> None:
        """Refuse to start a process that needs settings which are unset, naming all of them."""
        missing = [name.upper() for name in names if getattr(self, name.lower()) in (None, "")]
        if missing:
            raise ConfigError(f"missing setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings once; raise ConfigError naming every bad variable."""
    env = dict(os.environ if environ is None else environ)
    known = {name.upper() for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.upper().startswith(OWN_PREFIXES) and k.upper() not in known)
    if unknown:
        raise ConfigError(f"unknown setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    try:
        if environ is None:
            return Settings()
        return Settings.model_validate({k.lower(): v for k, v in env.items() if k.upper() in known and v != ""})
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]).upper() if error["loc"] else "settings"
            problems.append(f"{field}: {error['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None

"""Configuration, read once from the environment and passed in.

Every process (web, worker, clock, socket, console) calls :func:`load` at start-up. A missing or
malformed value raises :class:`ConfigError` naming the variable, so the process refuses to start
instead of failing at the first request. Secrets are ``SecretStr`` and are never echoed back,
not even in the error for a malformed value.

:class:`Settings` holds what every process shares (Slack, Redis, ``ADOPS_*``). Each vendor
declares its own :class:`VendorSettings` with its own prefix (``<VENDOR>_``) in its folder; ``load``
reads those it is handed and attaches them, so this module names no vendor.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workers.errors import ConfigError

__all__ = ["PRESIGN_MAX", "Settings", "VendorSettings", "files_location", "load"]

#: Prefix of the variables that belong to us (vendors add theirs): an unknown one is a typo worth
#: refusing to start for (``ADOPS_ADMIN`` instead of ``ADOPS_ADMINS`` would otherwise silently
#: lock everyone out).
OWN_PREFIX = "ADOPS_"

CommaList = Annotated[tuple[str, ...], NoDecode]
_CONFIG = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True)


class VendorSettings(BaseSettings):
    """One vendor's settings, read from variables under its own ``env_prefix``.

    ``name`` is the vendor's registry name; ``key_field`` the field holding its credential, whose
    absence means "not configured here".
    """

    model_config = _CONFIG
    name: ClassVar[str]
    key_field: ClassVar[str] = "api_key"

    @classmethod
    def prefix(cls) -> str:
        return str(cls.model_config.get("env_prefix", "")).upper()

    @classmethod
    def variable(cls, field: str) -> str:
        return f"{cls.prefix()}{field}".upper()

    @classmethod
    def key_variable(cls) -> str:
        return cls.variable(cls.key_field)

    @property
    def configured(self) -> bool:
        return getattr(self, self.key_field) is not None

    def refusal(self, params: Mapping[str, Any], *, admin: bool = False) -> str | None:
        """Why these settings do not allow a job with ``params`` (say, an integration nobody
        listed), for the person; None when they do. Checked by the ingress for commands and clicks.

        Only an ``admin`` can change settings, so only an admin's answer names variables."""
        return None


class Settings(BaseSettings):
    # Empty strings mean "unset": deployment tools often export VAR= for optional values.
    model_config = _CONFIG
    _vendors: dict[str, VendorSettings] = PrivateAttr(default_factory=dict)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    # Redis: broker, job store, locks. Unset means the embedded in-process mode. A secret: the
    # URL may carry a password (redis://:pw@host), so it is never printed.
    redis_url: SecretStr | None = None

    # Who may do what, and where.
    adops_admins: CommaList = ()
    adops_channels: CommaList = ()
    adops_audit_channel: str | None = None
    adops_timezone: str = "UTC"

    # Signed links for files the bot builds.
    adops_public_url: AnyHttpUrl | None = None
    adops_link_secret: SecretStr | None = None
    adops_link_ttl: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # Where files the bot builds are written while they are built and kept until their link
    # expires. One machine's disk: several machines need shared storage (a later issue).
    adops_files_dir: Path = Path(tempfile.gettempdir()) / "adops-files"
    # A built file bigger than this is gzipped before it is uploaded and linked (CSV shrinks
    # about tenfold; Slack previews neither a big CSV nor a .gz, so nothing is lost).
    adops_files_gzip_over: int = Field(default=5_000_000, ge=0)
    # The largest file uploaded to Slack; a bigger one is only linked. Slack's own limit is 1 GB;
    # lower by default because the upload runs inside the publish step's time limit.
    adops_slack_upload_max: int = Field(default=100_000_000, ge=0, le=1_000_000_000)

    # Job timing.
    adops_export_deadline: int = Field(default=3_600, ge=10, le=7 * 86_400)
    adops_progress_interval: float = Field(default=15.0, ge=0.0, le=600.0)
    # The first look at a vendor export, this many seconds after it was created; each later gap
    # grows by 1.7x, at most 90 s (workers.schedule). Tests shorten it.
    adops_first_poll: float = Field(default=3.0, ge=0.5, le=60.0)
    # The clock's sweep: how often, and how long a finished job may wait for a publish try (or a
    # waiting export for a poll that was due) before the sweep sends another.
    adops_sweep_interval: int = Field(default=60, ge=1, le=3_600)
    adops_rescue_after: float = Field(default=120.0, ge=2.0, le=3_600.0)
    # The clock looks for due digests every ADOPS_CLOCK_TICK seconds; its leader lock lapses
    # ADOPS_CLOCK_LEASE seconds after the leader's last renewal, when a standby takes over.
    adops_clock_tick: float = Field(default=1.0, ge=0.1, le=60.0)
    adops_clock_lease: float = Field(default=10.0, ge=1.0, le=600.0)

    # Digests: the shortest schedule allowed (seconds between runs); how late a missed run may
    # still fire after a clock outage (later ones are counted as missed, never fired as a
    # backlog); how many failures in a row pause a digest.
    adops_digest_min_interval: int = Field(default=300, ge=1, le=7 * 86_400)
    adops_digest_grace: int = Field(default=900, ge=0, le=86_400)
    adops_digest_failures: int = Field(default=3, ge=1, le=100)
    # Seconds between two digest posts in one channel: Slack allows about one message a second
    # per channel, and a burst of digests waits its turn in the queue, not in a worker thread.
    adops_slack_channel_pace: float = Field(default=1.0, ge=0.0, le=60.0)

    adops_vendor_timeout: float = Field(default=20.0, gt=0.0, le=120.0)
    # Transient vendor trouble: the first retry waits this long, each next one twice as long
    # (at most 60 s); tests lower it. A one-shot task that has not finished after
    # ADOPS_TASK_PROGRESS_AFTER seconds shows a progress message (a quick one shows only its result).
    adops_retry_backoff: float = Field(default=1.0, gt=0.0, le=60.0)
    adops_task_progress_after: float = Field(default=3.0, ge=0.0, le=600.0)

    # Broker tuning; production keeps Dramatiq's defaults, tests that kill workers lower them.
    adops_broker_heartbeat_ms: int = Field(default=60_000, ge=1_000)
    # Out of a million broker commands, how many run maintenance (requeueing dead workers' messages).
    adops_broker_maintenance_chance: int = Field(default=1_000, ge=1, le=1_000_000)
    adops_worker_threads: int = Field(default=8, ge=1, le=256)

    # New jobs a minute, per person and per channel (clicks that start a job count too): a
    # stuck key or a script can't flood the vendors or the queue.
    adops_rate_per_user: int = Field(default=10, ge=1, le=10_000)
    adops_rate_per_channel: int = Field(default=30, ge=1, le=100_000)

    # Files on shared storage (S3). Unset: built files stay in ADOPS_FILES_DIR, linked through
    # the web process. s3://bucket/prefix: every finished file also goes to that bucket (any
    # S3-compatible store; credentials are boto3's usual AWS_* variables, never ours to log), so
    # any machine's worker can hand it over, and the link is the store's own presigned URL.
    adops_files_url: str | None = None
    # The store's address when it is not AWS (MinIO, R2, moto in tests).
    adops_s3_endpoint_url: AnyHttpUrl | None = None
    # Bytes per multipart part: the most of a file held in memory while it is stored. S3 wants
    # at least 5 MiB a part (but the last) and at most 10 000 parts.
    adops_s3_part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024, le=512 * 1024 * 1024)

    # Metrics (GET /metrics on the web process). With a token, a scrape must send
    # "Authorization: Bearer <token>": queue depths and job counts say how busy the team is, and
    # the web process usually faces the internet for Slack. Unset: open, for a private network.
    adops_metrics_token: SecretStr | None = None

    # -- structured logs and health (issue 12) --
    # "json": one JSON object per log line with the job's fields, for a log store to index and
    # `grep job_id` to follow one job across processes; "text" stays the console default.
    adops_log_format: Literal["text", "json"] = "text"
    # Seconds between two heartbeats of a worker process; each lives three intervals, so a dead
    # worker drops out of `adops status` and /healthz by itself.
    adops_heartbeat_interval: float = Field(default=5.0, ge=0.5, le=300.0)
    # A clock heartbeat older than this is "stale" in /healthz and `adops status` (digests are
    # not being sent): /healthz then says "degraded" but still answers 200.
    adops_clock_stale: float = Field(default=30.0, ge=1.0, le=86_400.0)

    @field_validator("adops_files_url")
    @classmethod
    def _files_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        files_location(value)  # ValueError says what is wrong with it
        ttl = info.data.get("adops_link_ttl")
        if isinstance(ttl, int) and ttl > PRESIGN_MAX:
            raise ValueError(f"presigned links last at most {PRESIGN_MAX} s (7 days): lower ADOPS_LINK_TTL to use S3")
        return value

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
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value if value is not None and value.get_secret_value() else None

    # -- derived views --------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.adops_timezone)

    def vendor(self, name: str) -> VendorSettings:
        """The settings of vendor ``name`` as read at start-up."""
        return self._vendors[name]

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.adops_admins

    def channel_allowed(self, channel_id: str) -> bool:
        return not self.adops_channels or channel_id in self.adops_channels

    def require(self, *names: str) -> None:
        """Refuse to start a process that needs settings which are unset, naming all of them."""
        missing = [name.upper() for name in names if getattr(self, name.lower()) in (None, "")]
        if missing:
            raise ConfigError(f"missing setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")


#: The longest a presigned S3 URL (signature version 4) can be valid: 7 days.
PRESIGN_MAX = 7 * 86_400
#: S3's bucket names: 3 to 63 lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def files_location(url: str) -> tuple[str, str]:
    """The bucket and key prefix (``""`` or ending in ``/``) of an ``ADOPS_FILES_URL``; ValueError
    says what is wrong (never echoing the value: it is checked, not secret, but kept short)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError("must be s3://bucket/prefix (leave it unset to keep files in ADOPS_FILES_DIR)")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError("names no bucket: use s3://bucket/prefix")
    if not _BUCKET.match(bucket):
        raise ValueError("the bucket must be 3 to 63 lowercase letters, digits, dots or hyphens")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def load(environ: Mapping[str, str] | None = None, vendors: Sequence[type[VendorSettings]] = ()) -> Settings:
    """Read the settings once, with those of ``vendors``; raise ConfigError naming every bad variable."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    prefixes = (OWN_PREFIX, *(cls.prefix() for cls in vendors))
    known = {name.upper() for name in Settings.model_fields}
    known |= {cls.variable(name) for cls in vendors for name in cls.model_fields}
    unknown = sorted(k for k in env if k.upper().startswith(prefixes) and k.upper() not in known)
    if unknown:
        raise ConfigError(f"unknown setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    upper = {k.upper(): v for k, v in env.items()}
    problems: list[str] = []
    core = _validate(Settings, "", upper, problems)
    read = {cls.name: _validate(cls, cls.prefix(), upper, problems) for cls in vendors}
    if problems:
        raise ConfigError("invalid settings: " + "; ".join(problems))
    assert isinstance(core, Settings)
    core._vendors.update({name: value for name, value in read.items() if isinstance(value, VendorSettings)})
    return core


def _validate(cls: type[BaseSettings], prefix: str, env: Mapping[str, str], problems: list[str]) -> BaseSettings | None:
    # model_validate, not the constructor: the values come from ``env`` alone, never from a
    # dotenv file or a variable that the caller did not hand in.
    values = {name: env[f"{prefix}{name}".upper()] for name in cls.model_fields if f"{prefix}{name}".upper() in env}
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            field = f"{prefix}{error['loc'][0]}".upper() if error["loc"] else prefix.rstrip("_") or "settings"
            problems.append(f"{field}: {error['msg']}")
        return None

"""Everflow: raw impressions exported past the vendor's caps, as a file the bot builds."""

from __future__ import annotations

from typing import Any

from workers.vendors.everflow.builder import EverflowImpressions
from workers.vendors.everflow.client import EverflowClient
from workers.vendors.everflow.commands import COMMANDS
from workers.vendors.everflow.limits import EverflowLimits, backend_of_broker
from workers.vendors.everflow.sandbox import EverflowApp
from workers.vendors.everflow.settings import EverflowSettings
from workers.vendors.spec import VendorSpec

__all__ = ["VENDOR"]


def _client(settings: EverflowSettings, timeout: float) -> EverflowClient:
    assert settings.api_key is not None  # the catalogue checks the key first
    # One client per runtime, so its limits' answer cap is per process (limits.py says why).
    return EverflowClient(str(settings.base_url).rstrip("/"), settings.api_key, timeout=timeout,
                          limits=EverflowLimits(backend_of_broker, answers=settings.answers_per_process))


def _sandbox_env(base_url: str, token: str) -> dict[str, Any]:
    return {"EVERFLOW_API_KEY": token, "EVERFLOW_BASE_URL": base_url}


VENDOR = VendorSpec(
    name="everflow",
    display="Everflow",
    settings=EverflowSettings,
    client=_client,
    commands=COMMANDS,
    builds=(EverflowImpressions(),),
    sandbox=EverflowApp,
    sandbox_env=_sandbox_env,
)

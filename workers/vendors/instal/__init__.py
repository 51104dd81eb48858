"""Instal: advertiser report exports (request, poll the Celery task, post the vendor's link)."""

from __future__ import annotations

from typing import Any

from workers.vendors.instal.client import InstalClient
from workers.vendors.instal.commands import COMMANDS
from workers.vendors.instal.sandbox import InstalApp
from workers.vendors.instal.settings import InstalSettings
from workers.vendors.spec import VendorSpec

__all__ = ["VENDOR"]


def _client(settings: InstalSettings, timeout: float) -> InstalClient:
    assert settings.token is not None  # the catalogue checks the key first
    return InstalClient(str(settings.base_url), settings.token, timeout=timeout)


def _sandbox_env(base_url: str, token: str) -> dict[str, Any]:
    return {"INSTAL_TOKEN": token, "INSTAL_BASE_URL": base_url}


VENDOR = VendorSpec(
    name="instal",
    display="Instal",
    settings=InstalSettings,
    client=_client,
    commands=COMMANDS,
    sandbox=InstalApp,
    sandbox_env=_sandbox_env,
)

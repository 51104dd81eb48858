"""Adspect: sales funnels (a table, the CSV, a trend chart), the click log streamed to a CSV the
bot builds, stream modes switched with confirmed, audited buttons, and the account."""

from __future__ import annotations

from typing import Any

from workers.vendors.adspect import account, bulk, funnel, streams
from workers.vendors.adspect.buttons import BUTTONS
from workers.vendors.adspect.clicklog import CLICKS
from workers.vendors.adspect.client import AdspectClient
from workers.vendors.adspect.commands import COMMANDS
from workers.vendors.adspect.sandbox import AdspectApp
from workers.vendors.adspect.settings import AdspectSettings
from workers.vendors.spec import VendorSpec

__all__ = ["VENDOR"]


def _client(settings: AdspectSettings, timeout: float) -> AdspectClient:
    assert settings.api_key is not None  # the catalogue checks the key first
    return AdspectClient(str(settings.base_url), settings.api_key, timeout=timeout)


def _sandbox_env(base_url: str, token: str) -> dict[str, Any]:
    return {"ADSPECT_API_KEY": token, "ADSPECT_BASE_URL": base_url}


VENDOR = VendorSpec(
    name="adspect",
    display="Adspect",
    settings=AdspectSettings,
    client=_client,
    commands=COMMANDS,
    tasks=(*funnel.TASKS, *streams.TASKS, *bulk.TASKS, *account.TASKS),
    builds=(CLICKS,),
    buttons=BUTTONS,
    sandbox=AdspectApp,
    sandbox_env=_sandbox_env,
)

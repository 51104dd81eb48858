"""24Metrics: Download Center exports, filter groups (list, switch, delete, switch several after
asking, restore), fraud summaries and lookups of one click or conversion."""

from __future__ import annotations

from typing import Any

from workers.vendors.metrics24 import bulk, download_center, filters, fraud, links, lookups
from workers.vendors.metrics24.buttons import BUTTONS
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.commands import COMMANDS
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, SECOND_INTEGRATION, Metrics24App
from workers.vendors.metrics24.settings import Metrics24Settings
from workers.vendors.spec import VendorSpec

__all__ = ["VENDOR"]


def _client(settings: Metrics24Settings, timeout: float) -> Metrics24Client:
    assert settings.api_key is not None  # the catalogue checks the key first
    return Metrics24Client(
        str(settings.base_url),
        settings.api_key,
        integration_id=settings.integration_id,
        organization_id=settings.organization_id,
        timeout=timeout,
    )


def _sandbox_env(base_url: str, token: str) -> dict[str, Any]:
    # The second integration is allowed too: the help's `integration=` examples name it.
    return {"METRICS24_API_KEY": token, "METRICS24_BASE_URL": base_url, "METRICS24_INTEGRATION_ID": DEFAULT_INTEGRATION,
            "METRICS24_INTEGRATIONS": SECOND_INTEGRATION}


VENDOR = VendorSpec(
    name="24metrics",
    display="24Metrics",
    settings=Metrics24Settings,
    client=_client,
    commands=COMMANDS,
    tasks=(*filters.TASKS, *bulk.TASKS, *fraud.TASKS, *lookups.TASKS, *download_center.TASKS),
    buttons=(*BUTTONS, links.FRESH_LINK),  # the export list's "Get a fresh link"
    sandbox=Metrics24App,
    sandbox_env=_sandbox_env,
)

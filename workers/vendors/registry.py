"""The one list of vendors: every other module learns about vendors from here.

(Being built: for now it lists the sandbox emulators the devkit serves.)
"""

from __future__ import annotations

from devkit.sandbox.base import VendorApp
from workers.vendors.instal.sandbox import InstalApp
from workers.vendors.metrics24.sandbox import Metrics24App


def sandbox_apps() -> tuple[type[VendorApp], ...]:
    return (InstalApp, Metrics24App)

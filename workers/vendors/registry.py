"""The one list of vendors. Adding a vendor is its folder plus one line here."""

from __future__ import annotations

from workers.vendors import instal, metrics24
from workers.vendors.spec import Catalogue, VendorSpec

__all__ = ["CATALOGUE", "VENDORS"]

VENDORS: tuple[VendorSpec, ...] = (
    instal.VENDOR,
    metrics24.VENDOR,
)

CATALOGUE = Catalogue(VENDORS)

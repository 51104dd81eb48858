"""The one list of vendors. Adding a vendor is its folder plus one line here."""

from __future__ import annotations

from workers.vendors import adspect, instal, metrics24
from workers.vendors.spec import Catalogue, VendorSpec

__all__ = ["CATALOGUE", "PLANNED", "VENDORS"]

VENDORS: tuple[VendorSpec, ...] = (
    instal.VENDOR,
    metrics24.VENDOR,
    adspect.VENDOR,
)

#: Vendors people already ask for whose folders are not here yet: `/adops export everflow` is
#: answered "Everflow is not set up here", not "Unknown subcommand".
PLANNED: dict[str, str] = {"everflow": "Everflow"}

CATALOGUE = Catalogue(VENDORS, absent=PLANNED)

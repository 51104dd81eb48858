"""The one list of vendors. Adding a vendor is its folder plus one line here."""

from __future__ import annotations

from workers.vendors import adspect, everflow, instal, metrics24
from workers.vendors.spec import Catalogue, VendorSpec

__all__ = ["CATALOGUE", "PLANNED", "VENDORS"]

VENDORS: tuple[VendorSpec, ...] = (
    instal.VENDOR,
    metrics24.VENDOR,
    everflow.VENDOR,
    adspect.VENDOR,
)

#: Vendors people already ask for whose folders are not here yet (none today): a name listed
#: here is answered "<Vendor> is not set up here", not "Unknown subcommand".
PLANNED: dict[str, str] = {}

CATALOGUE = Catalogue(VENDORS, absent=PLANNED)

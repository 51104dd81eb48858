"""Everflow's ``timezone_id`` <-> IANA zone, for ``tz=90`` or ``tz=America/Los_Angeles``.

Only the ids the notes confirm are listed (the full table is ``GET /v1/meta/timezones``, which we
have not seen); adding one is one line here.
"""

from __future__ import annotations

__all__ = ["ZONES", "ZoneError", "zone_id"]

#: timezone_id -> IANA name (NOTES.md: 67 UTC, 80 New York, 85 Chicago, 87 Denver, 90 Los Angeles).
ZONES: dict[int, str] = {
    67: "UTC",
    80: "America/New_York",
    85: "America/Chicago",
    87: "America/Denver",
    90: "America/Los_Angeles",
}
_BY_NAME = {name.lower(): zid for zid, name in ZONES.items()} | {"etc/utc": 67, "gmt": 67, "z": 67}


class ZoneError(ValueError):
    """A zone Everflow cannot be asked in; the message is for the person who typed it."""


def zone_id(text: str) -> int:
    """The timezone_id for ``90`` or ``America/Los_Angeles`` (any case)."""
    raw = text.strip()
    if raw.isdigit() and int(raw) in ZONES:
        return int(raw)
    if (found := _BY_NAME.get(raw.lower())) is not None:
        return found
    known = ", ".join(f"`{zid}` ({name})" for zid, name in ZONES.items())
    raise ZoneError(f"`tz={raw}` is not an Everflow time zone we know; use one of {known}.")

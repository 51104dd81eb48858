"""``/adops export everflow impressions``: every raw impression of a range, as a CSV the bot builds."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.intake import Context, Submit
from workers.vendors.everflow.builder import OP
from workers.vendors.everflow.countries import CountryError
from workers.vendors.everflow.filters import RESOURCE_TYPES, filters_of
from workers.vendors.everflow.windows import FORMAT
from workers.vendors.everflow.zones import ZONES, ZoneError, zone_id

__all__ = ["COMMANDS"]

#: Options with their own words; every other documented resource_type is an option too.
_HELP = {
    "offer": "Offer ids; several are OR-ed (`offer=882,883`).",
    "country": 'Countries by name or code (`country="United States"`, `country=US,DE`).',
    "affiliate": "Affiliate (partner) ids.",
}


def _ends(value: date | datetime, end: bool) -> str:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(23, 59) if end else time())
    # A typed end minute is inclusive: ..T18:30 covers up to 18:30:59.
    return value.replace(second=59 if end else 0).strftime(FORMAT)


def _values(parsed: Parsed) -> dict[str, tuple[str, ...]]:
    return {kind: parsed.args[kind] for kind in RESOURCE_TYPES if parsed.args.get(kind)}


def _validate(parsed: Parsed) -> str | None:
    try:
        if parsed.args.get("tz"):
            zone_id(parsed.args["tz"])
        filters_of(_values(parsed))
    except (ZoneError, CountryError) as exc:
        return str(exc)
    return None


def export(parsed: Parsed, ctx: Context) -> Submit:
    r = parsed.args["range"]
    tz = zone_id(parsed.args["tz"]) if parsed.args.get("tz") else ctx.settings.vendor("everflow").timezone_id  # type: ignore[attr-defined]
    params: dict[str, Any] = {
        "op": OP, "start": _ends(r.start, False), "end": _ends(r.end, True), "timezone_id": tz,
        "filters": filters_of(_values(parsed)),
    }
    shown = ", ".join(f"{f['resource_type']} {f['filter_id_value']}" for f in params["filters"])
    summary = f"Everflow impressions {r} ({ZONES[tz]})" + (f", {shown}" if shown else "")
    return Submit("build", "everflow", params, summary)


COMMANDS = (
    CommandSpec(
        words=("export", "everflow", "impressions"),
        summary="Every raw Everflow impression of a range, as a CSV (past Everflow's 14-day and 10 000-row "
                "limits); filters of one kind are OR-ed, of different kinds AND-ed.",
        positionals=(Positional("range", "range", "What to export, in the zone of `tz=`: a range word, or days or minutes (`2026-11-05T09:00..2026-11-05T17:30`).", allow_time=True,
                                max_days=93),),
        options=(
            *(Option(kind, "list", _HELP.get(kind, "Filter."), metavar=None if kind in _HELP else "…")
              for kind in RESOURCE_TYPES),
            Option("tz", "text", "Zone of the range: an Everflow id or its name ("
                   + ", ".join(f"`{k}` {v}" for k, v in ZONES.items()) + "); EVERFLOW_TIMEZONE_ID when unset.",
                   metavar="id|Area/City"),
        ),
        examples=(
            "export everflow impressions yesterday offer=882",
            'export everflow impressions last7d offer=882,883 country="United States" tz=90',
            "export everflow impressions this-month affiliate=7 tz=America/New_York",
        ),
        validate=_validate,
        handler=export,
    ),
)

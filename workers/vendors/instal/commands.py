"""``/adops export instal``: the Instal advertiser report export, declared with its handler."""

from __future__ import annotations

from typing import Any

from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.intake import Context, Submit

__all__ = ["COMMANDS"]


def export(parsed: Parsed, ctx: Context) -> Submit:
    r = parsed.args["range"]
    interval = parsed.args.get("interval") or "daily"
    params: dict[str, Any] = {
        "start_date": r.start.isoformat(),
        "stop_date": r.end.isoformat(),
        "interval": interval,
        "csv_headers": bool(parsed.args.get("headers", True)),
        "format": "csv",
    }
    if parsed.args.get("sort"):
        params["sorting"] = parsed.args["sort"]
    return Submit("export", "instal", params, f"Instal export {r}, {interval}")


COMMANDS = (
    CommandSpec(
        words=("export", "instal"),
        summary="Instal advertiser report export; posts the download link when it is ready.",
        positionals=(Positional("range", "range", "Days to export (dates only).", max_days=366),),
        options=(
            Option(
                "interval",
                "choice",
                "Report time resolution.",
                choices=("hourly", "daily", "monthly"),
                default="daily",
            ),
            Option(
                "sort",
                "choice",
                "Column to sort by; Instal sorts by campaign id when unset.",
                choices=("time", "campaign", "aff_sub_id", "cr"),
            ),
            Option("headers", "bool", "Header row on top of the CSV.", default=True),
        ),
        examples=(
            "export instal yesterday",
            "export instal last7d interval=hourly",
            "export instal last-month interval=monthly sort=cr headers=off",
        ),
        handler=export,
    ),
)

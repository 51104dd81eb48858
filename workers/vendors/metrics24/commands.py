"""The 24Metrics commands, each declared with its handler: exports, filter groups, fraud, lookups.

A handler turns a parsed command into a job; the work happens in the tasks after the ack.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.intake import Context, Reply, Submit

__all__ = ["COMMANDS"]

VENDOR = "24metrics"

INTEGRATION = Option(
    "integration",
    "text",
    "24Metrics integration id: `METRICS24_INTEGRATION_ID` when unset, else one listed in `METRICS24_INTEGRATIONS`.",
    metavar="<id>",
)
GROUP = Positional(
    "group", "word", "A filter group's id, its name (quote names with spaces) or a unique part of it.", metavar="group"
)
ON_OFF = Positional("mode", "choice", "Switch it on or off.", choices=("on", "off"))


def _integration(parsed: Parsed, ctx: Context) -> str | None:
    return parsed.args.get("integration") or ctx.settings.vendor(VENDOR).integration_id  # type: ignore[attr-defined]


def _task(parsed: Parsed, ctx: Context, op: str, params: dict[str, Any], summary: str) -> Submit | Reply:
    """A task against one integration: the one named, or the configured default."""
    integration = _integration(parsed, ctx)
    if not integration:
        return Reply("Which 24Metrics integration? Pass `integration=<id>`, or have an admin set METRICS24_INTEGRATION_ID.")
    return Submit.task(VENDOR, op, {"integration": integration, **params}, summary)


# -- handlers -------------------------------------------------------------------------------------


def export(parsed: Parsed, ctx: Context) -> Submit:
    r = parsed.args["range"]
    params: dict[str, Any] = {
        "kind": parsed.args["kind"],
        "start_date": r.start.isoformat(),
        "end_date": r.end.isoformat(),
        "fields": list(parsed.args["fields"]) if parsed.args["fields"] else None,
        "extra": list(parsed.args["extra"]) if parsed.args["extra"] else None,
        "delimiter": parsed.args.get("delimiter"),
        "integration": _integration(parsed, ctx),
    }
    return Submit("export", VENDOR, params, f"24Metrics {parsed.args['kind']} export {r}")


def export_list(parsed: Parsed, ctx: Context) -> Submit:
    return Submit.task(VENDOR, "m24_exports", {"integration": _integration(parsed, ctx)}, "24Metrics recent exports")


def export_delete(parsed: Parsed, ctx: Context) -> Submit:
    export_id = parsed.args["export_id"]
    params = {"integration": _integration(parsed, ctx), "export_id": export_id}
    return Submit.task(VENDOR, "m24_export_delete", params, f"Delete 24Metrics export {export_id}")


def filters(parsed: Parsed, ctx: Context) -> Submit | Reply:
    name = parsed.filters.get("name")
    summary = "24Metrics filter groups" + (f" matching “{name}”" if name else "")
    return _task(parsed, ctx, "fg_list", {"name": name, "page": 0}, summary)


def monitor(parsed: Parsed, ctx: Context) -> Submit | Reply:
    group, mode = parsed.args["group"].strip(), parsed.args["mode"]
    if not group:
        return Reply(f"Which filter group? `/adops monitor <group-id|name|all> {mode}`; `/adops filters` lists them.")
    if group.lower() == "all":
        # Several groups change: the job only asks, with a button that applies it once confirmed.
        return _task(parsed, ctx, "fg_bulk_prompt", {"to": mode == "on"}, f"Monitoring {mode} for every filter group (asks first)")
    params = {"group": group, "field": "monitoring_mode", "to": mode == "on"}
    return _task(parsed, ctx, "fg_set", params, f"Monitoring {mode} for filter group {group}")


def filters_active(parsed: Parsed, ctx: Context) -> Submit | Reply:
    group, mode = parsed.args["group"], parsed.args["mode"]
    params = {"group": group, "field": "active", "to": mode == "on"}
    summary = f"{'Activate' if mode == 'on' else 'Deactivate'} filter group {group}"
    return _task(parsed, ctx, "fg_set", params, summary)


def filters_delete(parsed: Parsed, ctx: Context) -> Submit | Reply:
    group = parsed.args["group"]
    return _task(parsed, ctx, "fg_delete_prompt", {"group": group}, f"Delete filter group {group}?")


def fraud(parsed: Parsed, ctx: Context) -> Submit | Reply:
    r = parsed.args["range"]
    params = {"start_date": r.start.isoformat(), "end_date": r.end.isoformat()}
    return _task(parsed, ctx, "fraud", params, f"24Metrics fraud summary {r}")


def _lookup(parsed: Parsed, ctx: Context, what: str, key: str) -> Submit | Reply:
    params = {
        "what": what,
        "id": parsed.args[key],
        "offer": parsed.args.get("offer"),
        "publisher": parsed.args.get("publisher"),
        "date": parsed.args.get("date"),
    }
    return _task(parsed, ctx, "lookup", params, f"24Metrics {what} {parsed.args[key]}")


def lookup_click(parsed: Parsed, ctx: Context) -> Submit | Reply:
    return _lookup(parsed, ctx, "click", "tx_id")


def lookup_conversion(parsed: Parsed, ctx: Context) -> Submit | Reply:
    return _lookup(parsed, ctx, "conversion", "hash")


def _check_lookup(parsed: Parsed) -> str | None:
    # 24Metrics finds one record only within a day, an offer and a publisher.
    missing = [f"`{key}=`" for key in ("offer", "publisher", "date") if parsed.args.get(key) is None]
    if missing:
        return f"24Metrics needs {', '.join(missing)} to find one {parsed.spec.words[1]}."
    value = parsed.args["date"]
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        return f"`date={value}` is not a day: use YYYY-MM-DD."
    return None


# -- the declarations -----------------------------------------------------------------------------

_LOOKUP_OPTIONS = (
    Option("offer", "text", "The offer id (required).", metavar="<id>"),
    Option("publisher", "text", "The publisher id (required).", metavar="<id>"),
    Option("date", "text", "The day it happened, `YYYY-MM-DD` (required).", metavar="YYYY-MM-DD"),
    INTEGRATION,
)

COMMANDS = (
    CommandSpec(
        words=("export", "24metrics"),
        summary="24Metrics Download Center export; posts the signed download link with its row count.",
        positionals=(
            Positional("kind", "choice", "What to export.", choices=("clicks", "conversions", "impressions")),
            Positional("range", "range", "Days to export (dates only).", max_days=366),
        ),
        options=(
            Option("fields", "list", "Columns to include, by 24Metrics field name; all when unset."),
            Option("extra", "list", "Extra parameters to add as columns, e.g. `sub1,sub2`."),
            Option("delimiter", "choice", "CSV delimiter.", choices=("comma", "semicolon", "tab", "pipe")),
            INTEGRATION,
        ),
        examples=(
            "export 24metrics clicks yesterday",
            "export 24metrics conversions last7d fields=transaction_id,payout extra=sub1",
            "export 24metrics impressions last-month delimiter=semicolon",
        ),
        handler=export,
    ),
    CommandSpec(
        words=("export", "24metrics", "list"),
        summary="Recent 24Metrics Download Center exports and their state.",
        examples=("export 24metrics list",),
        handler=export_list,
    ),
    CommandSpec(
        words=("export", "24metrics", "delete"),
        summary="Delete a 24Metrics Download Center export.",
        positionals=(Positional("export_id", "word", "The export's id, from `export 24metrics list`.", metavar="export-id"),),
        admin_only=True,
        examples=("export 24metrics delete 6a1f0c",),
        handler=export_delete,
    ),
    CommandSpec(
        words=("filters",),
        summary="24Metrics filter groups with their monitoring mode, each with a button to switch it.",
        options=(INTEGRATION,),
        filters=("name",),
        examples=("filters", 'filters name~"EU Mobile"', "filters integration=int-2"),
        handler=filters,
    ),
    CommandSpec(
        words=("monitor",),
        summary="Switch a filter group's monitoring mode (matches are recorded, not rejected), or every group's.",
        positionals=(
            Positional(
                "group",
                "word",
                "A filter group's id, its name (quote names with spaces), a unique part of it, or `all`.",
                metavar="group-id|name|all",
            ),
            ON_OFF,
        ),
        options=(INTEGRATION,),
        admin_only=True,
        examples=("monitor 12 on", 'monitor "EU Mobile – strict" off', "monitor all on"),
        handler=monitor,
    ),
    CommandSpec(
        words=("filters", "active"),
        summary="Activate or deactivate a filter group (an inactive group is not used at all).",
        positionals=(GROUP, ON_OFF),
        options=(INTEGRATION,),
        admin_only=True,
        examples=("filters active 12 off",),
        handler=filters_active,
    ),
    CommandSpec(
        words=("filters", "delete"),
        summary="Delete a filter group; posts a button that asks for confirmation first.",
        positionals=(GROUP,),
        options=(INTEGRATION,),
        admin_only=True,
        examples=("filters delete 12",),
        handler=filters_delete,
    ),
    CommandSpec(
        words=("fraud",),
        summary="24Metrics rejected clicks and conversions by reason and by publisher.",
        positionals=(Positional("range", "range", "Days to summarise.", max_days=92),),
        options=(INTEGRATION,),
        examples=("fraud yesterday", "fraud last7d integration=int-2"),
        handler=fraud,
    ),
    CommandSpec(
        words=("lookup", "click"),
        summary="One 24Metrics click, as a card: where it came from and whether it was rejected, and why.",
        positionals=(Positional("tx_id", "word", "The click's transaction id.", metavar="tx_id"),),
        options=_LOOKUP_OPTIONS,
        validate=_check_lookup,
        examples=("lookup click 102a3b4c5d offer=17 publisher=5 date=2026-11-20",),
        handler=lookup_click,
    ),
    CommandSpec(
        words=("lookup", "conversion"),
        summary="One 24Metrics conversion, as a card.",
        positionals=(Positional("hash", "word", "The conversion's hash.", metavar="hash"),),
        options=_LOOKUP_OPTIONS,
        validate=_check_lookup,
        examples=("lookup conversion 9f8e7d6c offer=17 publisher=5 date=2026-11-20",),
        handler=lookup_conversion,
    ),
)

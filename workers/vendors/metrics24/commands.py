"""The 24Metrics commands, each declared with its handler: exports, filter groups, fraud, lookups.

A handler turns a parsed command into a job; the work happens in the tasks after the ack.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from workers import audit
from workers.grammar.dates import DateRange
from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.grammar.suggest import did_you_mean
from workers.intake import Context, Reply, Submit
from workers.vendors.metrics24.fields import FIELDS, fields_help

__all__ = ["COMMANDS"]

log = logging.getLogger(__name__)

VENDOR = "24metrics"
#: The sandbox's second integration: the examples name it, so they run in the console as printed.
EXAMPLE_INTEGRATION = "64b7f0c2e1a94d0012c3f002"

INTEGRATION = Option(
    "integration",
    "text",
    "24Metrics integration id: this workspace's default when unset, else one an admin has allowed.",
    metavar="<id>",
)
GROUP = Positional(
    "group",
    "word",
    "A filter group's id, its name (spaces need no quotes) or a unique part of it.",
    metavar="group",
    rest=True,
)
ON_OFF = Positional("mode", "choice", "Switch it on or off.", choices=("on", "off"))


def _integration(parsed: Parsed, ctx: Context) -> str | None:
    return parsed.args.get("integration") or ctx.settings.vendor(VENDOR).integration_id  # type: ignore[attr-defined]


def submit_task(parsed: Parsed, ctx: Context, op: str, params: dict[str, Any], summary: str) -> Submit | Reply:
    """A task against one integration: the one named, or the configured default."""
    integration = _integration(parsed, ctx)
    if not integration:
        log.warning("24Metrics command with no integration: METRICS24_INTEGRATION_ID is not set")
        if ctx.settings.is_admin(ctx.user_id):
            return Reply("Which 24Metrics integration? Pass `integration=<id>`, or set METRICS24_INTEGRATION_ID.")
        return Reply("Which 24Metrics integration? Pass `integration=<id>`; an admin can also set a default one.")
    return Submit.task(VENDOR, op, {"integration": integration, **params}, summary)


def _within_window(r: DateRange, max_days: int) -> tuple[DateRange, str]:
    """The range the Download Center will export, and a line saying so when it is shorter.

    A longer range is always cut, never refused: the vendor would cut it to the same last days
    anyway, the most recent days are what a longer ask most likely wanted, and saying so now
    (rather than in the finished message) lets the person split the range at once if not.
    """
    if r.days <= max_days:
        return r, ""
    start = r.end - timedelta(days=max_days - 1)
    cut = DateRange(start, r.end, f"{start.isoformat()}..{r.end.isoformat()}")
    note = (
        f"The 24Metrics Download Center exports at most {max_days} days at a time, so this export covers "
        f"{cut} (the last {max_days} of the {r.days} days asked for). For the earlier days, export them separately."
    )
    return cut, note


# -- handlers -------------------------------------------------------------------------------------


def export(parsed: Parsed, ctx: Context) -> Submit:
    max_days = ctx.settings.vendor(VENDOR).export_max_days  # type: ignore[attr-defined]
    r, note = _within_window(parsed.args["range"], max_days)
    params: dict[str, Any] = {
        "kind": parsed.args["kind"],
        "start_date": r.start.isoformat(),
        "end_date": r.end.isoformat(),
        "fields": list(parsed.args["fields"]) if parsed.args["fields"] else None,
        "extra": list(parsed.args["extra"]) if parsed.args["extra"] else None,
        "delimiter": parsed.args.get("delimiter"),
        "integration": _integration(parsed, ctx),
    }
    return Submit("export", VENDOR, params, f"24Metrics {parsed.args['kind']} export {r}", note=note)


def export_list(parsed: Parsed, ctx: Context) -> Submit:
    return Submit.task(VENDOR, "m24_exports", {"integration": _integration(parsed, ctx)}, "24Metrics recent exports")


def export_delete(parsed: Parsed, ctx: Context) -> Submit:
    export_id = parsed.args["export_id"]
    params = {"integration": _integration(parsed, ctx), "export_id": export_id}
    return Submit.task(VENDOR, "m24_export_delete", params, f"Delete 24Metrics export {export_id}")


def filters(parsed: Parsed, ctx: Context) -> Submit | Reply:
    name = parsed.filters.get("name")
    summary = "24Metrics filter groups" + (f" matching “{name}”" if name else "")
    return submit_task(parsed, ctx, "fg_list", {"name": name, "page": 0}, summary)


def monitor(parsed: Parsed, ctx: Context) -> Submit | Reply:
    group, mode = parsed.args["group"].strip(), parsed.args["mode"]
    if not group:
        return Reply(f"Which filter group? `/adops monitor <group-id|name|all> {mode}`; `/adops filters` lists them.")
    if group.lower() == "all":
        # Several groups change: the job only asks, with a button that applies it once confirmed.
        return submit_task(parsed, ctx, "fg_bulk_prompt", {"to": mode == "on"}, f"Monitoring {mode} for every filter group (asks first)")
    params = {"group": group, "field": "monitoring_mode", "to": mode == "on"}
    return submit_task(parsed, ctx, "fg_set", params, f"Monitoring {mode} for filter group {group}")


def filters_active(parsed: Parsed, ctx: Context) -> Submit | Reply:
    group, mode = parsed.args["group"], parsed.args["mode"]
    params = {"group": group, "field": "active", "to": mode == "on"}
    summary = f"{'Activate' if mode == 'on' else 'Deactivate'} filter group {group}"
    return submit_task(parsed, ctx, "fg_set", params, summary)


def filters_delete(parsed: Parsed, ctx: Context) -> Submit | Reply:
    group = parsed.args["group"]
    # The summary is followed by a full stop wherever it is shown: no "?" of its own.
    return submit_task(parsed, ctx, "fg_delete_prompt", {"group": group}, f"Deleting filter group {group}, once confirmed")


def fraud(parsed: Parsed, ctx: Context) -> Submit | Reply:
    r = parsed.args["range"]
    params = {"start_date": r.start.isoformat(), "end_date": r.end.isoformat()}
    return submit_task(parsed, ctx, "fraud", params, f"24Metrics fraud summary {r}")


def _lookup(parsed: Parsed, ctx: Context, what: str, key: str) -> Submit | Reply:
    params = {
        "what": what,
        "id": parsed.args[key],
        "offer": parsed.args.get("offer"),
        "publisher": parsed.args.get("publisher"),
        "date": parsed.args["date"].isoformat(),
    }
    return submit_task(parsed, ctx, "lookup", params, f"24Metrics {what} {parsed.args[key]}")


def lookup_click(parsed: Parsed, ctx: Context) -> Submit | Reply:
    return _lookup(parsed, ctx, "click", "tx_id")


def lookup_conversion(parsed: Parsed, ctx: Context) -> Submit | Reply:
    return _lookup(parsed, ctx, "conversion", "hash")


def _check_fields(parsed: Parsed) -> str | None:
    """Unknown ``fields=`` are refused now, with the nearest valid one, not by the vendor later."""
    kind = parsed.args["kind"]
    valid = FIELDS[kind]
    for name in parsed.args["fields"] or ():
        if name not in valid:
            hint = did_you_mean(name, valid)
            return f"`{name}` is not a field of 24Metrics {kind}.{hint} `/adops help export 24metrics` lists them."
    return None


def _check_audit_id(parsed: Parsed) -> str | None:
    value = parsed.args["audit_id"]
    if audit.is_entry_id(value):
        return None
    return f"`{value}` is not an audit id; they look like `1735689600000-0`, as the change's message shows them."


def monitor_restore(parsed: Parsed, ctx: Context) -> Submit | Reply:
    """Put back the modes a change of several groups replaced: a prompt, as for every change of
    several groups (see :mod:`workers.vendors.metrics24.bulk`)."""
    audit_id = parsed.args["audit_id"]
    summary = f"Restore the monitoring modes from before audit entry {audit_id} (asks first)"
    return submit_task(parsed, ctx, "fg_bulk_prompt", {"audit_id": audit_id}, summary)


# -- the declarations -----------------------------------------------------------------------------

# 24Metrics finds one record only within a day, an offer and a publisher: all three are required.
_LOOKUP_OPTIONS = (
    Option("offer", "text", "The offer id.", metavar="<id>", required=True),
    Option("publisher", "text", "The publisher id.", metavar="<id>", required=True),
    Option("date", "day", "The day it happened (in the integration's time zone).", required=True),
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
            Option("fields", "list", "Columns to include; a useful set when unset. " + fields_help()),
            Option("extra", "list", "Extra parameters to add as columns, e.g. `aff_click_id,creative`."),
            Option("delimiter", "choice", "CSV delimiter.", choices=("comma", "semicolon", "tab", "pipe")),
            INTEGRATION,
        ),
        examples=(
            "export 24metrics clicks yesterday",
            "export 24metrics conversions last7d fields=hash,publisher_name,payout extra=creative",
            "export 24metrics impressions last-month delimiter=semicolon",
        ),
        validate=_check_fields,
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
        changes_state=True,
        examples=("export 24metrics delete 67e000000000000000000001",),
        handler=export_delete,
    ),
    CommandSpec(
        words=("filters",),
        summary="24Metrics filter groups with their monitoring mode, each with a button to switch it.",
        options=(INTEGRATION,),
        filters=("name",),
        examples=("filters", "filters name~EU Mobile", f"filters integration={EXAMPLE_INTEGRATION}"),
        handler=filters,
    ),
    CommandSpec(
        words=("monitor",),
        summary="Switch a filter group's monitoring mode (matches are recorded, not rejected), or every group's.",
        positionals=(
            Positional(
                "group",
                "word",
                "A filter group's id, its name (spaces need no quotes), a unique part of it, or `all`.",
                metavar="group-id|name|all",
                rest=True,
            ),
            ON_OFF,
        ),
        options=(INTEGRATION,),
        admin_only=True,
        changes_state=True,
        examples=("monitor 66a000000000000000000004 on", "monitor EU Mobile – strict off", "monitor all on"),
        handler=monitor,
    ),
    CommandSpec(
        words=("monitor", "restore"),
        summary="Put back the monitoring modes a change of several filter groups replaced; asks first.",
        positionals=(
            Positional("audit_id", "word", "The change's audit id, as its message shows it.", metavar="audit-id"),
        ),
        options=(INTEGRATION,),
        admin_only=True,
        changes_state=True,
        validate=_check_audit_id,
        # No example: an audit id exists only once a change has been made (as a job id does);
        # the change's own message prints this command with its id, ready to copy.
        handler=monitor_restore,
    ),
    CommandSpec(
        words=("filters", "active"),
        summary="Activate or deactivate a filter group (an inactive group is not used at all).",
        positionals=(GROUP, ON_OFF),
        options=(INTEGRATION,),
        admin_only=True,
        changes_state=True,
        examples=("filters active US CTV – monitoring off",),
        handler=filters_active,
    ),
    CommandSpec(
        words=("filters", "delete"),
        summary="Delete a filter group; posts a button that asks for confirmation first.",
        positionals=(GROUP,),
        options=(INTEGRATION,),
        admin_only=True,
        changes_state=True,
        examples=("filters delete EU Mobile – strict (legacy)",),
        handler=filters_delete,
    ),
    CommandSpec(
        words=("fraud",),
        summary="24Metrics rejected clicks and conversions by reason and by publisher.",
        positionals=(Positional("range", "range", "Days to summarise.", max_days=92),),
        options=(INTEGRATION,),
        examples=("fraud yesterday", f"fraud last7d integration={EXAMPLE_INTEGRATION}"),
        handler=fraud,
    ),
    CommandSpec(
        words=("lookup", "click"),
        summary="One 24Metrics click, as a card: where it came from and whether it was rejected, and why.",
        positionals=(Positional("tx_id", "word", "The click's transaction id.", metavar="tx_id"),),
        options=_LOOKUP_OPTIONS,
        examples=("lookup click 102a3b4c5d offer=311 publisher=1077 date=yesterday",),
        handler=lookup_click,
    ),
    CommandSpec(
        words=("lookup", "conversion"),
        summary="One 24Metrics conversion, as a card.",
        positionals=(Positional("hash", "word", "The conversion's hash.", metavar="hash"),),
        options=_LOOKUP_OPTIONS,
        examples=("lookup conversion 9f8e7d6c offer=311 publisher=1077 date=yesterday",),
        handler=lookup_conversion,
    ),
)

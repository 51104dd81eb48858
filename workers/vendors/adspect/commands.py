"""The Adspect commands, each declared with its handler: funnel, click log export, streams and
their modes, account. Handlers only shape the job; option values are checked against Adspect's
collections by the job itself, before any report is asked for (see ``collections``)."""

from __future__ import annotations

from typing import Any

from workers import audit
from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.intake import Context, Reply, Submit
from workers.vendors.adspect.access import NAME
from workers.vendors.adspect.funnel import DEFAULT_METRICS
from workers.vendors.adspect.models import MODES

__all__ = ["COMMANDS"]

STREAM = Option("stream", "list", "Streams by name (quote names with spaces) or id; all when unset.",
                metavar="<name or id>,…")
COUNTRY = Option("country", "list", "Two-letter country codes, e.g. `US,DE`.", metavar="US,DE")
MODE = Option("mode", "list", "Stream modes at the moment of the click.", metavar="Filter,Money,…")
TZ = Option("tz", "tz", "Time zone of the days; ADOPS_TIMEZONE when unset.")
MODE_WORD = Positional("mode", "choice", "The mode to set.", choices=MODES)


def _window(parsed: Parsed, ctx: Context) -> dict[str, Any]:
    r = parsed.args["range"]
    return {"start": r.start.isoformat(), "end": r.end.isoformat(), "tz": parsed.args.get("tz") or ctx.settings.adops_timezone,
            "streams": list(parsed.args.get("stream") or []), "countries": list(parsed.args.get("country") or []),
            "modes": list(parsed.args.get("mode") or [])}


def funnel(parsed: Parsed, ctx: Context) -> Submit:
    params = {**_window(parsed, ctx), "by": list(parsed.args.get("by") or ["stream_id"]),
              "metrics": list(parsed.args.get("metrics") or DEFAULT_METRICS)}
    return Submit.task(NAME, "ad_funnel", params, f"Adspect funnel {parsed.args['range']} by {', '.join(params['by'])}")


def export_clicks(parsed: Parsed, ctx: Context) -> Submit:
    params = {"op": "adspect_clicks", **_window(parsed, ctx), "columns": list(parsed.args.get("columns") or [])}
    return Submit("build", NAME, params, f"Adspect click log {parsed.args['range']}")


def streams(parsed: Parsed, ctx: Context) -> Submit:
    name = parsed.filters.get("name")
    summary = "Adspect streams" + (f" matching “{name}”" if name else "")
    return Submit.task(NAME, "ad_streams", {"name": name, "page": 0}, summary)


def stream_mode(parsed: Parsed, ctx: Context) -> Submit | Reply:
    stream, mode = parsed.args["stream"].strip(), parsed.args["mode"]
    if not stream:
        return Reply(f"Which stream? `/adops stream <stream-id|name|all> {mode}`; `/adops streams` lists them.")
    if stream.lower() == "all":
        name = parsed.filters.get("name")
        which = f"every stream matching “{name}”" if name else "every stream"
        return Submit.task(NAME, "ad_streams_prompt", {"to": mode, "name": name}, f"{mode} mode for {which} (asks first)")
    return Submit.task(NAME, "ad_stream_set", {"stream": stream, "to": mode}, f"{mode} mode for Adspect stream {stream}")


def stream_restore(parsed: Parsed, ctx: Context) -> Submit:
    audit_id = parsed.args["audit_id"]
    return Submit.task(NAME, "ad_streams_prompt", {"audit_id": audit_id},
                       f"Restore the Adspect stream modes from before audit entry {audit_id} (asks first)")


def account(parsed: Parsed, ctx: Context) -> Submit:
    return Submit.task(NAME, "ad_account", {}, "Adspect account")


def _check_audit_id(parsed: Parsed) -> str | None:
    value = parsed.args["audit_id"]
    return None if audit.is_entry_id(value) else f"`{value}` is not an audit id; they look like `1735689600000-0`."


COMMANDS = (
    CommandSpec(
        words=("funnel",),
        summary="Adspect sales funnel as a table (totals, rates as %, stream names); by date also a trend chart.",
        positionals=(Positional("range", "range", "Days to report.", max_days=366),),
        options=(
            Option("by", "list", "Breakdown, in order (Adspect's `query-group-by`): date, month, stream_id, "
                   "country_code, os, browser, mode, target…; stream_id when unset.", metavar="stream_id,date"),
            Option("metrics", "list", "Metrics (Adspect's `query-funnel-metrics`): clicks, money_hits, safe_hits, "
                   "quality, conversions, revenue, profit, roi…; " + ",".join(DEFAULT_METRICS) + " when unset.",
                   metavar="clicks,quality"),
            STREAM, COUNTRY, MODE, TZ,
        ),
        examples=("funnel yesterday", "funnel last7d by=date,stream_id", "funnel last30d by=country_code metrics=clicks,quality,conversions country=US,DE",
                  "funnel last7d by=date mode=Filter tz=Europe/Berlin"),
        handler=funnel,
    ),
    CommandSpec(
        words=("export", "adspect", "clicks"),
        summary="Adspect's raw click log as a CSV the bot builds, a day a request, streamed to disk.",
        positionals=(Positional("range", "range", "Days to export.", max_days=92),),
        options=(Option("columns", "list", "Columns (Adspect's `query-log-columns`); timestamp, ip_address, "
                        "country_code, stream_id, target when unset.", metavar="timestamp,ip_address,…"),
                 STREAM, COUNTRY, MODE, TZ),
        examples=("export adspect clicks yesterday", "export adspect clicks last7d columns=timestamp,ip_address,target "
                  "country=US,DE"),
        handler=export_clicks,
    ),
    CommandSpec(
        words=("streams",),
        summary="Every Adspect stream with its mode, and (for admins) buttons to set Filter, Review, Money or White.",
        filters=("name",),
        examples=("streams", "streams name~Search"),
        handler=streams,
    ),
    CommandSpec(
        words=("stream",),
        summary="Set an Adspect stream's mode; `all` (narrowed by `name~`) asks first and can be undone.",
        positionals=(Positional("stream", "word", "A stream's id, its name (no quotes needed), a unique part of it, "
                                "or `all`.", metavar="stream-id|name|all", rest=True), MODE_WORD),
        filters=("name",),
        admin_only=True,
        changes_state=True,
        examples=("stream UK Native – Retarget Filter", "stream all White name~Test"),
        handler=stream_mode,
    ),
    CommandSpec(
        words=("stream", "restore"),
        summary="Put back the modes a change of several Adspect streams replaced; asks first.",
        positionals=(Positional("audit_id", "word", "The change's audit id, as its message shows it.", metavar="audit-id"),),
        admin_only=True,
        changes_state=True,
        validate=_check_audit_id,
        handler=stream_restore,
    ),
    CommandSpec(
        words=("account",),
        summary="Adspect balance and subscription expiry, with a warning when either needs attention.",
        examples=("account",),
        handler=account,
    ),
)

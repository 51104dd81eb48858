"""``monitor restore <audit-id>``: put back the monitoring modes a change of several filter groups
replaced, asking first as every change of several groups does (see
:mod:`workers.vendors.metrics24.bulk`). The audit id is the one the change's message shows."""

from __future__ import annotations

from workers import audit
from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.intake import Context, Reply, Submit

__all__ = ["COMMANDS"]

VENDOR = "24metrics"


def _check_audit_id(parsed: Parsed) -> str | None:
    value = parsed.args["audit_id"]
    if audit.is_entry_id(value):
        return None
    return f"`{value}` is not an audit id; they look like `1735689600000-0`, as the change's message shows them."


def restore(parsed: Parsed, ctx: Context) -> Submit | Reply:
    audit_id = parsed.args["audit_id"]
    integration = parsed.args.get("integration") or ctx.settings.vendor(VENDOR).integration_id  # type: ignore[attr-defined]
    if not integration:
        return Reply("Which 24Metrics integration? Pass `integration=<id>`.")
    params = {"op": "fg_bulk_prompt", "integration": integration, "audit_id": audit_id}
    return Submit("task", VENDOR, params, f"Restore the monitoring modes from before audit entry {audit_id} (asks first)")


COMMANDS = (
    CommandSpec(
        words=("monitor", "restore"),
        summary="Put back the monitoring modes a change of several filter groups replaced; asks first.",
        positionals=(
            Positional("audit_id", "word", "The change's audit id, as its message shows it.", metavar="audit-id"),
        ),
        options=(
            Option("integration", "text", "24Metrics integration id: the default one when unset.", metavar="<id>"),
        ),
        admin_only=True,
        validate=_check_audit_id,
        examples=("monitor restore 1735689600000-0",),
        handler=restore,
    ),
)

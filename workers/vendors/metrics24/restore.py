"""``monitor restore <audit-id>``: put back the monitoring modes a change of several filter groups
replaced, asking first as every change of several groups does (see
:mod:`workers.vendors.metrics24.bulk`). The audit id is the one the change's message shows."""

from __future__ import annotations

from workers import audit
from workers.grammar.spec import CommandSpec, Parsed, Positional
from workers.intake import Context, Reply, Submit
from workers.vendors.metrics24.commands import INTEGRATION, submit_task

__all__ = ["COMMANDS"]


def _check_audit_id(parsed: Parsed) -> str | None:
    value = parsed.args["audit_id"]
    if audit.is_entry_id(value):
        return None
    return f"`{value}` is not an audit id; they look like `1735689600000-0`, as the change's message shows them."


def restore(parsed: Parsed, ctx: Context) -> Submit | Reply:
    audit_id = parsed.args["audit_id"]
    summary = f"Restore the monitoring modes from before audit entry {audit_id} (asks first)"
    return submit_task(parsed, ctx, "fg_bulk_prompt", {"audit_id": audit_id}, summary)


COMMANDS = (
    CommandSpec(
        words=("monitor", "restore"),
        summary="Put back the monitoring modes a change of several filter groups replaced; asks first.",
        positionals=(
            Positional("audit_id", "word", "The change's audit id, as its message shows it.", metavar="audit-id"),
        ),
        options=(INTEGRATION,),
        admin_only=True,
        validate=_check_audit_id,
        # No example: an audit id exists only once a change has been made (as a job id does);
        # the change's own message prints this command with its id, ready to copy.
        handler=restore,
    ),
)

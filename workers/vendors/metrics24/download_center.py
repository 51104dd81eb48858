"""24Metrics Download Center housekeeping: list recent exports, delete one."""

from __future__ import annotations

from typing import Any

from workers import audit
from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, md, mention, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import client

__all__ = ["exports_message"]

STATE_ICON = {"COMPLETED": ":white_check_mark:", "ERROR": ":x:", "CANCELED": ":no_entry_sign:"}


def list_exports(rt: Runtime, job: Job) -> dict[str, Any]:
    exports = client(rt).list_exports(page_size=20)
    return {
        "exports": [
            {
                "id": e.id,
                "kind": e.kind,
                "status": e.status,
                "rows": e.rows,
                "range": "..".join(e.requested_range) if e.requested_range else "",
                "created_at": (e.created_at or "")[:16].replace("T", " "),
                "error": e.error,
            }
            for e in exports
        ]
    }


def exports_message(result: dict[str, Any]) -> Rendered:
    exports = result["exports"]
    if not exports:
        text = Mrkdwn("No recent 24Metrics exports. `/adops export 24metrics clicks yesterday` makes one.")
        return Rendered(text, [section(text)])
    lines = [Mrkdwn("*Recent 24Metrics exports*")]
    for e in exports:
        rows = md(" · {:,} rows", e["rows"]) if e.get("rows") is not None else ""
        why = md(" · {}", e["error"][:120]) if e.get("error") else ""
        lines.append(md(
            "{} {} {} {} · *{}*{} · {}{}", Mrkdwn(STATE_ICON.get(e["status"], ":hourglass_flowing_sand:")),
            code(e["id"]), e["kind"], e["range"], e["status"].lower(), rows, e["created_at"], why,
        ))
    lines.append(Mrkdwn("`/adops export 24metrics delete &lt;id&gt;` deletes one (admins)."))
    return Rendered(Mrkdwn("Recent 24Metrics exports"), [section(Mrkdwn("\n".join(lines)))])


def delete_export(rt: Runtime, job: Job) -> dict[str, Any]:
    export_id = job.params["export_id"]
    client(rt).delete_export(export_id)
    audit.record_for_job(rt, job, what="deleted 24Metrics export", target=export_id, before="exists", after="deleted")
    return {"export_id": export_id}


def _deleted(job: Job) -> Rendered:
    text = md(":wastebasket: 24Metrics export {} deleted by {}.", code(job.result["export_id"]), mention(job.user_id))
    return Rendered(text, [section(text)])


TASKS = (
    Task("m24_exports", list_exports, lambda job: exports_message(job.result)),
    Task("m24_export_delete", delete_export, _deleted),
)

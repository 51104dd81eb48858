"""24Metrics Download Center housekeeping: list recent exports, delete one."""

from __future__ import annotations

from typing import Any

from workers import audit
from workers.jobs import Job
from workers.render import Rendered, escape, section
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
        text = "No recent 24Metrics exports. `/adops export 24metrics clicks yesterday` makes one."
        return Rendered(text=text, blocks=[section(text)])
    lines = ["*Recent 24Metrics exports*"]
    for e in exports:
        rows = f" · {e['rows']:,} rows" if e.get("rows") is not None else ""
        why = f" · {escape(e['error'][:120])}" if e.get("error") else ""
        lines.append(
            f"{STATE_ICON.get(e['status'], ':hourglass_flowing_sand:')} `{escape(e['id'])}` {escape(e['kind'])} "
            f"{escape(e['range'])} · *{escape(e['status'].lower())}*{rows} · {escape(e['created_at'])}{why}"
        )
    lines.append("`/adops export 24metrics delete &lt;id&gt;` deletes one (admins).")
    return Rendered(text="Recent 24Metrics exports", blocks=[section("\n".join(lines))])


def delete_export(rt: Runtime, job: Job) -> dict[str, Any]:
    export_id = job.params["export_id"]
    client(rt).delete_export(export_id)
    audit.record_for_job(rt, job, what="deleted 24Metrics export", target=export_id, before="exists", after="deleted")
    return {"export_id": export_id}


def _deleted(job: Job) -> Rendered:
    text = f":wastebasket: 24Metrics export `{escape(job.result['export_id'])}` deleted by <@{job.user_id}>."
    return Rendered(text=text, blocks=[section(text)])


TASKS = (
    Task("m24_exports", list_exports, lambda job: exports_message(job.result)),
    Task("m24_export_delete", delete_export, _deleted),
)

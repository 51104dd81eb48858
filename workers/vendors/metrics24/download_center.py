"""24Metrics Download Center housekeeping: list recent exports, delete one, fetch a fresh link.

Where the fresh link goes. The button sits on the export list in the channel, and its task
edits that list in place (as every button of ours does) with the link beside the export and who
asked for it, rather than answering the clicker alone: the original link was posted in the
channel for everyone, a fresh one is no more private, and the list then shows the others that the
file is to be had (the link lasts an hour; the button stays for the next person). A refusal (the
export was deleted, or its file has expired) goes privately to the person who clicked, as every
button's failure does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from workers import audit
from workers.errors import Refused, VendorRejected
from workers.jobs import Job
from workers.render import (
    Mrkdwn,
    Rendered,
    UnsafeLink,
    code,
    date,
    fallback,
    link,
    md,
    mention,
    note,
    section,
    vendor_state,
)
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import client
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.links import FRESH_LINK, ExportRef
from workers.vendors.metrics24.models import checked_id, signed_url_expiry
from workers.vendors.metrics24.rows import when

log = logging.getLogger(__name__)

__all__ = ["STATE_WORDS", "exports_message", "state_words"]

STATE_ICON = {"COMPLETED": ":white_check_mark:", "ERROR": ":x:", "CANCELED": ":no_entry_sign:"}
#: Where the Download Center's words differ from every vendor's (``workers.words``): a finished
#: export is a file ready to fetch, not just "done".
STATE_WORDS = {"COMPLETED": "ready"}
#: How many recent exports the list shows (one section each, within Slack's 50 blocks).
LISTED = 20


def state_words(state: str) -> str:
    """``IN_PROGRESS``, ``in_progress`` → "in progress"; a state we do not know, in lower case words."""
    return STATE_WORDS.get(state.strip().upper()) or vendor_state(state)


def _listing(api: Metrics24Client, integration: str) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "status": e.status,
            "rows": e.rows,
            "range": _span(e.requested_range),
            "created_at": e.created_at or "",
            "error": e.error,
            # Only a finished file can be signed again: the others get no button.
            "file": e.status.strip().upper() == "COMPLETED" and bool(e.artifact_name),
            "integration": e.integration or integration,
        }
        for e in api.list_exports(page_size=LISTED)
    ]


def _span(span: tuple[str, str] | None) -> str:
    if not span:
        return ""
    return span[0] if span[0] == span[1] else f"{span[0]} to {span[1]}"


def list_exports(rt: Runtime, job: Job) -> dict[str, Any]:
    return {"exports": _listing(client(rt), job.params["integration"])}


def _button(e: Mapping[str, Any]) -> Any:
    if not e.get("file") or not e.get("integration"):
        return None
    try:
        return FRESH_LINK.element("Get a fresh link", ExportRef(export_id=str(e["id"]), integration=str(e["integration"])))
    except ValueError:  # a value past Slack's limit: the export is listed without its button
        return None


def _fresh_line(fresh: Mapping[str, Any]) -> Mrkdwn:
    try:
        target = link(str(fresh["url"]), "download the file")
    except UnsafeLink:
        target = md("the vendor's link is not an http(s) address: {}", code(str(fresh["url"])[:300]))
    expires = md(", link expires {}", date(float(fresh["expires_at"]))) if fresh.get("expires_at") else ""
    return md(":link: Fresh link for {}: {}{}", mention(str(fresh.get("by", ""))), target, expires)


def exports_message(result: dict[str, Any]) -> Rendered:
    exports = result["exports"]
    if not exports:
        text = Mrkdwn("No recent 24Metrics exports. `/adops export 24metrics clicks yesterday` makes one.")
        return Rendered(text, [section(text)])
    fresh: Mapping[str, Any] = result.get("fresh") or {}
    blocks = [section(Mrkdwn("*Recent 24Metrics exports*"))]
    for e in exports[:LISTED]:
        status = str(e.get("status", ""))
        rows = md(" · {:,} rows", e["rows"]) if e.get("rows") is not None else ""
        why = md(" · {}", str(e["error"])[:120]) if e.get("error") else ""
        made = when(str(e.get("created_at") or ""))
        line = md(
            "{} {} {} {} · *{}*{}{}{}", Mrkdwn(STATE_ICON.get(status.strip().upper(), ":hourglass_flowing_sand:")),
            code(str(e.get("id", ""))), str(e.get("kind", "")), str(e.get("range", "")), state_words(status), rows,
            md(" · made {}", made) if made else "", why,
        )
        if fresh and fresh.get("id") == e.get("id"):
            line = md("{}\n{}", line, _fresh_line(fresh))
        blocks.append(section(line, accessory=_button(e)))
    blocks.append(note(Mrkdwn("`/adops export 24metrics delete &lt;id&gt;` deletes one (admins).")))
    if fresh:
        text = fallback("A fresh link to 24Metrics export {} for {}", fresh.get("id", ""), mention(str(fresh.get("by", ""))))
    else:
        text = fallback("Recent 24Metrics exports")
    return Rendered(text, blocks)


def _gone(export_id: str) -> Refused:
    return Refused(
        f"24Metrics export `{export_id}` is no longer there: it was deleted, or its file has expired. "
        "`/adops export 24metrics list` shows the exports there are; export the range again for a new file."
    )


def fresh_link(rt: Runtime, job: Job) -> dict[str, Any]:
    """A new signed link to a completed export's file, and the list it is shown in."""
    export_id = checked_id(job.params["export_id"], "export")
    api = client(rt)
    try:
        export = api.get_export(export_id)
        if export.status.strip().upper() != "COMPLETED" or not export.artifact_name:
            raise Refused(
                f"24Metrics export `{export_id}` is {state_words(export.status)}, so it has no file to link to yet."
            )
        url = api.export_url(export.artifact_name)
    except VendorRejected as exc:
        if exc.status == 404:
            raise _gone(export_id) from None
        raise
    expires = signed_url_expiry(url)
    fresh = {"id": export_id, "url": url, "by": job.user_id, "expires_at": expires.timestamp() if expires else None}
    return {"exports": _listing(api, job.params["integration"]), "fresh": fresh}


def delete_export(rt: Runtime, job: Job) -> dict[str, Any]:
    export_id = job.params["export_id"]
    try:
        client(rt).delete_export(export_id)
    except VendorRejected as exc:
        if exc.status != 404:
            raise
        if job.tries <= 1:
            # A mistyped or stale id is the person's to fix: said to them alone.
            raise Refused(
                f"24Metrics has no export `{export_id}`; nothing was deleted. "
                "`/adops export 24metrics list` shows the exports there are, with their ids."
            ) from None
        # An earlier try of this job may have deleted it before its answer was lost.
        log.info("export %s was gone on a retry of job %s: taken as deleted by the earlier try", export_id, job.id)
    audit.record_for_job(rt, job, what="deleted 24Metrics export", target=export_id, before="exists", after="deleted")
    return {"export_id": export_id}


def _deleted(job: Job) -> Rendered:
    text = md(":wastebasket: 24Metrics export {} deleted by {}.", code(job.result["export_id"]), mention(job.user_id))
    return Rendered(text, [section(text)])


TASKS = (
    Task("m24_exports", list_exports, lambda job: exports_message(job.result)),
    Task("m24_export_delete", delete_export, _deleted),
    Task("m24_fresh_link", fresh_link, lambda job: exports_message(job.result)),
)

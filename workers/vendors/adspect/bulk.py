"""Switching several streams at once: ``/adops stream all <mode> [name~text]`` asks first,
the button applies exactly the streams it listed, once, and the outcome can be undone from the
audit (``/adops stream restore <audit-id>`` or its button). The mechanism is
:mod:`workers.bulkchange`'s, shared with other vendors; Adspect has no bulk update, so the apply
PATCHes each listed stream, and a rerun PATCHes only those not there yet.
"""

from __future__ import annotations

import json
from typing import Any

from workers import audit
from workers.bulkchange import apply_once, asked
from workers.errors import Refused
from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, confirm, fallback, join, md, mention, note, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.adspect.access import client, collections
from workers.vendors.adspect.buttons import BULK_APPLY, RESTORE, BulkApply, BulkRestore
from workers.vendors.adspect.streams_render import DOES, streams_count, style
from workers.writes import INTENT_TTL, applied, before_write, intent_key

__all__ = ["TASKS"]

DETAIL_KIND = "adspect.streams.mode"
NAMES = 15


def _entry(rt: Runtime, audit_id: str) -> list[list[Any]]:
    entries = audit.read(rt.redis, rt.store.prefix, entry_id=audit_id) if audit.is_entry_id(audit_id) else []
    detail = json.loads(entries[0].detail) if entries and entries[0].detail else {}
    if not isinstance(detail, dict) or detail.get("kind") != DETAIL_KIND:
        raise Refused(f"Audit entry `{audit_id}` is not a change of several Adspect streams; nothing was changed.")
    return [list(row) for row in detail["streams"]]


def prompt(rt: Runtime, job: Job) -> dict[str, Any]:
    """List what the change would do; change nothing."""
    p = job.params
    now = {s.stream_id: s for s in client(rt).all_streams(name=None if p.get("audit_id") else p.get("name"))}
    if p.get("audit_id"):
        rows = _entry(rt, p["audit_id"])
        items = [{"id": i, "name": n, "mode": now[i].mode, "to": b} for i, n, b, a in rows
                 if i in now and b != a and now[i].mode != b]
        return {"kind": "restore", "audit_id": p["audit_id"], "items": items}
    to = collections(rt).check("mode", [p["to"]])[0]
    items = [{"id": s.stream_id, "name": s.name, "mode": s.mode, "to": to} for s in now.values() if s.mode != to]
    return {"kind": "all", "to": to, "name": p.get("name"), "items": items, "unchanged": len(now) - len(items)}


def apply(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    if p.get("audit_id"):  # the outcome's "Restore previous modes": its entry's undo
        items = [{"id": i, "name": n, "mode": a, "to": b} for i, n, b, a in _entry(rt, p["audit_id"]) if b != a]
        source, kind = f"audit:{p['audit_id']}", "restore"
    else:
        asked_job = asked(rt, p.get("prompt", ""), ("ad_streams_prompt",))
        items, source, kind = asked_job.result["items"], f"prompt:{asked_job.id}", asked_job.result["kind"]
    if not items:
        raise Refused("There is nothing to change here; nothing was changed.")
    api = client(rt)

    def write() -> dict[str, Any]:
        now = {s.stream_id: s for s in api.all_streams()}
        intent = rt.redis.get(intent_key(rt, job))
        if intent is None:
            stale = [it for it in items if it["id"] not in now or now[it["id"]].mode != it["mode"]]
            if stale:
                raise Refused(f"Since this was asked, {streams_count(len(stale))} of the {len(items)} listed changed "
                              "mode or are gone; nothing was changed. Run the command again to see what it would do now.")
            rows = [[i["id"], i["name"], i["mode"], i["to"]] for i in items]
            before_write(rt, job)
            rt.redis.set(intent_key(rt, job), json.dumps(rows), ex=INTENT_TTL)
        else:
            rows = json.loads(intent)  # an earlier try may have PATCHed some already
        for sid, _, _, to in rows:
            if sid in now and now[sid].mode != to:
                api.set_mode(sid, to)
        applied(rt, job)
        changed = [{"id": i, "name": n, "mode": b, "to": a} for i, n, b, a in rows if i in now]
        modes = sorted({c["mode"] for c in changed})
        names = ", ".join(c["name"] for c in changed[:5]) + (", …" if len(changed) > 5 else "")
        entry = audit.record_for_job(
            rt, job, what=f"{'restored' if kind == 'restore' else 'set'} the mode of {streams_count(len(changed))}",
            target=f"Adspect ({names})", before=modes[0] if len(modes) == 1 else "mixed",
            after=", ".join(sorted({c["to"] for c in changed})),
            detail=json.dumps({"kind": DETAIL_KIND, "streams": rows}, ensure_ascii=False))
        return {"kind": kind, "by": job.user_id, "changed": changed, "audit_id": entry}

    return apply_once(rt, "adspect:streams:*", f"adspect:bulk:done:{source}", write)


def _names(items: list[dict[str, Any]]) -> Mrkdwn:
    shown = [md("{}: {} → {}", it["name"], it["mode"], it["to"]) for it in items[:NAMES]]
    return md("{}{}", join(", ", shown), md(" and {} more", len(items) - NAMES) if len(items) > NAMES else "")


def _effect(items: list[dict[str, Any]]) -> str:
    tos = sorted({it["to"] for it in items})
    return "; ".join(f"{streams_count(sum(1 for it in items if it['to'] == to))} will {DOES[to]}" for to in tos) + "."


def prompt_message(job: Job) -> Rendered:
    r = job.result
    items = r["items"]
    if not items:
        text = md(":information_source: Nothing to change: every stream listed is in that mode already.")
        return Rendered(text, [section(text)])
    head = (md("Put back the modes Adspect streams had before audit entry {}?", code(r["audit_id"]))
            if r["kind"] == "restore" else md("Switch {} to *{}*?", streams_count(len(items)), r["to"]))
    text = md(":warning: {}\n{}\nChanges: {}", head, _effect(items), _names(items))
    danger = "danger" if any(style(it["to"]) == "danger" for it in items) else "primary"
    button = BULK_APPLY.element(
        f"Switch {streams_count(len(items))}", BulkApply(prompt=job.id), style=danger,
        confirm=confirm(f"Change {streams_count(len(items))}?", md("{} Only the streams listed change.", _effect(items)),
                        "Switch", "Cancel", danger))
    return Rendered(fallback("Change {} Adspect streams?", len(items)),
                    [section(text, block_id="ad:bulk", accessory=button),
                     note(Mrkdwn("nothing changes until an admin confirms · only the streams listed here change"))])


def apply_message(job: Job) -> Rendered:
    r = job.result
    changed = r["changed"]
    verb = "put back the modes of" if r["kind"] == "restore" else "switched"
    head = md(":white_check_mark: {} {} {}.", mention(r["by"]), verb, streams_count(len(changed)))
    text = md("{}\nChanged: {}\nAudit entry {} keeps the modes they had: {} or the button puts them back.", head,
              _names(changed), code(r["audit_id"]), code(f"/adops stream restore {r['audit_id']}"))
    undo = [{**c, "mode": c["to"], "to": c["mode"]} for c in changed]
    button = RESTORE.element("Restore previous modes", BulkRestore(audit_id=r["audit_id"]),
                             confirm=confirm("Restore previous modes?", md("{}", _effect(undo)), "Restore", "Cancel",
                                             "primary"))
    return Rendered(head, [section(text, block_id="ad:bulk", accessory=button)])


TASKS = (Task("ad_streams_prompt", prompt, prompt_message), Task("ad_bulk_apply", apply, apply_message))

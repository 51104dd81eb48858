"""Changes of several filter groups at once: ask first, apply once, and put back what was replaced.

``monitor all on|off`` and ``monitor restore <audit-id>`` only read: their job (the prompt) lists
the groups that would change and keeps that list in its result; its message carries a button
whose confirm dialog says how many groups change and what that does. The click's job applies
exactly the listed groups, "set to", never "flip", under the integration's lock, and only if
none of them changed since the prompt (else it says so and changes nothing).

However often the button is clicked, the change is made once: the first job to apply it records
its outcome under the prompt's id, and every later click's job shows that same outcome.

The outcome's audit entry keeps every group changed with its mode before (see
:mod:`workers.vendors.metrics24.bulk_plan`); the outcome offers the "Restore previous modes"
button, which applies the entry's undo the same way.
"""

from __future__ import annotations

import json
from typing import Any

from workers import audit
from workers.bulkchange import apply_once, asked
from workers.errors import Refused
from workers.jobs import Job
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import client
from workers.vendors.metrics24.bulk_plan import (
    Item,
    all_items,
    changed_since,
    changing,
    decode_detail,
    encode_detail,
    restore_items,
    same,
    snapshot,
    undo_items,
)
from workers.vendors.metrics24.bulk_render import apply_message, groups_count, prompt_message
from workers.vendors.metrics24.groups import onoff
from workers.writes import INTENT_TTL, applied, before_write, intent_key

__all__ = ["PROMPT_OPS", "TASKS"]

#: The ops whose job is a prompt a click may apply; ``fg_bulk`` was the op of ``monitor all``
#: when it changed every group at once: a job of it still queued now only asks.
PROMPT_OPS = ("fg_bulk_prompt", "fg_bulk")


def _entry_rows(rt: Runtime, audit_id: str, integration: str) -> list[list[Any]]:
    if not audit.is_entry_id(audit_id):
        raise Refused(f"`{audit_id}` is not an audit id; they look like `1735689600000-0`. Nothing was changed.")
    entries = audit.read(rt.redis, rt.store.prefix, entry_id=audit_id)
    return decode_detail(entries[0] if entries else None, audit_id, integration)


def prompt(rt: Runtime, job: Job) -> dict[str, Any]:
    """Read the groups and list what the change would do; change nothing."""
    p = job.params
    integration = p["integration"]
    groups = client(rt).list_filter_groups(integration)
    if p.get("audit_id"):
        rows = _entry_rows(rt, p["audit_id"], integration)
        items, unchanged, missing = restore_items(rows, {g.id: g for g in groups})
        return {"kind": "restore", "integration": integration, "audit_id": p["audit_id"], "items": items,
                "unchanged": unchanged, "missing": missing}
    to = bool(p["to"])
    items, unchanged = all_items(groups, to)
    return {"kind": "all", "integration": integration, "to": to, "items": items, "unchanged": unchanged}


def _source(rt: Runtime, job: Job) -> tuple[str, dict[str, Any]]:
    """The change a click applies: its id (the prompt job's or the audit entry's) and its plan."""
    p = job.params
    integration = p["integration"]
    if p.get("audit_id"):
        # "Restore previous modes" on an outcome: the entry's undo, from the modes it set.
        items = undo_items(_entry_rows(rt, p["audit_id"], integration))
        return f"audit:{p['audit_id']}", {"kind": "restore", "source": p["audit_id"], "items": items}
    prompt_job = asked(rt, p.get("prompt", ""), PROMPT_OPS, {"integration": integration})
    r = prompt_job.result
    plan = {"kind": r["kind"], "items": r["items"], "to": r.get("to"), "source": r.get("audit_id")}
    return f"prompt:{prompt_job.id}", plan


def _stale(items: list[Item], since: list[Item], now: dict[str, Any], plan: dict[str, Any]) -> Refused:
    gone = [it for it in since if it["id"] not in now]
    moved = [it for it in since if it["id"] in now]
    parts = []
    if moved:
        shown = ", ".join(f"{it['name']} (`{it['id']}`) is {onoff(now[it['id']].monitoring_mode)}" for it in moved[:5])
        parts.append(f"{groups_count(len(moved))} changed mode ({shown}{', …' if len(moved) > 5 else ''})")
    if gone:
        parts.append(f"{groups_count(len(gone))} no longer exist")
    if plan["kind"] == "restore" and plan.get("source"):
        again = f"`/adops monitor restore {plan['source']}`"
    else:
        again = "the command"
    return Refused(f"Since this was asked, {' and '.join(parts)} of the {len(items)} listed; nothing was changed. "
                   f"Run {again} again to see what it would change now.")


def apply(rt: Runtime, job: Job) -> dict[str, Any]:
    """Apply a confirmed plan once, under the integration's lock; audit it with every group."""
    integration = job.params["integration"]
    source, plan = _source(rt, job)
    items: list[Item] = plan["items"]
    if not changing(items):
        raise Refused("There is nothing to change here; nothing was changed.")
    api = client(rt)

    def write() -> dict[str, Any]:
        now = {g.id: g for g in api.list_filter_groups(integration)}
        intent = rt.redis.get(intent_key(rt, job))
        if intent is None:
            if since := changed_since(items, now):
                raise _stale(items, since, now, plan)
            rows = snapshot(now.values(), items)
        else:
            rows = json.loads(intent)  # an earlier try of this job may have written some already
        todo = [r for r in rows if not same(r[2], r[3]) and r[0] in now and not same(now[r[0]].monitoring_mode, r[3])]
        missing: list[str] = []
        if todo:
            before_write(rt, job)
            rt.redis.set(intent_key(rt, job), json.dumps(rows), ex=INTENT_TTL)
            for to in (True, False):
                ids = [r[0] for r in todo if r[3] is to]
                if ids:
                    missing += api.bulk_update_filter_groups(ids, to, integration).missing
        rows = [[gid, name, before, before if gid in missing else after] for gid, name, before, after in rows]
        changed = [{"id": gid, "name": name, "mode": before, "to": after}
                   for gid, name, before, after in rows if not same(before, after)]
        result: dict[str, Any] = {"kind": plan["kind"], "integration": integration, "to": plan.get("to"),
                                  "source": plan.get("source"), "by": job.user_id, "changed": changed,
                                  "missing": missing, "audit_id": None}
        if changed:
            applied(rt, job)
            result["audit_id"] = _audit(rt, job, plan, integration, changed, rows)
        return result

    return apply_once(rt, f"fg:{integration}:*", f"fg:bulk:done:{integration}:{source}", write)


def _audit(rt: Runtime, job: Job, plan: dict[str, Any], integration: str, changed: list[Item],
           rows: list[list[Any]]) -> str:
    modes = {onoff(it["mode"]) for it in changed}
    names = ", ".join(it["name"] for it in changed[:5]) + (", …" if len(changed) > 5 else "")
    if plan["kind"] == "restore":
        what, after = f"restored the monitoring modes before {plan['source']} of", "as before"
    else:
        what, after = "set monitoring mode of", onoff(plan["to"])
    return audit.record_for_job(
        rt, job, what=f"{what} {groups_count(len(changed))}", target=f"of integration {integration} ({names})",
        before=modes.pop() if len(modes) == 1 else "mixed", after=after, detail=encode_detail(integration, rows),
    )


TASKS = (
    Task("fg_bulk_prompt", prompt, prompt_message),
    Task("fg_bulk", prompt, prompt_message),
    Task("fg_bulk_apply", apply, apply_message),
)

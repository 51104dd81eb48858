"""24Metrics filter-group tasks: list them, switch monitoring mode or ``active``, delete one.
Changes of several groups at once are :mod:`workers.vendors.metrics24.bulk`'s.

Changes are intent-based, not flips: a button says "monitoring on for group 12", so a double
click, a second admin clicking the same stale message, or a redelivered message finds the group
already there and changes nothing. A per-group lock serialises the read-modify-write, and the
audit entry is written once per job whatever happens to the worker in between.

A button's job re-renders its whole message from data (the groups as 24Metrics has them now and
the message's change log, see :mod:`workers.boards`), never by patching the blocks it was
clicked on.

A page shows its switches only when an admin asked for it: others get the listing and a line
saying who can switch (the clicks are checked by the ingress all the same).

The switch itself (set once, lock, intent, audit, board log) is :mod:`workers.toggles`, shared
with Adspect's stream modes; cancel and the locks: :mod:`workers.writes`.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

from workers import audit
from workers.boards import Board
from workers.errors import Refused, VendorRejected
from workers.jobs import Job
from workers.runtime import Runtime
from workers.tasks import Task
from workers.toggles import Switch, admin_page, board_of, log_once, set_once
from workers.vendors.metrics24.access import client
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.groups import FIELD_WORDS, compact, listing, onoff, resolve
from workers.vendors.metrics24.groups_render import (
    change_line,
    delete_message,
    delete_prompt_message,
    list_message,
    set_message,
)
from workers.vendors.metrics24.models import FilterGroup
from workers.vendors.metrics24.writes import INTENT_TTL, applied, before_write, group_lock, intent_key

__all__ = ["TASKS"]

#: How long "deleted by whom" is remembered for later clicks on the same delete button.
DELETED_TTL = 30 * 86_400


def _render_board(rt: Runtime, job: Job, api: Metrics24Client, board: Board) -> dict[str, Any]:
    """The page the button sat on, as 24Metrics has it now, with the board's log and a version."""
    p = job.params
    groups = api.list_filter_groups(p["integration"], name_contains=p.get("name"))
    page = listing(groups, p["integration"], p.get("name"), int(p.get("page") or 0))
    page["admin"] = admin_page(rt, job)
    return {"listing": page, "changes": board.changes(), "board_version": board.next_version()}


def list_groups(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    api = client(rt)
    board = board_of(rt, job)
    if board is not None:  # a page button: the same message, another page
        with board.locked():
            shown = _render_board(rt, job, api, board)
        return {**shown["listing"], "changes": shown["changes"], "board_version": shown["board_version"]}
    groups = api.list_filter_groups(p["integration"], name_contains=p.get("name"))
    return listing(groups, p["integration"], p.get("name"), int(p.get("page") or 0)) | {"admin": admin_page(rt, job)}


def set_group(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    integration, field, to = p["integration"], p["field"], bool(p["to"])
    if field not in FIELD_WORDS:
        raise Refused(f"`{field}` cannot be switched here.")
    api = client(rt)
    board = board_of(rt, job)
    with board.locked() if board is not None else nullcontext():
        group_id = p.get("group_id") or resolve(api.list_filter_groups(integration), p["group"]).id
        switch: Switch[FilterGroup] = Switch(
            read=lambda: api.get_filter_group(group_id, integration),
            state=lambda g: getattr(g, field),
            write=lambda value: api.update_filter_group(group_id, {field: value}, integration),
            there=lambda now, wanted: now is not None and bool(now) == wanted,  # unset is never "there"
        )
        done = set_once(rt, job, switch, to, lock_name=f"fg:{integration}:{group_id}",
                        what=f"set {FIELD_WORDS[field].lower()} of filter group",
                        target=lambda g: f"{g.name} ({g.id})", word=onoff)
        result: dict[str, Any] = {"group": compact(done.item), "field": field, "before": done.before, "after": to,
                                  "changed": done.changed, "integration": integration}
        if board is not None:
            if done.changed:
                log_once(rt, job, board, change_line(job.user_id, result["group"], field, to, done.changed))
            result |= _render_board(rt, job, api, board)
    return result


def delete_prompt(rt: Runtime, job: Job) -> dict[str, Any]:
    integration = job.params["integration"]
    group = resolve(client(rt).list_filter_groups(integration), job.params["group"])
    return {"group": compact(group), "integration": integration}


def delete_group(rt: Runtime, job: Job) -> dict[str, Any]:
    integration, group_id = job.params["integration"], job.params["group_id"]
    api = client(rt)
    intent_at = intent_key(rt, job)
    deleted_key = f"{rt.store.prefix}fg:deleted:{integration}:{group_id}"
    with group_lock(rt, integration, group_id):
        try:
            group = compact(api.get_filter_group(group_id, integration))
        except VendorRejected as exc:
            if exc.status != 404:
                raise
            intent = rt.redis.get(intent_at)
            if intent is None:
                # Someone deleted it first (a second click of the same button, say): the message
                # then says who did, as the first click's did, whichever of the two shows last.
                earlier = rt.redis.get(deleted_key)
                gone = json.loads(earlier) if earlier else {"group": {"id": group_id, "name": ""}, "by": ""}
                return {"group": gone["group"], "deleted": False, "by": gone["by"]}
            group = json.loads(intent)  # this job deleted it before a worker died
        else:
            before_write(rt, job)
            rt.redis.set(intent_at, json.dumps(group), ex=INTENT_TTL)
            api.delete_filter_group(group_id, integration)
        rt.redis.set(deleted_key, json.dumps({"group": group, "by": job.user_id}), ex=DELETED_TTL)
        applied(rt, job)
        audit.record_for_job(rt, job, what="deleted filter group", target=f"{group['name']} ({group_id})",
                             before="exists", after="deleted")
    return {"group": group, "deleted": True}


def _list_page_message(job: Job) -> Any:
    return list_message(job.result, job.result.get("changes"))


TASKS = (
    Task("fg_list", list_groups, _list_page_message),
    Task("fg_set", set_group, set_message),
    Task("fg_delete_prompt", delete_prompt, delete_prompt_message),
    Task("fg_delete", delete_group, delete_message),
)

"""A change of several filter groups' monitoring modes, as data (pure).

A plan is the list of groups a change will set, each as an item ``{"id", "name", "mode", "to"}``:
``mode`` is what the group had when the change was asked for (the prompt) and must still have
when it is applied, ``to`` what it is set to. "Set to", never "flip": applied twice, the second
time finds every group there.

The audit entry of an applied change keeps, in its ``detail``, every group of the integration
with its mode before and after the change (the same for the groups it left alone), so the whole
mix of modes before it can be put back: after ``all off`` then ``all on``, restoring the first
gives back the groups that were off as well as those that were on (:func:`restore_items`,
:func:`undo_items`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workers.audit import AuditEntry
from workers.errors import Refused
from workers.vendors.metrics24.models import FilterGroup

__all__ = [
    "DETAIL_KIND", "Item", "all_items", "changed_since", "changing", "decode_detail", "encode_detail", "restore_items",
    "same", "snapshot", "undo_items",
]

Item = dict[str, Any]
#: The ``kind`` of an audit entry's detail that a restore can read.
DETAIL_KIND = "24metrics.filter_groups.monitoring"


def same(a: bool | None, b: bool | None) -> bool:
    """Two modes are the same: both unset, or both set and equal."""
    return (a is None) == (b is None) and bool(a) == bool(b)


def all_items(groups: Iterable[FilterGroup], to: bool) -> tuple[list[Item], int]:
    """Every group whose mode is not ``to`` yet (unset counts as not yet); how many already are."""
    items, unchanged = [], 0
    for g in groups:
        if same(g.monitoring_mode, to):
            unchanged += 1
        else:
            items.append({"id": g.id, "name": g.name, "mode": g.monitoring_mode, "to": to})
    return items, unchanged


def restore_items(
    recorded: Sequence[Sequence[Any]], now: Mapping[str, FilterGroup]
) -> tuple[list[Item], int, list[dict[str, str]]]:
    """What putting back the modes ``recorded`` (an entry's ``[id, name, before, after]`` rows)
    changes now: the items, how many are back already, and the groups that are gone."""
    items: list[Item] = []
    unchanged, missing = 0, []
    for gid, name, before, _ in recorded:
        group = now.get(gid)
        if group is None:
            missing.append({"id": gid, "name": name})
        elif before is None or same(group.monitoring_mode, before):
            # An unset mode cannot be set back through the vendor's bulk switch: left as it is.
            unchanged += 1
        else:
            items.append({"id": gid, "name": group.name, "mode": group.monitoring_mode, "to": before})
    return items, unchanged, missing


def undo_items(recorded: Sequence[Sequence[Any]]) -> list[Item]:
    """Undo an audited change as it was made: each group goes from the mode it had after the
    change back to the one before (groups whose mode before was unset are left out, as above).
    Groups the change left alone are items too: they must still be as they were."""
    return [{"id": gid, "name": name, "mode": after, "to": before}
            for gid, name, before, after in recorded if before is not None]


def changed_since(items: Sequence[Item], now: Mapping[str, FilterGroup]) -> list[Item]:
    """The items whose group is gone or no longer in the mode the plan was made for."""
    return [it for it in items if it["id"] not in now or not same(now[it["id"]].monitoring_mode, it["mode"])]


def changing(items: Sequence[Item]) -> list[Item]:
    """The items that change their group's mode."""
    return [it for it in items if not same(it["mode"], it["to"])]


def snapshot(groups: Iterable[FilterGroup], items: Sequence[Item]) -> list[list[Any]]:
    """Every group as ``[id, name, before, after]``: after is the plan's ``to`` for its items,
    the mode as it is for the others."""
    targets = {it["id"]: it["to"] for it in items}
    return [[g.id, g.name, g.monitoring_mode, targets.get(g.id, g.monitoring_mode)] for g in groups]


def encode_detail(integration: str, rows: Sequence[Sequence[Any]]) -> str:
    """An audit entry's detail: every group's ``[id, name, before, after]``."""
    detail = {"kind": DETAIL_KIND, "integration": integration, "groups": [list(row) for row in rows]}
    return json.dumps(detail, ensure_ascii=False)


def decode_detail(entry: AuditEntry | None, audit_id: str, integration: str) -> list[list[Any]]:
    """The ``[id, name, before, after]`` rows of a bulk change's entry; refused for anything else."""
    if entry is None:
        raise Refused(f"There is no audit entry `{audit_id}`; nothing was changed. "
                      "The message of a change of several groups shows its audit id.")
    try:
        detail = json.loads(entry.detail) if entry.detail else {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict) or detail.get("kind") != DETAIL_KIND:
        raise Refused(f"Audit entry `{audit_id}` ({entry.what}) is not a change of several filter groups' "
                      "monitoring modes, so there is nothing to restore; nothing was changed.")
    if detail.get("integration") != integration:
        raise Refused(f"Audit entry `{audit_id}` changed integration `{detail.get('integration')}`: "
                      f"add `integration={detail.get('integration')}`; nothing was changed.")
    return [list(row) for row in detail.get("groups", [])]

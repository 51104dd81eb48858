"""24Metrics' filter groups: the seeded groups per integration and the CRUD and bulk handlers on them.

Shapes as the docs print them: a group wrapped in ``{"data": ...}``, the list paged by number,
the create answer ``{"created_item_id": ...}``, bulk answers listing the ids they touched.
"""

from __future__ import annotations

import threading
from typing import Any

from devkit.sandbox.base import Request, Response, SandboxConfig
from workers.vendors.metrics24.sandbox.common import Invalid, body, integration, now_iso, numbered, one
from workers.vendors.metrics24.sandbox.data import ORGANIZATION, PATCHABLE, new_group, seed_groups

__all__ = ["FilterGroups"]


def _validate(fields: dict[str, Any], groups: dict[str, dict[str, Any]], own_id: str | None) -> None:
    for name, value in fields.items():
        kind = PATCHABLE.get(name)
        if kind is None:
            raise Invalid(400, f"{name} cannot be set")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise Invalid(400, f"{name} must be an integer")
        if kind is not int and not isinstance(value, kind):
            raise Invalid(400, f"{name} must be a {'boolean' if kind is bool else kind.__name__}")
    if "name" in fields and not fields["name"].strip():
        raise Invalid(400, "name must not be empty")
    if "tags" in fields and len(fields["tags"]) > 50:
        raise Invalid(400, "tags must have at most 50 items")
    if "priority" in fields:
        clash = next((g for g in groups.values() if g["priority"] == fields["priority"] and g["id"] != own_id), None)
        if clash is not None:
            raise Invalid(400, f"priority {fields['priority']} is already used by filter group "
                               f"{clash['name']!r} ({clash['id']})")


class FilterGroups:
    """The groups of every integration, behind one lock; ``reset`` seeds them again."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._groups = seed_groups(config.seed)
        # Never reset: ids stay unique for the sandbox's life (see InstalApp).
        self._created = 0

    def reset(self) -> None:
        with self._lock:
            self._groups = seed_groups(self.config.seed)

    def _find(self, request: Request) -> dict[str, Any]:
        groups = self._groups[integration(request.params["integration"])]
        found = groups.get(request.params["group_id"])
        if found is None:
            raise Invalid(404, f"filter group {request.params['group_id']} not found")
        return found

    def list_groups(self, request: Request) -> Response:
        with self._lock:
            groups = self._groups.get(integration(request.params["integration"]), {})
            items = sorted((dict(g) for g in groups.values()), key=lambda g: g["priority"])
        return numbered(request, items)

    def get_group(self, request: Request) -> Response:
        with self._lock:
            return Response.json({"data": dict(self._find(request))})

    def create_group(self, request: Request) -> Response:
        owner = integration(request.params["integration"])
        payload = body(request)
        if not isinstance(payload, dict):
            raise Invalid(400, "request body must be a JSON object")
        for required in ("name", "priority", "integration", "organization"):
            if required not in payload:
                raise Invalid(400, f"{required} is required")
        if payload["integration"] != owner:
            raise Invalid(400, "integration does not match the path")
        if payload["organization"] != ORGANIZATION:
            raise Invalid(403, "the API key has no access to that organization")
        fields = {k: v for k, v in payload.items() if k not in ("integration", "organization")}
        with self._lock:
            groups = self._groups[owner]
            _validate(fields, groups, None)
            self._created += 1
            group = new_group(owner, 0x10000 + self._created, fields["name"], fields["priority"],
                              bool(fields.get("monitoring_mode", False)), bool(fields.get("active", True)),
                              list(fields.get("tags", [])), now_iso())
            group.update(fields)
            group["last_updated_by"] = "api"
            groups[group["id"]] = group
        return Response.json({"created_item_id": group["id"]}, 201)

    def update_group(self, request: Request) -> Response:
        fields = body(request)
        if not isinstance(fields, dict) or not fields:
            raise Invalid(400, "request body must be a non-empty JSON object")
        with self._lock:
            group = self._find(request)
            _validate(fields, self._groups[group["integration"]], group["id"])
            group.update(fields)
            group["name_with_id"] = f"{group['name']} ({group['id']})"
            group["updated_at"], group["last_updated_by"] = now_iso(), "api"
        return Response.json({})

    def delete_group(self, request: Request) -> Response:
        with self._lock:
            group = self._find(request)
            del self._groups[group["integration"]][group["id"]]
        return Response.json({})

    def _bulk_ids(self, request: Request) -> tuple[str, dict[str, Any], list[str]]:
        owner = integration(request.params["integration"])
        organization = one(request, "organization")
        if organization not in (None, ORGANIZATION):
            raise Invalid(403, "the API key has no access to that organization")
        payload = body(request)
        ids = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise Invalid(400, "data must be a non-empty list of filter group ids")
        return owner, payload, ids

    def bulk_update(self, request: Request) -> Response:
        owner, payload, ids = self._bulk_ids(request)
        if not isinstance(payload.get("monitoring_mode"), bool):
            raise Invalid(400, "monitoring_mode must be a boolean")
        with self._lock:
            groups = self._groups[owner]
            found = [i for i in dict.fromkeys(ids) if i in groups]
            if not found:
                raise Invalid(404, "none of the filter groups exist")
            for gid in found:
                groups[gid]["monitoring_mode"] = payload["monitoring_mode"]
                groups[gid]["updated_at"], groups[gid]["last_updated_by"] = now_iso(), "api"
        return Response.json({"updated_item_ids": found})

    def bulk_delete(self, request: Request) -> Response:
        owner, _, ids = self._bulk_ids(request)
        with self._lock:
            groups = self._groups[owner]
            found = [i for i in dict.fromkeys(ids) if i in groups]
            if not found:
                raise Invalid(404, "none of the filter groups exist")
            for gid in found:
                del groups[gid]
        return Response.json({"deleted_item_ids": found})

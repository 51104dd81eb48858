"""The sandbox's control API under ``/_sandbox/``, for processes that cannot call :class:`Sandbox`.

- ``POST /_sandbox/faults`` with :meth:`Sandbox.inject`'s keyword arguments as a JSON object;
- ``POST /_sandbox/config`` with ``{"ready_after": S}`` (answers the config);
- ``GET /_sandbox/stats`` and ``POST /_sandbox/reset``.
"""

from __future__ import annotations

from typing import Any, Protocol

from devkit.sandbox.base import Request, Response, SandboxConfig

__all__ = ["CONTROL_PREFIX", "Controlled", "control"]

CONTROL_PREFIX = "/_sandbox/"


class Controlled(Protocol):
    """What the control API drives: the sandbox's own methods."""

    config: SandboxConfig

    def stats(self) -> dict[str, int]: ...

    def reset(self) -> None: ...

    def set_ready_after(self, seconds: float) -> None: ...

    def inject(self, vendor: str, op: str, kind: str, **options: Any) -> None: ...


def control(sandbox: Controlled, request: Request) -> Response:
    """Answer one control request; a bad argument is a 400 with the reason."""
    action = request.path[len(CONTROL_PREFIX):].strip("/")
    if (request.method, action) == ("GET", "stats"):
        return Response.json(sandbox.stats())
    if request.method != "POST" or action not in ("faults", "config", "reset"):
        return Response.json({"detail": "Not found."}, 404)
    try:
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        if action == "reset":
            sandbox.reset()
            return Response.json({"ok": True})
        if action == "config":
            unknown = set(body) - {"ready_after"}
            if unknown:
                raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
            if "ready_after" in body:
                sandbox.set_ready_after(float(body["ready_after"]))
            return Response.json({"ready_after": sandbox.config.ready_after, "seed": sandbox.config.seed})
        sandbox.inject(**body)
        return Response.json({"ok": True}, 201)
    except (TypeError, ValueError) as exc:
        return Response.json({"detail": str(exc)}, 400)

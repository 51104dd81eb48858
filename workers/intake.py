"""What a command's handler gives the ingress: a job to submit, or a reply for the person.

Handlers are declared with their command (``CommandSpec.handler``), in the vendor's folder or,
for the commands every deployment has, in the ingress. A handler sees the parsed command and a
:class:`Context`; it never calls a vendor: that is a job's work, after the ack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from workers.grammar.spec import Parsed
from workers.runtime import Runtime
from workers.settings import Settings

__all__ = ["Context", "Handler", "Reply", "Submit"]


@dataclass(frozen=True)
class Context:
    """Who asked, where, and the process's runtime (store, settings)."""

    rt: Runtime
    user_id: str
    channel_id: str
    today: date

    @property
    def settings(self) -> Settings:
        return self.rt.settings


@dataclass(frozen=True)
class Submit:
    """Record this job and enqueue its first step."""

    kind: Literal["export", "task", "build"]
    vendor: str
    params: dict[str, Any]
    summary: str
    #: A line for the "Queued as…" answer: a limit applied before anything was sent.
    note: str = ""

    @classmethod
    def task(cls, vendor: str, op: str, params: dict[str, Any], summary: str) -> Submit:
        return cls("task", vendor, {"op": op, **params}, summary)


@dataclass(frozen=True)
class Reply:
    """Answer the person privately, at once; nothing is queued."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


Handler = Callable[[Parsed, Context], "Submit | Reply"]

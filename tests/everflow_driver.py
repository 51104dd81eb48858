"""A tiny synchronous build driver for the Everflow builder (the engine runs builds for real):
plan, then fetch parts in key order until none is left, against the sandbox mounted in-process."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from dramatiq.rate_limits.backends import StubBackend
from pydantic import SecretStr

from devkit.sandbox import Sandbox
from workers.builds import Part, merge_tally
from workers.vendors.everflow.builder import EverflowImpressions
from workers.vendors.everflow.client import EverflowClient
from workers.vendors.everflow.limits import EverflowLimits


@dataclass
class Built:
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    tally: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: int = 0
    parts: int = 0
    note: str = ""


class _Sink:
    def __init__(self, out: list[dict[str, Any]] | None) -> None:
        self.out, self.count = out, 0

    def write(self, row: Any) -> None:
        self.count += 1
        if self.out is not None:
            self.out.append(dict(row))


def client_for(sandbox: Sandbox) -> EverflowClient:
    return EverflowClient(sandbox.base_url("everflow"), SecretStr(Sandbox.TOKEN), transport=sandbox.transport(),
                          limits=EverflowLimits(StubBackend()))


def build(sandbox: Sandbox, params: dict[str, Any], *, keep: bool = True,
          builder: EverflowImpressions | None = None) -> Built:
    builder = builder or EverflowImpressions()
    out = Built()
    with client_for(sandbox) as client:
        plan = builder.plan(client, params)
        out.note = plan.note
        todo: list[tuple[str, Part]] = [(p.key, p) for p in plan.parts]
        heapq.heapify(todo)
        seen_keys: set[str] = set()
        seen_cols: dict[str, None] = {}
        while todo:
            _, part = heapq.heappop(todo)
            assert part.key not in seen_keys, f"part key {part.key} twice"
            seen_keys.add(part.key)
            sink = _Sink(out.rows if keep else None)
            fetched = builder.fetch(client, params, part, sink)
            assert fetched.rows == sink.count
            out.parts += 1
            out.requests += fetched.requests
            seen_cols.update(dict.fromkeys(fetched.columns))
            out.tally = merge_tally(out.tally, fetched.tally)
            for nxt in fetched.then:
                heapq.heappush(todo, (nxt.key, nxt))
        out.columns = builder.columns(list(seen_cols))
    return out

"""One-shot jobs: a vendor read or change that ends in one message.

An export waits on a vendor; a task does its work in one step (list the filter groups, flip a
monitoring mode, summarise fraud) and stores a small JSON result. The result is rendered when
it is published, so a redelivered publish shows the same thing, and rendering stays a pure
function of the record.

A task is registered under an ``op`` name with the function that runs it and the one that
renders its result. ``params["update"]`` (a message's channel and ts) makes the outcome replace
that message instead of a progress message of its own: that is how a button changes the
message it sits on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.jobs import Job
from workers.render import Rendered
from workers.runtime import Runtime

__all__ = ["TASKS", "Refused", "Task", "register"]

Runner = Callable[[Runtime, Job], dict[str, Any]]
Renderer = Callable[[Job], Rendered]


class Refused(Exception):
    """The task cannot do what was asked, for a reason the person can act on (an ambiguous
    name, a group that does not exist). Fails the job with this message; never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


@dataclass(frozen=True)
class Task:
    op: str
    run: Runner
    render: Renderer
    #: Takes long enough (many vendor pages) to deserve a progress message first.
    slow: bool = False


TASKS: dict[str, Task] = {}


def register(op: str, render: Renderer, *, slow: bool = False) -> Callable[[Runner], Runner]:
    def decorate(run: Runner) -> Runner:
        TASKS[op] = Task(op, run, render, slow)
        return run

    return decorate


def get(op: str) -> Task:
    # The modules that register tasks, imported on first use: workers import them all.
    from workers.vendors.metrics24 import download_center, filters, fraud, lookups  # noqa: F401

    return TASKS[op]

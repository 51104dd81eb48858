"""One-shot jobs: a vendor read or change that ends in one message.

An export waits on a vendor; a task does its work in one step (list the filter groups, flip a
monitoring mode, summarise fraud) and stores a small JSON result. The result is rendered when
it is published, so a redelivered publish shows the same thing, and rendering stays a pure
function of the record.

A vendor declares its tasks in its folder (``TASKS = (Task(...), ...)``) and lists them in its
:class:`~workers.vendors.spec.VendorSpec`; a job names its task by ``params["op"]``.
``params["update"]`` (a message's channel and ts) makes the outcome replace that message
instead of a progress message of its own: that is how a button changes the message it sits on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.jobs import Job
from workers.render import Rendered
from workers.runtime import Runtime

__all__ = ["Renderer", "Runner", "Task"]

Runner = Callable[[Runtime, Job], dict[str, Any]]
Renderer = Callable[[Job], Rendered]


@dataclass(frozen=True)
class Task:
    op: str
    run: Runner
    render: Renderer
    #: Takes long enough (many vendor pages) to deserve a progress message at once; any other
    #: task shows one only once it has run ADOPS_TASK_PROGRESS_AFTER seconds (see ``steps``).
    slow: bool = False

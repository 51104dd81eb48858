"""Switches: set one vendor item's state to a value, once, from a button or a command.

Shared by every vendor whose items have a mode people switch (filter groups' monitoring,
streams' modes); a vendor supplies how to read and write its item and the
words, this module does the rest the same way for all:

- "set to", never "flip": a button says "Money for stream X", so a double click, a second admin
  on the same stale message or a redelivered message finds the item there and writes nothing;
- a lock around the read-modify-write, the cancel check and the intent before the write
  (:mod:`workers.writes`), so a worker killed right after the vendor's answer still lets the
  job's rerun tell that it made the change;
- one audit entry per job (:func:`workers.audit.record_for_job`);
- the message a button sits on ("board", :mod:`workers.boards`) logs "who changed what" once
  per job and is re-rendered whole from the vendor's state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from workers import audit
from workers.boards import Board
from workers.jobs import Job
from workers.runtime import Runtime
from workers.writes import INTENT_TTL, applied, before_write, intent_key, lock

__all__ = ["Outcome", "Switch", "admin_page", "board_of", "log_once", "set_once"]

T = TypeVar("T")


@dataclass(frozen=True)
class Switch(Generic[T]):
    """One item's state as its vendor has it: how to read the item, its state, and how to set it."""

    #: The item as the vendor has it now.
    read: Callable[[], T]
    #: Its state (a mode name, True/False/None).
    state: Callable[[T], Any]
    #: Set the state to the value given; the item as the vendor answers after the change.
    write: Callable[[Any], T]
    #: Whether a state is already the one wanted (default: equal); an unset state may never be "there".
    there: Callable[[Any, Any], bool] = lambda now, to: bool(now == to)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    item: T
    #: The state before this job's change (from its intent on a rerun).
    before: Any
    #: This job changed it (now or in an earlier try); False: it was there already.
    changed: bool


def set_once(
    rt: Runtime, job: Job, switch: Switch[T], to: Any, *, lock_name: str, what: str,
    target: Callable[[T], str], word: Callable[[Any], str],
) -> Outcome[T]:
    """Set the item to ``to`` unless it is there; audit a change once ("``what``" of
    ``target(item)``, states said by ``word``)."""
    with lock(rt, lock_name):
        item = switch.read()
        before = switch.state(item)
        intent_at = intent_key(rt, job)
        if not switch.there(before, to):
            before_write(rt, job)
            # Written before the change: see the module's docstring.
            rt.redis.set(intent_at, json.dumps({"before": before}), ex=INTENT_TTL)
            item = switch.write(to)
            changed = True
        else:
            intent = rt.redis.get(intent_at)
            changed = intent is not None
            if intent is not None:
                before = json.loads(intent)["before"]
        if changed:
            applied(rt, job)
            audit.record_for_job(rt, job, what=what, target=target(item), before=word(before), after=word(to))
    return Outcome(item, before, changed)


def board_of(rt: Runtime, job: Job) -> Board | None:
    """The message a button's job re-renders (``params["update"]``), or None for a command."""
    update = job.params.get("update")
    return Board(rt.redis, rt.store.prefix, update["channel"], update["ts"]) if update else None


def log_once(rt: Runtime, job: Job, board: Board, line: str) -> None:
    """Add "who changed what" to the board's log, once however often the job runs."""
    if rt.store.claim(f"boardlog:{job.id}", INTENT_TTL):
        board.log(line)


def admin_page(rt: Runtime, job: Job) -> bool:
    """Whether a page shows switches: as it was first asked for, else as who asks now."""
    kept = job.params.get("admin")
    return bool(kept) if kept is not None else rt.settings.is_admin(job.user_id)

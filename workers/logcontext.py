"""Who a log line is about: the job (or digest) a line was written for, on every line, so one job
can be followed across web, worker and clock with ``grep``.

The fields live in a :class:`contextvars.ContextVar`: the ingress binds them when it records a
job (:func:`workers.submit.submit`), a worker binds them before each message it processes
(:class:`StepContext`, so Dramatiq's own lines about that message carry them too) and the clock
for each digest it ticks. :class:`AddContext`, a filter on the handlers, copies them onto every
record, where the JSON formatter (:mod:`workers.logs`) writes them. Nothing here touches Redis:
the worker's lookup of a job's fields is handed in, and runs only when a step writes its first
line (most steps of a job that goes well write none: a read per message was 4 % of a worker's CPU).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dramatiq
from dramatiq import Middleware

__all__ = ["FIELDS", "AddContext", "StepContext", "bind", "current", "job_fields", "scope"]

#: Every field a line may carry, in the order the JSON lines write them.
FIELDS = ("job_id", "kind", "vendor", "user_id", "channel_id", "digest_id")

_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("adops_log_fields", default={})


def current() -> Mapping[str, str]:
    return _fields.get()


def bind(**fields: str) -> None:
    """Add ``fields`` to what this thread's (or task's) lines carry from now on. Where a unit of
    work ends, :func:`scope` or the worker's middleware restores what was there before."""
    _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v}})


@contextmanager
def scope(**fields: str) -> Iterator[None]:
    """Lines written inside carry ``fields`` (and anything bound inside); afterwards, not."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _fields.reset(token)


def job_fields(job: Any) -> dict[str, str]:
    """The fields of a :class:`~workers.jobs.Job` (or anything with its attributes)."""
    fields = {"job_id": job.id, "kind": job.kind, "vendor": job.vendor, "user_id": job.user_id,
              "channel_id": job.channel_id}
    digest = getattr(job, "digest", None) or {}
    if digest.get("id"):
        fields["digest_id"] = str(digest["id"])
    return fields


class AddContext(logging.Filter):
    """Copy the bound fields onto each record (as attributes), for the formatter to write."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class _Deferred(Mapping[str, str]):
    """Fields read on first use, once."""

    __slots__ = ("_fields", "_read")

    def __init__(self, read: Callable[[], Mapping[str, str]]) -> None:
        self._read = read
        self._fields: Mapping[str, str] | None = None

    def _resolved(self) -> Mapping[str, str]:
        if self._fields is None:
            self._fields = {}  # a line written while reading (its warning) carries nothing, not a loop
            self._fields = dict(self._read())
        return self._fields

    def __getitem__(self, key: str) -> str:
        return self._resolved()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved())

    def __len__(self) -> int:
        return len(self._resolved())


class StepContext(Middleware):
    """Bind the fields of the job a message is about before a worker thread processes it, and
    clear them after. ``lookup(actor_name, args)`` says which fields (it may read the store once),
    called when the first line is written.

    Added first to the broker's middleware, so its ``after_process_message`` runs last
    (Dramatiq runs the ``after_`` hooks in reverse): the Retries middleware's "Retrying message"
    and the worker's "Failed to process message" lines still carry the job.
    """

    def __init__(self, lookup: Callable[[str, tuple[Any, ...]], Mapping[str, str]]) -> None:
        self.lookup = lookup
        self._log = logging.getLogger(__name__)
        self._started = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> None:
        name, args = message.actor_name, tuple(message.args)

        def read() -> Mapping[str, str]:
            try:
                return self.lookup(name, args)
            except Exception as exc:  # a line without its job beats a line not written
                self._log.warning("log context of %s not read: %s", name, type(exc).__name__)
                return {}

        _fields.set(_Deferred(read))
        self._started.value = time.perf_counter()

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        # One line per step, so `grep job_id` shows each step of a job even where it said nothing.
        took = (time.perf_counter() - getattr(self._started, "value", time.perf_counter())) * 1000
        outcome = "done" if exception is None else f"raised {type(exception).__name__}"
        self._log.debug("step %s %s in %.0f ms", message.actor_name, outcome, took)
        _fields.set({})

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> None:
        _fields.set({})

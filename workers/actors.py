"""Dramatiq actors: the queue's entry points, each a thin shell over a step in ``steps``.

Each actor is declared here with its retry policy, as ``dramatiq.actor`` would, and bound to a
broker and a runtime explicitly at boot (:func:`bind`): nothing is bound at import time, so a
process (or a test) can boot as often as it likes and every actor sees the runtime it was
bound with.

Vendor trouble that may pass (429, 5xx, timeouts) is retried with backoff, honouring the
vendor's Retry-After; when the retries run out the job is failed with the last reason instead of
being left "in progress". Slack's 429 is not a failure: the step is sent again with Slack's delay
and the worker thread moves on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

from workers import audit, buildsteps, filesweep, logcontext, metrics, render, steps, sweeper
from workers.digests import fire
from workers.errors import SlackRetryLater
from workers.retries import VENDOR_RETRIES
from workers.runtime import Runtime
from workers.slack import WORST_CALL_SECONDS
from workers.vendors.spec import Catalogue

__all__ = ["QUEUE", "QUEUES", "SLOW_QUEUE", "Dispatcher", "bind", "queue_of"]

log = logging.getLogger(__name__)

#: Queues by what their steps wait on, so a slow vendor's long steps never hold up the quick ones
#: (``adops worker --queues``; README "Running many processes"). The default queue takes the
#: steps that end in seconds: a task, one export request or poll, a publish, a notice, a
#: digest's run, the sweep. Each waits on at most one vendor or Slack call.
QUEUE = "adops"
#: Steps that hold a worker thread for minutes: a build's part reads a window page by page (many
#: vendor calls back to back) and its assembly streams every row into one file. On their own
#: queue they cannot fill every thread of the workers that serve the quick steps.
SLOW_QUEUE = "adops.slow"
QUEUES = (QUEUE, SLOW_QUEUE)
#: Anything unexpected (a bug, Redis restarting) gets a couple more chances, then a clear failure.
OTHER_RETRIES = 2
#: A step waits on at most one HTTP call (publish: up to four Slack calls, each bounded by
#: ``slack.WORST_CALL_SECONDS``); a step running longer than this is stuck.
STEP_TIME_LIMIT_MS = 90_000
PUBLISH_TIME_LIMIT_MS = int((4 * WORST_CALL_SECONDS + 30) * 1000)
#: Assembling a build streams every row it fetched into one file (a million rows is well under a
#: minute); far more than that means the disk is stuck.
ASSEMBLE_TIME_LIMIT_MS = 30 * 60_000
#: Keep re-sending an outcome Slack keeps rate-limiting for this long after the job ended.
PUBLISH_PATIENCE = sweeper.PUBLISH_PATIENCE


def should_retry(retries: int, exc: BaseException) -> bool:
    if isinstance(exc, steps.StepRetry):
        return retries < VENDOR_RETRIES
    if isinstance(exc, redis.RedisError | ConnectionError):
        return retries < VENDOR_RETRIES
    return retries < OTHER_RETRIES


#: A vendor step's retry after a VendorTransient waits the delay the step chose and said
#: (``workers.retries``); the backoff here paces the other retries (Redis errors, bugs).
RETRY_POLICY: dict[str, Any] = {
    "max_retries": VENDOR_RETRIES,
    "min_backoff": 1_000,
    "max_backoff": 60_000,
    "retry_when": should_retry,
    "on_retry_exhausted": "job_gave_up",
    "time_limit": STEP_TIME_LIMIT_MS,
}
ONCE_MORE: dict[str, Any] = {"max_retries": 3, "min_backoff": 1_000, "time_limit": STEP_TIME_LIMIT_MS}


@dataclass(frozen=True)
class Bound:
    """What an actor body runs against: the runtime, the vendors, and the bound actors."""

    rt: Runtime
    vendors: Catalogue
    actors: dict[str, dramatiq.Actor[Any, Any]]

    @contextmanager
    def slack_later(self, name: str, *args: Any) -> Iterator[None]:
        """Slack asked us to wait: send the same step again with Slack's delay."""
        try:
            yield
        except SlackRetryLater as exc:
            log.info("%s%r: %s", name, args, exc)
            metrics.counted_retry(name, type(exc).__name__)
            self.actors[name].send_with_options(args=args, delay=int(exc.retry_after * 1000))


Body = Callable[..., None]
_DECLARED: dict[str, tuple[Body, dict[str, Any]]] = {}
#: The queue of each declared actor, kept beside its options (which are Dramatiq's middleware's).
_QUEUE_OF: dict[str, str] = {}


def actor(*, queue: str = QUEUE, **options: Any) -> Callable[[Body], Body]:
    """Declare an actor, its queue and its options; :func:`bind` makes it a Dramatiq actor at boot."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}: one of {QUEUES}")

    def declare(fn: Body) -> Body:
        _DECLARED[fn.__name__] = (fn, options)
        _QUEUE_OF[fn.__name__] = queue
        return fn

    return declare


def queue_of(actor_name: str) -> str:
    """The queue an actor's messages go to (KeyError for a name never declared)."""
    return _QUEUE_OF[actor_name]


# -- the actors ---------------------------------------------------------------------------------


@actor(**RETRY_POLICY)
def export_request(b: Bound, job_id: str) -> None:
    with b.slack_later("export_request", job_id):
        steps.request(b.rt, b.vendors, job_id)


@actor(**RETRY_POLICY)
def export_poll(b: Bound, job_id: str, seq: int) -> None:
    with b.slack_later("export_poll", job_id, seq):
        steps.poll(b.rt, b.vendors, job_id, seq)


@actor(**RETRY_POLICY)
def task_run(b: Bound, job_id: str) -> None:
    with b.slack_later("task_run", job_id):
        steps.run_task(b.rt, b.vendors, job_id)


@actor(**RETRY_POLICY)
def build_plan(b: Bound, job_id: str) -> None:
    with b.slack_later("build_plan", job_id):
        buildsteps.plan(b.rt, b.vendors, job_id)


@actor(queue=SLOW_QUEUE, **RETRY_POLICY)
def build_part(b: Bound, job_id: str, key: str) -> None:
    with b.slack_later("build_part", job_id, key):
        buildsteps.part(b.rt, b.vendors, job_id, key)


@actor(queue=SLOW_QUEUE, **{**RETRY_POLICY, "time_limit": ASSEMBLE_TIME_LIMIT_MS})
def build_assemble(b: Bound, job_id: str) -> None:
    with b.slack_later("build_assemble", job_id):
        buildsteps.assemble(b.rt, b.vendors, job_id)


@actor(**{**RETRY_POLICY, "time_limit": PUBLISH_TIME_LIMIT_MS})
def publish(b: Bound, job_id: str, just_ended: bool = False) -> None:
    rt = b.rt
    try:
        steps.publish(rt, b.vendors, job_id, patience=PUBLISH_PATIENCE, just_ended=just_ended)
    except SlackRetryLater as exc:
        # The outbox learns when the next try is due, so the sweeper does not start a second chain.
        log.info("publish(%r): %s", job_id, exc)
        rt.store.outbox.touch(job_id, rt.clock() + exc.retry_after)
        b.actors["publish"].send_with_options(args=(job_id,), delay=int(exc.retry_after * 1000))


@actor(**ONCE_MORE)
def job_gave_up(b: Bound, message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Retries ran out: fail the job with the last reason we saw, so nobody waits forever."""
    args = message.get("args") or []
    if not args:
        return
    job_id = str(args[0])
    tries = int(retry_info.get("retries") or 0) + 1
    steps.fail(b.rt, job_id, steps.retry_exhausted_reason(b.rt.store.get(job_id), b.vendors, tries=tries))


@actor(**ONCE_MORE)
def sweep(b: Bound) -> None:
    sweeper.sweep(b.rt)
    filesweep.sweep(b.rt)  # built files whose link expired


@actor(**ONCE_MORE)
def digest_fire(b: Bound, digest_id: str, at: float, skipped: int = 0, since: float = 0.0, by: str = "") -> None:
    """A digest's run, sent by the clock (or `digest run`): it becomes a job like a command."""
    fire.fire(b.rt, b.vendors, digest_id, at, skipped=skipped, since=since, by=by)


@actor(max_retries=5, min_backoff=2_000, time_limit=STEP_TIME_LIMIT_MS)
def audit_post(b: Bound, entry_id: str) -> None:
    """Copy one audit entry to ADOPS_AUDIT_CHANNEL, once."""
    rt = b.rt
    channel = rt.settings.adops_audit_channel
    if not channel or not rt.store.claim(f"audit:{entry_id}", 7 * 86_400):
        return
    entries = audit.read(rt.redis, rt.store.prefix, entry_id=entry_id)
    if not entries:
        return
    e = entries[0]
    message = render.audit_entry(e.who, f"{e.what} {e.target}", e.before, e.after, e.when)
    try:
        rt.slack.post(channel, message.text, message.blocks)
    except SlackRetryLater as exc:
        rt.store.release(f"audit:{entry_id}")
        b.actors["audit_post"].send_with_options(args=(entry_id,), delay=int(exc.retry_after * 1000))
    except Exception:
        rt.store.release(f"audit:{entry_id}")
        raise


@actor(**ONCE_MORE)
def ephemeral_notice(b: Bound, response_url: str, text: str) -> None:
    """A private answer to a click (a refusal, a "already done"), off the request path."""
    message = render.text_message(text)
    with b.slack_later("ephemeral_notice", response_url, text):
        b.rt.slack.respond(response_url, message.text, message.blocks, in_channel=False)


# -- binding ------------------------------------------------------------------------------------


class Dispatcher:
    """The :class:`~workers.dispatch.Dispatch` of a runtime: sends to the bound actors."""

    #: The first step of each kind of job.
    FIRST_STEP = {"export": "export_request", "task": "task_run", "build": "build_plan"}

    def __init__(self, actors: dict[str, dramatiq.Actor[Any, Any]]) -> None:
        self.actors = actors

    def start(self, kind: str, job_id: str) -> None:
        self.actors[self.FIRST_STEP[kind]].send(job_id)

    def poll(self, job_id: str, seq: int, *, delay: float | None = None) -> None:
        self.actors["export_poll"].send_with_options(args=(job_id, seq), delay=_ms(delay))

    def part(self, job_id: str, key: str) -> None:
        self.actors["build_part"].send(job_id, key)

    def assemble(self, job_id: str) -> None:
        self.actors["build_assemble"].send(job_id)

    def publish(self, job_id: str, *, delay: float | None = None) -> None:
        self.actors["publish"].send_with_options(args=(job_id,), delay=_ms(delay))

    def publish_here(self, job_id: str) -> None:
        # A message of its own cost a send, a fetch, an ack and the job read again: a fifth of a
        # quick job's worker CPU. Publishing is idempotent (the outbox, the post-once marker), so
        # a try here that fails part way is finished by the queued one, with publish's retries.
        try:
            self.actors["publish"].fn(job_id, just_ended=True)
        except Exception as exc:
            log.info("publish(%r) in the step that finished it: %s; queued instead", job_id, type(exc).__name__)
            self.publish(job_id)

    def audit_copy(self, entry_id: str) -> None:
        self.actors["audit_post"].send(entry_id)

    def notice(self, response_url: str, text: str) -> None:
        self.actors["ephemeral_notice"].send(response_url, text)

    def sweep(self) -> None:
        self.actors["sweep"].send()

    def digest(self, digest_id: str, at: float, *, skipped: int = 0, since: float = 0.0, by: str = "") -> None:
        self.actors["digest_fire"].send(digest_id, at, skipped, since, by)


def bind(rt: Runtime, vendors: Catalogue) -> Dispatcher:
    """Declare every actor on ``rt.broker``, running against ``rt``; make it ``rt.dispatch``."""
    actors: dict[str, dramatiq.Actor[Any, Any]] = {}
    bound = Bound(rt, vendors, actors)
    if not any(isinstance(m, CurrentMessage) for m in rt.broker.middleware):
        # A step reads which try it is on (``workers.retries``) to say "try 3 of 9".
        rt.broker.add_middleware(CurrentMessage())
    if not any(isinstance(m, logcontext.StepContext) for m in rt.broker.middleware):
        # First in the list, so its clean-up runs after every other middleware's lines.
        rt.broker.add_middleware(logcontext.StepContext(lambda name, args: _log_fields(rt, name, args)),
                                 before=type(rt.broker.middleware[0]))
    for name, (fn, options) in _DECLARED.items():
        unknown = set(options) - rt.broker.actor_options
        if unknown:
            raise ValueError(f"actor {name}: options {sorted(unknown)} are not known to the broker's middleware")
        if "retry_when" in options:  # retries counted by actor: Dramatiq's hook is not told which
            options = {**options, "retry_when": metrics.retry_counter(name, options["retry_when"])}
        actors[name] = dramatiq.Actor(
            _runner(fn, bound), broker=rt.broker, actor_name=name, queue_name=_QUEUE_OF[name], priority=0, options=options
        )
    dispatcher = Dispatcher(actors)
    rt.dispatch = dispatcher
    return dispatcher


#: Actors whose first argument is a job id (``job_gave_up`` carries the message that gave up).
_JOB_FIRST = frozenset({"export_request", "export_poll", "task_run", "build_plan", "build_part", "build_assemble",
                        "publish"})
_JOB_FIELDS = ("kind", "vendor", "user_id", "channel_id", "digest")


def _log_fields(rt: Runtime, name: str, args: tuple[Any, ...]) -> dict[str, str]:
    """What a step's log lines carry (``workers.logcontext``): the job's fields, read from the
    store once per message; a digest's run names its digest."""
    if name == "digest_fire" and args:
        return {"digest_id": str(args[0])}
    if name == "job_gave_up" and args and isinstance(args[0], dict) and args[0].get("args"):
        job_id = str(args[0]["args"][0])
    elif name in _JOB_FIRST and args:
        job_id = str(args[0])
    else:
        return {}
    values = [v.decode() if isinstance(v, bytes) else v for v in rt.redis.hmget(rt.store.key(job_id), _JOB_FIELDS)]
    fields = {"job_id": job_id, **{k: v for k, v in zip(_JOB_FIELDS[:4], values[:4], strict=True) if v}}
    if values[4]:
        digest_id = json.loads(values[4]).get("id")
        if digest_id:
            fields["digest_id"] = str(digest_id)
    return fields


def _runner(fn: Body, bound: Bound) -> Body:
    def run(*args: Any, **kwargs: Any) -> None:
        fn(bound, *args, **kwargs)

    run.__name__ = run.__qualname__ = fn.__name__
    run.__module__ = fn.__module__
    return run


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds else None

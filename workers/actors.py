"""Dramatiq actors: the queue's entry points, each a thin shell over a step in ``steps``.

Retry policy lives here, on the actors. Vendor trouble that may pass (429, 5xx, timeouts) is
retried with backoff, honouring the vendor's Retry-After; when the retries run out the job is
failed with the last reason instead of being left "in progress". Slack's 429 is not a failure:
the step is sent again with Slack's delay and the worker thread moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import redis

from workers import audit, render, steps
from workers.runtime import current
from workers.slack import SlackRetryLater

log = logging.getLogger(__name__)

# Dramatiq binds actors to the global broker when they are declared: boot first, or fail here
# with a clear message rather than talk to a default RabbitMQ broker.
current()

QUEUE = "adops"
#: Transient vendor trouble: 8 tries with backoff from 1 s to 60 s is about 4 minutes of patience.
VENDOR_RETRIES = 8
#: Anything unexpected (a bug, Redis restarting) gets a couple more chances, then a clear failure.
OTHER_RETRIES = 2
#: A step waits on at most one HTTP call; a step running longer than this is stuck.
STEP_TIME_LIMIT_MS = 90_000
#: Keep re-sending an outcome Slack keeps rate-limiting for this long after the job ended.
PUBLISH_PATIENCE = 3_600.0


def should_retry(retries: int, exc: BaseException) -> bool:
    if isinstance(exc, steps.StepRetry):
        return retries < VENDOR_RETRIES
    if isinstance(exc, redis.RedisError | ConnectionError):
        return retries < VENDOR_RETRIES
    return retries < OTHER_RETRIES


RETRY_POLICY: dict[str, Any] = {
    "max_retries": VENDOR_RETRIES,
    "min_backoff": 1_000,
    "max_backoff": 60_000,
    "retry_when": should_retry,
    "on_retry_exhausted": "job_gave_up",
    "time_limit": STEP_TIME_LIMIT_MS,
    "queue_name": QUEUE,
}


@contextmanager
def _slack_later(actor: Callable[..., Any], *args: Any) -> Iterator[None]:
    try:
        yield
    except SlackRetryLater as exc:
        log.info("%s%r: %s", getattr(actor, "actor_name", actor), args, exc)
        actor.send_with_options(args=args, delay=int(exc.retry_after * 1000))  # type: ignore[attr-defined]


@dramatiq.actor(**RETRY_POLICY)
def export_request(job_id: str) -> None:
    with _slack_later(export_request, job_id):
        steps.request(current(), job_id, _send_poll, _send_publish)


@dramatiq.actor(**RETRY_POLICY)
def export_poll(job_id: str, seq: int) -> None:
    with _slack_later(export_poll, job_id, seq):
        steps.poll(current(), job_id, seq, _send_poll, _send_publish)


@dramatiq.actor(**RETRY_POLICY)
def task_run(job_id: str) -> None:
    with _slack_later(task_run, job_id):
        steps.run_task(current(), job_id, _send_publish)


@dramatiq.actor(**RETRY_POLICY)
def publish(job_id: str) -> None:
    rt = current()
    job = rt.store.get(job_id)
    if job is not None and job.finished_at and rt.clock() - job.finished_at > PUBLISH_PATIENCE:
        log.error("job %s: giving up on posting its outcome after %.0f s", job_id, PUBLISH_PATIENCE)
        return
    with _slack_later(publish, job_id):
        steps.publish(rt, job_id)


@dramatiq.actor(queue_name=QUEUE, max_retries=3, time_limit=STEP_TIME_LIMIT_MS)
def job_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Retries ran out: fail the job with the last reason we saw, so nobody waits forever."""
    args = message.get("args") or []
    if not args:
        return
    rt = current()
    job_id = str(args[0])
    steps.fail(rt, job_id, steps.retry_exhausted_reason(rt.store.get(job_id)), _send_publish)


@dramatiq.actor(queue_name=QUEUE, max_retries=3, time_limit=STEP_TIME_LIMIT_MS)
def sweep() -> None:
    steps.sweep(current(), _send_publish)


@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=2_000, time_limit=STEP_TIME_LIMIT_MS)
def audit_post(entry_id: str) -> None:
    """Copy one audit entry to ADOPS_AUDIT_CHANNEL, once."""
    rt = current()
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
        audit_post.send_with_options(args=(entry_id,), delay=int(exc.retry_after * 1000))
    except Exception:
        rt.store.release(f"audit:{entry_id}")
        raise


@dramatiq.actor(queue_name=QUEUE, max_retries=3, min_backoff=1_000, time_limit=STEP_TIME_LIMIT_MS)
def ephemeral_notice(response_url: str, text: str) -> None:
    """A private answer to a click (a refusal, a "already done"), off the request path."""
    message = render.text_message(text)
    with _slack_later(ephemeral_notice, response_url, text):
        current().slack.respond(response_url, message.text, message.blocks, in_channel=False)


def _send_poll(job_id: str, seq: int, *, delay: float | None = None) -> None:
    export_poll.send_with_options(args=(job_id, seq), delay=int(delay * 1000) if delay else None)


def _send_publish(job_id: str, *, delay: float | None = None) -> None:
    publish.send_with_options(args=(job_id,), delay=int(delay * 1000) if delay else None)


#: Actor for each kind of job's first step.
FIRST_STEP: dict[str, dramatiq.Actor] = {"export": export_request, "task": task_run}


def rebind(broker: dramatiq.Broker) -> None:
    """Move every actor to a new broker (a process that boots twice, like a test harness)."""
    for name in list(globals()):
        actor = globals()[name]
        if isinstance(actor, dramatiq.Actor):
            actor.broker = broker
            broker.declare_actor(actor)

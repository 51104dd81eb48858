"""Answers for one person only: a refusal of their own request, a button's failure.

An unknown or ambiguous group name, a wrong export id, a lookup with no record: the person's
mistake is theirs to see, not the channel's. Such a job (``Job.private``) is answered through
the command's ``response_url`` as an ephemeral message, else ``chat.postEphemeral`` to the person
in the channel, else a DM; a progress message already in the channel for it is deleted (or, if
Slack will not delete it, reduced to a neutral line).

Once only, as every outcome: ``publish`` marks it posted in the outbox after this returns, and
a marker set right after the send keeps a ``publish`` that runs again before that (a worker
that died in between, a Slack 429 on the retraction) from sending it twice.
"""

from __future__ import annotations

import logging

from workers import render
from workers.delivery import respond, undeliverable
from workers.errors import CannotPost, SlackError, SlackRetryLater
from workers.jobs import JOB_TTL, Job
from workers.runtime import Runtime

__all__ = ["answer", "retract"]

log = logging.getLogger(__name__)


def answer(rt: Runtime, job: Job, message: render.Rendered) -> bool:
    """Tell the person privately and take any progress message of the job out of the channel;
    False when no private route could take it (said and counted as undeliverable)."""
    retract(rt, job)
    sent = f"{rt.store.prefix}once:private:{job.id}:{job.outcome_rev}"
    if rt.redis.exists(sent):
        return True  # an earlier try sent it and died (or was told to wait) before marking it posted
    if not _send(rt, job, message):
        return False
    rt.redis.set(sent, "1", ex=JOB_TTL)
    return True


def _send(rt: Runtime, job: Job, message: render.Rendered) -> bool:
    if respond(rt, job, message, in_channel=False):
        return True
    try:
        rt.slack.ephemeral(job.channel_id, job.user_id, message.text, message.blocks)
        return True
    except CannotPost as exc:
        log.info("job %s: no ephemeral message in %s (%s); sending a DM", job.id, job.channel_id, exc.error)
    try:
        rt.slack.dm(job.user_id, message.text, message.blocks)
        return True
    except CannotPost as exc:
        undeliverable(rt, job.id, f"response_url, ephemeral message and DM all refused; the DM: {exc.error}")
        return False


def retract(rt: Runtime, job: Job) -> None:
    """Take the job's progress message away: delete it, or, when Slack will not, leave a neutral
    line. Also what a repaint does for a private job (a progress edit that landed late)."""
    neutral = render.retracted(job)
    if job.via in ("channel", "dm") and job.message_ts:
        try:
            rt.slack.delete(job.message_channel, job.message_ts)
            return
        except SlackRetryLater:
            raise
        except SlackError as exc:
            log.info("job %s: could not delete its progress message (%s); leaving a neutral line", job.id, exc.error)
        try:
            rt.slack.update(job.message_channel, job.message_ts, neutral.text, neutral.blocks)
        except SlackRetryLater:
            raise
        except SlackError as exc:
            log.info("job %s: its progress message is gone or stays as it was (%s)", job.id, exc.error)
    elif job.via == "response_url":
        # Posted through the response_url, in the channel: it can only be replaced, not deleted.
        if not respond(rt, job, neutral, replace_original=True):
            log.info("job %s: its progress post stays as it was", job.id)

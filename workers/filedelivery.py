"""Handing a built file to the person, once, before the outcome that lists it is posted.

``steps.publish`` calls :func:`deliver_once` for a delivered job whose result names a
``file`` (the build engine's contract). It makes the file ready (gzipped over
``ADOPS_FILES_GZIP_OVER``, :mod:`workers.files`), then:

- uploads it into the thread of the job's progress message (Slack's three-call upload,
  :meth:`workers.slack.SlackEgress.upload_file`), unless it is over ``ADOPS_SLACK_UPLOAD_MAX``;
- signs a link to it (:mod:`workers.links`) when ``ADOPS_PUBLIC_URL`` and ``ADOPS_LINK_SECRET``
  are set, and touches the file so that it is kept as long as the link works
  (:mod:`workers.filesweep` deletes a file ``ADOPS_LINK_TTL`` after its last touch);

and records what happened as ``result["delivery"]``, which the outcome renders
(:func:`workers.render.with_delivery`). A Slack refusal of the upload is recorded and leaves
the link; a Slack 429 or blip raises :class:`SlackRetryLater` for ``publish`` to come back.

Once: ``publish`` runs under the per-job message lock, a recorded delivery is never redone, and
the upload keeps a ledger in Redis: the file id whose bytes reached Slack is noted before the
completion is sent, so a try that died (or was rate-limited) in between only completes that
same file on its rerun and never uploads a second copy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from workers import files, links
from workers.errors import SlackError, SlackRetryLater
from workers.jobs import Job
from workers.runtime import Runtime
from workers.words import size

__all__ = ["deliver_once"]

log = logging.getLogger(__name__)

#: How long the upload ledger is kept (a publish is retried for an hour at most).
LEDGER_TTL = 2 * 86_400


def deliver_once(rt: Runtime, job: Job) -> Job:
    """``job`` with ``result["delivery"]`` recorded: its file delivered now, or earlier by
    another try. Jobs without a file (or not delivered) come back as they are."""
    if job.state != "delivered" or not isinstance(job.result.get("file"), dict) or "delivery" in job.result:
        return job
    delivery = _deliver(rt, job)
    result = {**job.result, "delivery": delivery}
    if rt.store.transition(job.id, ["delivered"], result=result):
        rt.redis.delete(_ledger(rt, job.id))
    return job.model_copy(update={"result": result})


def _ledger(rt: Runtime, job_id: str) -> str:
    return f"{rt.store.prefix}fileupload:{job_id}"


def _deliver(rt: Runtime, job: Job) -> dict[str, Any]:
    settings = rt.settings
    ready = files.ready(settings, Path(str(job.result["file"].get("path", ""))))
    if ready is None:
        log.warning("job %s: its file %s is not on this server", job.id, job.result["file"].get("path"))
        return {"error": "the file is no longer on the server"}
    delivery: dict[str, Any] = {"name": ready.name, "bytes": ready.size, "gzipped": ready.gzipped}
    delivery.update(_upload(rt, job, ready))
    delivery.update(_link(rt, job, ready))
    return delivery


def _upload(rt: Runtime, job: Job, ready: files.Ready) -> dict[str, Any]:
    limit = rt.settings.adops_slack_upload_max
    if ready.size > limit:
        return {"upload_error": f"at {size(ready.size)} it is over the upload limit here ({size(limit)})"}
    # Into the progress message's thread when there is one (the outcome will edit that message),
    # else into the channel the command came from.
    threaded = job.via in ("channel", "dm") and bool(job.message_ts)
    channel = job.message_channel if threaded else job.channel_id
    ledger = _ledger(rt, job.id)
    sent = rt.redis.hget(ledger, "sent")

    def note_sent(file_id: str) -> None:
        pipe = rt.redis.pipeline()
        pipe.hset(ledger, "sent", file_id)
        pipe.expire(ledger, LEDGER_TTL)
        pipe.execute()

    try:
        file_id = rt.slack.upload_file(
            ready.path, ready.name, channel=channel, thread_ts=job.message_ts if threaded else None,
            sent=sent.decode() if isinstance(sent, bytes) else (sent or ""), on_sent=note_sent,
        )
    except SlackRetryLater:
        raise  # a 429 or a blip: publish comes back, and the ledger keeps what was sent
    except SlackError as exc:
        log.warning("job %s: Slack refused the upload of %s: %s", job.id, ready.name, exc.error)
        return {"upload_error": f"Slack refused the upload ({exc.error})"}
    return {"file_id": file_id, "channel": channel, "thread": threaded}


def _link(rt: Runtime, job: Job, ready: files.Ready) -> dict[str, Any]:
    settings = rt.settings
    if not links.configured(settings):
        # The variables' names are for the operator; the channel hears that links are off.
        log.info("job %s: no signed link (ADOPS_PUBLIC_URL and ADOPS_LINK_SECRET are not both set)", job.id)
        return {"link_error": "signed links are not set up here"}
    where = files.locate(settings, job.id, ready.name)
    if where is None or where.resolve() != ready.path.resolve():
        log.error("job %s: its file %s is not at <ADOPS_FILES_DIR>/<job id>/<name>; no link", job.id, ready.path)
        return {"link_error": "the file is not where links can reach it"}
    now = rt.clock()
    token, expires_at = links.sign(settings, job.id, ready.name, now=now)
    # The sweep keeps a file ADOPS_LINK_TTL past its last change: from now, as long as the link.
    os.utime(ready.path, (now, now))
    return {"link": links.url(settings, token), "expires_at": expires_at}

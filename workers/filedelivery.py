"""Handing a built file to the person, once, before the outcome that lists it is posted.

``steps.publish`` calls :func:`deliver_once` for a delivered job whose result names a
``file`` (the build engine's contract) or ``files`` (a task's attachments). It makes each file ready (gzipped over
``ADOPS_FILES_GZIP_OVER``, :mod:`workers.files`), then:

- uploads it into the thread of the job's progress message (Slack's three-call upload,
  :meth:`workers.slack.SlackEgress.upload_file`), unless it is over ``ADOPS_SLACK_UPLOAD_MAX``;
- signs a link to it (:mod:`workers.links`) when ``ADOPS_PUBLIC_URL`` and ``ADOPS_LINK_SECRET``
  are set, and touches the file so that it is kept as long as the link works
  (:mod:`workers.filesweep` deletes a file ``ADOPS_LINK_TTL`` after its last touch);
- or, with files on S3 (``ADOPS_FILES_URL``, :mod:`workers.storage`), stores it in the bucket
  and links the store's presigned URL instead; the local copy is removed once the delivery is
  noted (a try that dies before finds it still there; one that dies after leaves it to the sweep);

and records what happened as ``result["delivery"]``, which the outcome renders
(:func:`workers.render.with_delivery`). A Slack refusal of the upload is recorded and leaves
the link; a Slack 429 or blip raises :class:`SlackRetryLater` for ``publish`` to come back.

Once: ``publish`` runs under the per-job message lock, a recorded delivery is never redone, and
the upload keeps a ledger in Redis: the file id whose bytes reached Slack is noted before the
completion is sent, so a try that died (or was rate-limited) in between only completes that
same file on its rerun and never uploads a second copy.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from workers import files, links
from workers.errors import SlackError, SlackRetryLater, StoreError
from workers.jobs import Job
from workers.runtime import Runtime
from workers.words import size

__all__ = ["deliver_once", "needs_a_thread"]

log = logging.getLogger(__name__)

#: How long the upload ledger is kept (a publish is retried for an hour at most).
LEDGER_TTL = 2 * 86_400


def deliver_once(rt: Runtime, job: Job) -> Job:
    """``job`` with what became of its files recorded: ``result["delivery"]`` for the build
    engine's one ``file``, ``result["deliveries"]`` (in order) for a task's ``files`` (a table's
    CSV and its chart). Delivered now, or earlier by another try; jobs without a file (or not
    delivered) come back as they are."""
    wanted = _wanted(job.result)
    if job.state != "delivered" or not wanted or "delivery" in job.result or "deliveries" in job.result:
        return job
    ledger = _ledger(rt, job.id)
    deliveries = []
    for index, described in enumerate(wanted):
        # Each file's delivery is noted as it is made: a try cut short by a 429 on the second
        # file does not upload the first one again when it comes back.
        done = rt.redis.hget(ledger, f"done{index}")
        if done is not None:
            deliveries.append(json.loads(done))
            continue
        delivery = _deliver(rt, job, described, index)
        _note(rt, ledger, f"done{index}", json.dumps(delivery))
        if delivery.get("stored"):
            _drop_local(Path(str(described.get("path", ""))))
        deliveries.append(delivery)
    single = isinstance(job.result.get("file"), dict)
    result = dict(job.result)
    if single:
        result["delivery"] = deliveries[0]
    if deliveries[single:]:
        result["deliveries"] = deliveries[single:]
    if rt.store.transition(job.id, ["delivered"], result=result):
        rt.redis.delete(ledger)
    return job.model_copy(update={"result": result})


def needs_a_thread(job: Job) -> bool:
    """Files still to deliver, and no message of the job's own to put them under: a task quick
    enough to post no progress message. Its outcome is posted first, so that the files land in
    that message's thread, as they would under a progress message, not loose in the channel."""
    return (job.state == "delivered" and bool(_wanted(job.result)) and not job.message_ts
            and "delivery" not in job.result and "deliveries" not in job.result
            and not job.params.get("update") and not job.private)


def _wanted(result: dict[str, Any]) -> list[dict[str, Any]]:
    one = [result["file"]] if isinstance(result.get("file"), dict) else []
    more = result.get("files")
    return one + [f for f in more if isinstance(f, dict)] if isinstance(more, list) else one


def _ledger(rt: Runtime, job_id: str) -> str:
    return f"{rt.store.prefix}fileupload:{job_id}"


def _note(rt: Runtime, ledger: str, field: str, value: str) -> None:
    pipe = rt.redis.pipeline()
    pipe.hset(ledger, field, value)
    pipe.expire(ledger, LEDGER_TTL)
    pipe.execute()


def _deliver(rt: Runtime, job: Job, described: dict[str, Any], index: int) -> dict[str, Any]:
    settings = rt.settings
    ready = files.ready(settings, Path(str(described.get("path", ""))))
    if ready is None:
        log.warning("job %s: its file %s is not on this server", job.id, described.get("path"))
        return {"error": "the file is no longer on the server"}
    delivery: dict[str, Any] = {"name": ready.name, "bytes": ready.size, "gzipped": ready.gzipped}
    delivery.update(_upload(rt, job, ready, index))
    delivery.update(_stored(rt, job, ready) if rt.storage.remote else _link(rt, job, ready))
    return delivery


def _upload(rt: Runtime, job: Job, ready: files.Ready, index: int) -> dict[str, Any]:
    limit = rt.settings.adops_slack_upload_max
    if ready.size > limit:
        return {"upload_error": f"at {size(ready.size)} it is over the upload limit here ({size(limit)})"}
    # Into the progress message's thread when there is one (the outcome will edit that message),
    # else into the channel the command came from.
    threaded = job.via in ("channel", "dm") and bool(job.message_ts)
    channel = job.message_channel if threaded else job.channel_id
    ledger = _ledger(rt, job.id)
    sent = rt.redis.hget(ledger, f"sent{index}")

    def note_sent(file_id: str) -> None:
        _note(rt, ledger, f"sent{index}", file_id)

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


def _stored(rt: Runtime, job: Job, ready: files.Ready) -> dict[str, Any]:
    """The file put in the bucket and linked by the store's presigned URL (files on S3)."""
    if files.locate(rt.settings, job.id, ready.name) is None:
        log.error("job %s: its file %s has no plain name; not stored", job.id, ready.path)
        return {"store_error": "the file has no name a link can carry"}
    key = f"{job.id}/{ready.name}"
    try:
        rt.storage.put(ready.path, key)
        url = rt.storage.link(key, rt.settings.adops_link_ttl)
    except StoreError as exc:
        log.warning("job %s: %s could not be stored: %s", job.id, ready.name, exc)
        return {"store_error": f"the file could not be stored: {exc}"}
    # The presigned URL carries its own expiry (botocore signs with the wall clock).
    return {"link": url, "expires_at": time.time() + rt.settings.adops_link_ttl, "stored": key}


def _drop_local(path: Path) -> None:
    """The local copy of a stored file, and its job's directory once empty: the bucket keeps it.
    Whatever is left (a try that died before this) is the sweep's, by age, as without S3."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        candidate.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass  # not empty (a task's second file, still to deliver) or already gone

"""Where a job's messages go: the progress message, the outcome, and the fence between them.

``refresh_progress`` posts or edits the progress message (best effort, throttled). ``deliver``
puts the outcome on the best route still open: an edit of the progress message, a new message in
the channel, the command's ``response_url`` (5 uses in 30 minutes), a DM; when none can take it,
:func:`undeliverable` says so at ERROR level with the job id and counts it in
``{prefix}stats:undeliverable`` for an operator to see.

The fence. Progress and outcome edit the same message under one per-job lock, a lease renewed
while its holder works (:mod:`workers.lease`), but a lease can still lapse (a paused process),
and an edit that was sent cannot be recalled. So a late progress edit is made harmless rather than impossible:

- progress: note the edit as in flight (with the time after which it can no longer land), check
  the job has not finished, send, drop the note once Slack has answered, check again: finished
  now means the outcome may be under this edit, so ask for a repaint;
- outcome: the job is finished before ``publish`` starts; post, then look for progress edits in
  flight: any means one may land later, so ask for a repaint once it no longer can.

Whatever the interleaving, one of the two sides sees the other, and ``publish`` paints the
outcome again after the last progress edit that could land (:func:`request_repaint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from contextlib import AbstractContextManager

from workers import render
from workers.digests import pace
from workers.errors import CannotPost, SlackError, SlackRetryLater
from workers.jobs import ACTIVE, JOB_TTL, Job
from workers.lease import lease
from workers.runtime import Runtime
from workers.slack import WORST_CALL_SECONDS
from workers.vendors.spec import Catalogue

__all__ = [
    "deliver",
    "message_lock",
    "refresh_progress",
    "repaint",
    "replace_clicked",
    "request_repaint",
    "take_repaint",
    "undeliverable",
    "watch_inflight",
]

log = logging.getLogger(__name__)

#: Slack keeps a response_url usable this long (and for five posts).
RESPONSE_URL_TTL = 30 * 60
RESPONSE_URL_USES = 5
#: Posts through a response_url kept back for the outcome (and one retry of it).
RESPONSE_URL_RESERVE = 2
#: A progress edit that was sent may still land at Slack this long afterwards.
INFLIGHT_SECONDS = WORST_CALL_SECONDS + 10

# One repaint per request: take one from the counter if there is one. KEYS[1] the counter.
_TAKE_ONE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return 0 end
redis.call('DECR', KEYS[1])
return 1
"""


def undeliverable_key(prefix: str) -> str:
    return f"{prefix}stats:undeliverable"


def message_lock(rt: Runtime, job_id: str, *, outcome: bool) -> AbstractContextManager[None]:
    """The per-job message lock: a lease renewed while its holder works (so it outlives any
    Slack call) that frees soon after a holder dies. Its lapse is logged: the fence covers it."""
    return lease(rt.redis, f"{rt.store.prefix}lock:msg:{job_id}", wait=10 if outcome else 2)


def _inflight_key(rt: Runtime, job_id: str) -> str:
    return f"{rt.store.prefix}inflight:{job_id}"


def _note_inflight(rt: Runtime, job_id: str) -> str:
    token = secrets.token_hex(8)
    key = _inflight_key(rt, job_id)
    pipe = rt.redis.pipeline()
    pipe.zadd(key, {token: time.time() + INFLIGHT_SECONDS})
    pipe.expire(key, int(INFLIGHT_SECONDS) + 60)
    pipe.execute()
    return token


def _inflight_for(rt: Runtime, job_id: str) -> float:
    """Seconds until no progress edit in flight can land any more (0: none in flight)."""
    now = time.time()
    latest = rt.redis.zrevrangebyscore(_inflight_key(rt, job_id), "+inf", now, start=0, num=1, withscores=True)
    return max(0.0, float(latest[0][1]) - now) if latest else 0.0


def request_repaint(rt: Runtime, job_id: str, delay: float = 0.0) -> None:
    """Have ``publish`` paint the outcome again (``delay`` seconds from now)."""
    key = f"{rt.store.prefix}repaint:{job_id}"
    pipe = rt.redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, 86_400)
    pipe.execute()
    rt.dispatch.publish(job_id, delay=delay or None)


def take_repaint(rt: Runtime, job_id: str) -> bool:
    return bool(rt.redis.register_script(_TAKE_ONE)(keys=[f"{rt.store.prefix}repaint:{job_id}"]))


def watch_inflight(rt: Runtime, job_id: str) -> None:
    """The outcome side of the fence, after the outcome is shown."""
    wait = _inflight_for(rt, job_id)
    if wait > 0:
        log.info("job %s: a progress edit may still land; painting the outcome again in %.0f s", job_id, wait)
        request_repaint(rt, job_id, delay=wait + 1)


def repaint(rt: Runtime, job: Job, message: render.Rendered) -> None:
    """Show the outcome again where it was posted (over a progress edit that landed late)."""
    try:
        if job.via in ("channel", "dm") and job.message_ts:
            rt.slack.update(job.message_channel, job.message_ts, message.text, message.blocks)
        elif job.via == "response_url" and _url_alive(rt, job):
            rt.slack.respond(job.response_url, message.text, message.blocks, replace_original=True)
            rt.store.incr(job.id, "response_url_uses")
    except CannotPost as exc:
        log.info("job %s: nothing to repaint (%s)", job.id, exc.error)


def undeliverable(rt: Runtime, job_id: str, why: str) -> None:
    """No route could take the outcome: never silently. Counted once per job."""
    rt.store.outbox.drop(job_id)
    key = undeliverable_key(rt.store.prefix)
    if rt.store.claim(f"undeliverable:{job_id}", JOB_TTL):
        rt.redis.incr(key)
    log.error("job %s: its outcome reached nobody (%s); counted in %s", job_id, why, key)


# -- progress -------------------------------------------------------------------------------


def refresh_progress(rt: Runtime, vendors: Catalogue, job: Job, *, force: bool = False) -> None:
    """Post or edit the in-channel progress message; best effort, throttled.

    A failure here never holds the job back: the outcome is what must arrive, and ``publish``
    guarantees that one. A message someone deleted is not posted again (its outcome will be).
    """
    if job.params.get("update"):
        return  # a button's job changes its own message when done; no progress message
    if job.digest:
        # Nobody is watching a digest run; its outcome alone goes to the channel, which keeps
        # Slack's per-channel pace for the runs, and leaves nothing to take back when skip-empty.
        return
    now = rt.clock()
    message = render.progress(job, now, vendors.display(job.vendor))
    # A retry starting or ending counts as a change of state: the person sees it at once.
    shown_state = f"{job.state}+retry" if job.retry_note else job.state
    digest = f"{shown_state}:{_digest(message)}"
    if job.last_render == digest:
        return
    state_changed = job.last_render.split(":", 1)[0] != shown_state
    if not force and not state_changed and now - job.last_render_at < rt.settings.adops_progress_interval:
        return
    try:
        with message_lock(rt, job.id, outcome=False):
            if _fenced_progress(rt, job.id, message, state_changed):
                rt.store.update(job.id, last_render=digest, last_render_at=now)
    except (SlackRetryLater, CannotPost) as exc:
        log.info("progress for %s not shown now: %s", job.id, exc)
        if isinstance(exc, CannotPost):  # gone or no longer editable: don't ask again every poll
            rt.store.update(job.id, last_render=digest, last_render_at=now)
    except Exception as exc:  # a lock timeout or a Slack refusal must not fail the job
        log.warning("progress for %s not shown: %s", job.id, type(exc).__name__)


def _fenced_progress(rt: Runtime, job_id: str, message: render.Rendered, state_changed: bool) -> bool:
    """Show ``message`` as the job's progress unless the job has finished; whether it was sent."""
    token = _note_inflight(rt, job_id)  # before the check, so the outcome side can't miss it
    landed: bool | None = None  # None: unknown (no answer), False: refused or not sent
    try:
        job = rt.store.get(job_id)
        if job is None or job.terminal or job.outcome_posted:
            landed = False
            return False  # the outcome is (being) posted; never paint progress over it
        if not job.via:
            _first_post(rt, job, message)
        elif job.via in ("channel", "dm"):
            rt.slack.update(job.message_channel, job.message_ts, message.text, message.blocks)
        elif not state_changed or job.response_url_uses >= RESPONSE_URL_USES - RESPONSE_URL_RESERVE:
            landed = False
            return False  # a response_url post can't be edited; spend its few uses on real changes
        else:
            rt.slack.respond(job.response_url, message.text, message.blocks, replace_original=True)
            rt.store.incr(job_id, "response_url_uses")
        landed = True
        return True
    except SlackRetryLater:
        raise  # a 429 or a dropped connection: it may still land, so the note stays
    except SlackError:
        landed = False
        raise
    finally:
        if landed is not None:
            rt.redis.zrem(_inflight_key(rt, job_id), token)
        if landed is not False:
            after = rt.store.get(job_id)
            if after is not None and after.terminal:
                # The job finished while this edit was on its way: the outcome may be under it.
                request_repaint(rt, job_id, delay=0.0 if landed else _inflight_for(rt, job_id) + 1)


def post_once(rt: Runtime, job: Job, message: render.Rendered, *, exclude: str = "") -> str:
    """Post the job's message in its channel, once.

    chat.postMessage has no idempotency key: a worker that dies after Slack took the post and
    before its ts was stored would post it again on the retry. A marker written before the first
    post says a message may exist; a retry then looks for it in the channel's history (by the job
    id every message of ours shows) and edits it instead. Where the history can't be read (a
    channel the bot only posts to), the retry posts again: a possible duplicate over a lost result.
    """
    if job.digest:
        pace.claim(rt, job)  # as close to the post as can be: the channel's pace is kept to the call
    marker = f"{rt.store.prefix}posting:{job.id}"
    # One round trip on a first post (the marker set); only a retry, which finds it, reads it.
    first = rt.redis.set(marker, repr(rt.clock()), nx=True, ex=2 * 86_400)
    since = None if first else rt.redis.get(marker)
    if since is not None:
        ts = rt.slack.find(job.channel_id, job.id, oldest=float(since) - 1, exclude=exclude)
        if ts:
            log.info("job %s: found the message an earlier try posted (%s); editing it", job.id, ts)
            try:
                rt.slack.update(job.channel_id, ts, message.text, message.blocks)
                return ts
            except CannotPost as exc:  # there, but not editable: replace it rather than add one
                log.info("job %s: the message an earlier try posted can't be edited (%s)", job.id, exc.error)
                _discard(rt, job.channel_id, ts)
    return rt.slack.post(job.channel_id, message.text, message.blocks)


def _first_post(rt: Runtime, job: Job, message: render.Rendered) -> None:
    try:
        ts = post_once(rt, job, message)
    except CannotPost as exc:
        log.info("job %s: cannot post in %s (%s); using the response_url", job.id, job.channel_id, exc.error)
    else:
        # Recorded only while the job runs and has no message yet: a job that finished meanwhile
        # has its outcome posted elsewhere, and this "waiting…" must not stay beside it.
        if not rt.store.transition(job.id, list(ACTIVE), expect={"via": ""}, via="channel",
                                   message_channel=job.channel_id, message_ts=ts):
            _discard(rt, job.channel_id, ts)
        return
    if job.response_url:
        rt.slack.respond(job.response_url, message.text, message.blocks)
        rt.store.incr(job.id, "response_url_uses")
        rt.store.transition(job.id, list(ACTIVE), expect={"via": ""}, via="response_url")


def _discard(rt: Runtime, channel: str, ts: str) -> None:
    """Delete an obsolete progress message of ours; best effort."""
    try:
        rt.slack.delete(channel, ts)
    except SlackError as exc:
        log.info("could not delete the obsolete message %s in %s: %s", ts, channel, exc.error)


# -- outcome --------------------------------------------------------------------------------


def deliver(rt: Runtime, job: Job, message: render.Rendered) -> bool:
    """The outcome, by the best route still open: edit the progress message, a new message in
    the channel, the response_url, and finally a DM to the person who asked. False when no
    route could take it (said at ERROR level and counted)."""
    old = (job.message_channel, job.message_ts) if job.via in ("channel", "dm") and job.message_ts else None
    gone = ""
    if old:
        try:
            rt.slack.update(*old, message.text, message.blocks)
            return True
        except CannotPost as exc:  # deleted, too old to edit, channel archived: fall through
            gone = exc.error
            log.info("job %s: its progress message can't be edited (%s)", job.id, gone)
    if job.via != "response_url":
        try:
            ts = post_once(rt, job, message, exclude=old[1] if old else "")
        except CannotPost as exc:
            log.info("job %s: cannot post in %s (%s)", job.id, job.channel_id, exc.error)
        else:
            rt.store.update(job.id, via="channel", message_channel=job.channel_id, message_ts=ts)
            if old:
                _discard(rt, *old)  # a "waiting…" we could not edit must not stay beside it
            return True
    if respond(rt, job, message, replace_original=job.via == "response_url"):
        return True
    try:
        channel, ts = rt.slack.dm(job.user_id, message.text, message.blocks)
    except CannotPost as exc:
        undeliverable(rt, job.id, f"channel, response_url and DM all refused; the DM: {exc.error}")
        return False
    rt.store.update(job.id, via="dm", message_channel=channel, message_ts=ts)
    return True


def replace_clicked(rt: Runtime, job: Job, channel: str, ts: str, message: render.Rendered) -> bool:
    """A button's outcome replaces the message the button sat on; if that message is gone, the
    person who clicked is told privately. False when neither could be done."""
    try:
        rt.slack.update(channel, ts, message.text, message.blocks)
        return True
    except CannotPost as exc:
        log.info("job %s: the message its button sat on can't be edited (%s)", job.id, exc.error)
    if respond(rt, job, message, in_channel=False):
        return True
    undeliverable(rt, job.id, "the clicked message can't be edited and the click's response_url is spent")
    return False


def respond(rt: Runtime, job: Job, message: render.Rendered, **how: bool) -> bool:
    """Answer through the job's response_url while Slack still takes it (30 minutes, 5 uses);
    False when it is spent or refused, for the caller to take its next route."""
    if not (job.response_url and _url_alive(rt, job)):
        return False
    try:
        rt.slack.respond(job.response_url, message.text, message.blocks, **how)
    except CannotPost as exc:
        log.info("job %s: response_url refused (%s)", job.id, exc.error)
        return False
    rt.store.incr(job.id, "response_url_uses")
    return True


def _url_alive(rt: Runtime, job: Job) -> bool:
    return rt.clock() - job.created_at < RESPONSE_URL_TTL and job.response_url_uses < RESPONSE_URL_USES


def _digest(message: render.Rendered) -> str:
    # The running time changes every refresh; the throttle, not the digest, paces those.
    return hashlib.sha1(json.dumps(message.blocks, sort_keys=True).encode()).hexdigest()[:16]

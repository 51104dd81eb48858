"""How a digest's run ends in the channel: titled as a digest, left out when empty, and counted.

``publish`` asks :func:`ready_to_post` before it posts a digest's run: the run's end is recorded
on the digest once (:func:`settle`: its failures in a row, and a pause when they reach
``ADOPS_DIGEST_FAILURES``), the run is left out when ``skip-empty`` finds nothing to report, and
it waits for its turn in the channel (``workers.digests.pace``). :func:`frame` puts the digest's line on top: which digest, its schedule in words,
the run's scheduled time and who scheduled it, runs missed, and a pause it caused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from workers import metrics
from workers.digests import pace
from workers.digests.cron import CronError, parse_cron
from workers.errors import SlackRetryLater
from workers.jobs import Job
from workers.mrkdwn import Mrkdwn, code, date, escape, fallback, md, mention
from workers.render import MAX_BLOCKS, Rendered, note, section
from workers.runtime import Runtime

__all__ = ["Settled", "empty", "frame", "local_time", "ready_to_post", "schedule_words", "settle"]

log = logging.getLogger(__name__)

#: How long a run's "counted" mark lives: longer than any publish of it is retried.
COUNTED_TTL = 7 * 86_400


@dataclass(frozen=True)
class Settled:
    """What became of a digest's run: post it (framed), or leave it out."""

    post: bool
    failures: int = 0
    paused: bool = False


def empty(result: dict[str, Any]) -> bool:
    """Nothing to report: the result counts zero rows (a funnel, an export, a build), lists no
    entries (filter groups, streams), or every table in it checked nothing (fraud). A result
    that counts nothing (an account, a link) is never empty."""
    if isinstance(result.get("rows"), int):
        return result["rows"] == 0
    if isinstance(result.get("total"), int):
        return result["total"] == 0
    tables = [v for v in result.values() if isinstance(v, dict) and isinstance(v.get("rows"), int)]
    return bool(tables) and all(t["rows"] == 0 for t in tables)


def settle(rt: Runtime, job: Job) -> Settled:
    """Record how digest run ``job`` ended (once, however often this is asked) and say whether
    to post it; the caller keeps the answer in ``job.digest`` for :func:`frame`."""
    about = job.digest
    skip = job.state == "delivered" and bool(about.get("skip_empty")) and empty(job.result)
    state = "skipped" if skip else job.state
    failures, paused = rt.digests.record(
        str(about["id"]), job.id, state, now=rt.clock(), pause_after=rt.settings.adops_digest_failures,
        scheduled=not about.get("run_by"),
    )
    if rt.store.claim(f"counted:digest:{job.id}", COUNTED_TTL):  # once a run, however often publish settles it
        metrics.DIGEST_RUNS.labels(state).inc()
    return Settled(post=not skip, failures=failures, paused=paused)


def ready_to_post(rt: Runtime, job: Job) -> bool:
    """A digest's run: record how it ended; False when it is not to be posted (left out as empty).
    Raises SlackRetryLater when its channel's turn to post is later: publish runs again then."""
    if "posted" not in job.digest:
        settled = settle(rt, job)
        job.digest = {**job.digest, "posted": settled.post, "failures": settled.failures, "paused": settled.paused}
        rt.store.update(job.id, digest=job.digest)
    if not job.digest["posted"]:
        log.info("digest %s: run %s had nothing to report; left out (skip-empty)", job.digest["id"], job.id)
        rt.store.outbox.mark_posted(rt.store.key(job.id), job.id, job.outcome_rev)
        return False
    wait = pace.turn(rt, job)
    if wait:
        raise SlackRetryLater(wait, "its turn to post in the channel is later")  # the actor sends it again then
    return True


def schedule_words(cron: str, tz: str) -> str:
    """The schedule as people read it: "at 09:00, Monday to Friday, Berlin time"."""
    try:
        return parse_cron(cron).describe(tz)
    except CronError:
        return f"`{cron}` ({tz})"  # a schedule stored before the grammar changed: shown as typed


def frame(message: Rendered, job: Job, admins: tuple[str, ...]) -> Rendered:
    """``message`` under the digest's own line (and the notes about missed runs and a pause that
    :func:`settle` recorded in ``job.digest``)."""
    about = job.digest
    digest_id = str(about["id"])
    at = float(about["at"])
    words = schedule_words(str(about["cron"]), str(about["tz"]))
    if about.get("run_by"):
        head = md(":calendar: *Digest {}* ({}) · run now by {}", code(digest_id), words, mention(about["run_by"]))
    else:
        head = md(":calendar: *Digest {}* ({}) · the run of {} · scheduled by {}", code(digest_id), words,
                  escape(local_time(at, str(about["tz"]))), mention(str(about["by"])))
    lines: list[Mrkdwn] = []
    missed = int(about.get("missed") or 0)
    if missed:
        since = float(about.get("missed_since") or at)
        lines.append(md(":warning: {} earlier run{} {} missed while no clock was running (the first due {}).",
                        missed, "" if missed == 1 else "s", "was" if missed == 1 else "were", date(since)))
    if about.get("paused"):
        who = ", ".join(mention(a) for a in admins) if admins else "an admin"
        lines.append(md(":double_vertical_bar: This digest failed {} times in a row, so it has paused itself. "
                        "{} can resume it with {}.", int(about.get("failures") or 0), Mrkdwn(who), code(f"/adops digest resume {digest_id}")))
    top = [note(head), *([section(Mrkdwn("\n".join(lines)))] if lines else [])]
    text = fallback("Digest {}: {}", digest_id, message.text)
    return Rendered(text=text, blocks=[*top, *message.blocks[: MAX_BLOCKS - len(top)]])


def local_time(at: float, tz: str) -> str:
    """A run's time in the digest's own zone (the one its schedule is written in): "Mon 07 Dec 09:00"."""
    return datetime.fromtimestamp(at, ZoneInfo(tz)).strftime("%a %d %b %H:%M")

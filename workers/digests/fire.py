"""A digest's run: its command read again, as the day it runs, and submitted as a job.

The clock only says "digest D, run scheduled at T" (``digest_fire``); this step, on a worker,
does what the ingress does for a person: parse, let the command's handler say what job it is,
check the vendor is set up, record the job and send its first step. The job's once-only key is
the digest and the scheduled time, so a second ``digest_fire`` for the same run (a redelivered
message, two clocks that both thought they led) finds the first job and starts nothing new.

A run that cannot even become a job (the command no longer reads, the vendor's key was removed)
is still recorded as a job, failed with the reason, so it is posted once and counted towards
the failures that pause a digest, like any vendor failure.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from workers import steps
from workers.digests.store import Digest
from workers.errors import UsageError
from workers.grammar.parser import Registry
from workers.grammar.spec import Parsed
from workers.intake import Context, Reply, Submit
from workers.runtime import Runtime
from workers.submit import new_job, submit
from workers.vendors.spec import Catalogue

__all__ = ["RUN_MEMORY", "fire", "prepare", "refusal"]

log = logging.getLogger(__name__)

#: How long a run's once-only key is kept: longer than any redelivery or clock failover.
RUN_MEMORY = 2 * 86_400


def refusal(parsed: Parsed, vendors: Catalogue) -> str | None:
    """Why this command cannot be a digest (it changes state, or is not a vendor's report)."""
    spec = parsed.spec
    if spec.changes_state:
        return (f"`{spec.name}` changes state, so it can't run unattended as a digest: "
                "digests run reports (`funnel`, `fraud`, `filters`, `account`, `export …`).")
    if spec not in vendors.commands:
        return f"`{spec.name}` isn't a report, so it can't be a digest: digests run a vendor's report commands."
    return None


def prepare(rt: Runtime, vendors: Catalogue, commands: Registry, text: str, *, user_id: str, channel_id: str,
            today: date) -> Submit | str:
    """The job ``text`` asks for, as of ``today``, or why it can't run (a sentence for Slack)."""
    try:
        parsed = commands.parse(text, today=today)
    except UsageError as exc:
        return f"its command `{text}` is not valid: {exc.message}"
    why = refusal(parsed, vendors)
    if why:
        return why
    if parsed.spec.handler is None:
        return f"`{parsed.spec.name}` is not available yet."
    outcome = parsed.spec.handler(parsed, Context(rt, user_id, channel_id, today))
    if isinstance(outcome, Reply):
        return outcome.text
    missing = vendors.missing_key(rt.settings, outcome.vendor)
    if missing:
        return f"{vendors.display(outcome.vendor)} is not configured here: an admin needs to set {missing}."
    refused = rt.settings.vendor(outcome.vendor).refusal(outcome.params, admin=True)
    return refused or outcome


def fire(rt: Runtime, vendors: Catalogue, digest_id: str, at: float, *, skipped: int = 0, since: float = 0.0,
         by: str = "") -> None:
    """Run ``digest_id`` for its run scheduled at ``at``; ``skipped`` runs before it were folded
    into this one (a short clock outage), the first at ``since``; ``by``: who said `digest run`."""
    digest = rt.digests.get(digest_id)
    if digest is None:
        log.info("digest %s was removed before its run at %.0f", digest_id, at)
        return
    if digest.paused and not by:
        log.info("digest %s is paused; its run at %.0f is not made", digest_id, at)
        return
    if not rt.settings.channel_allowed(digest.channel_id):
        # The channel left ADOPS_CHANNELS after the digest was added: say nothing there.
        log.warning("digest %s: channel %s is not in ADOPS_CHANNELS; its run at %.0f is not made", digest_id,
                    digest.channel_id, at)
        return
    today = datetime.fromtimestamp(at, ZoneInfo(digest.tz)).date()
    who = by or digest.created_by
    missed = skipped + digest.missed
    first_missed = min((t for t in (since, digest.missed_since) if t), default=at) if missed else 0.0
    fields: dict[str, Any] = {
        "command": digest.command, "user_id": who, "channel_id": digest.channel_id, "team_id": digest.team_id,
        "digest": _about(digest, at, by, missed, first_missed),
    }
    once = {"dedup_key": f"{rt.store.prefix}digestrun:{digest_id}:{at!r}", "dedup_window": RUN_MEMORY}
    what = prepare(rt, vendors, _commands(vendors), digest.command, user_id=who, channel_id=digest.channel_id,
                   today=today)
    if isinstance(what, str):
        job, earlier = rt.store.create(new_job(rt, kind="task", vendor="", summary=f"Digest {digest_id}", **fields),
                                       **once)
        if earlier is None:
            steps.fail(rt, job.id, what)
    else:
        job, earlier = submit(rt, kind=what.kind, vendor=what.vendor, summary=what.summary, params=what.params,
                              **fields, **once)
    if earlier is not None:
        _restart_if_stuck(rt, earlier)
        return
    if job is not None and digest.missed:
        rt.digests.take_missed(digest_id, digest.missed)
    log.info("digest %s: run at %.0f is job %s", digest_id, at, job.id if job else "(not queued)")


def _about(digest: Digest, at: float, by: str, missed: int, since: float) -> dict[str, Any]:
    """What the run's message says about the digest (``Job.digest``)."""
    return {"id": digest.id, "at": at, "tz": digest.tz, "cron": digest.cron, "by": digest.created_by,
            "run_by": by, "skip_empty": digest.skip_empty, "missed": missed, "missed_since": since}


def _restart_if_stuck(rt: Runtime, job_id: str) -> None:
    """A second fire of one run: if the first recorded the job and died before sending its first
    step, send it now (steps are safe to run twice); otherwise there is nothing to do."""
    job = rt.store.get(job_id)
    if job is not None and job.state == "queued" and job.vendor:
        log.info("digest run %s found still queued; sending its first step again", job_id)
        rt.dispatch.start(job.kind, job_id)


@lru_cache(maxsize=8)
def _commands(vendors: Catalogue) -> Registry:
    """The commands a digest can name: the vendors' own (``help``, ``jobs`` are not reports)."""
    return Registry(vendors.commands)

"""Deleting the files the bot built once their link has expired; the sweep actor runs it
with the job sweep, every ``ADOPS_SWEEP_INTERVAL``.

A job's directory (``<ADOPS_FILES_DIR>/<job id>/``) is deleted when nothing in it changed for
``ADOPS_LINK_TTL`` seconds. A file is written when it is built and touched when its link is
signed (:mod:`workers.filedelivery`), so it is kept at least ``ADOPS_LINK_TTL`` after it was
built, links or not, and never outlives its link by more than a sweep. Two more guards:
a job still running (a build writing its file) or finished but not yet posted (its delivery
may still come, for as long as a publish is tried) keeps its files whatever their age, and only
directories named like a job id are touched, so a misconfigured ``ADOPS_FILES_DIR`` (``/tmp``)
loses nothing of anyone else's.

With files on S3 (``ADOPS_FILES_URL``) the local copy goes once delivered, and the copy in the
bucket is deleted here once its link has expired: stored more than ``ADOPS_LINK_TTL`` plus
:data:`PUBLISH_PATIENCE` ago (the grace the local files get while their publish may still come),
by :meth:`workers.storage.S3Store.expire`, which touches only the prefix's ``<job id>/<name>`` keys.

The build engine's part files (``<ADOPS_FILES_DIR>/parts/<job id>/``, ``workers.buildsteps``)
are its own to delete once a build is assembled or cancelled; a build that ended any other way
(failed by its deadline, its messages lost) leaves them behind, so the sweep deletes the parts
of any job that has ended, or whose record is gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from workers import files
from workers.errors import StoreError
from workers.runtime import Runtime
from workers.sweeper import PUBLISH_PATIENCE

__all__ = ["sweep"]

log = logging.getLogger(__name__)


def sweep(rt: Runtime, now: float | None = None) -> list[str]:
    """Delete the file directories (and stored copies) whose link expired; the job ids whose files went."""
    now = rt.clock() if now is None else now
    return _sweep_local(rt, now) + _sweep_parts(rt, files.parts_root(rt.settings)) + _sweep_store(rt, now)


def _sweep_local(rt: Runtime, now: float) -> list[str]:
    """Delete the job directories whose link expired; the job ids whose files went."""
    root = rt.settings.adops_files_dir
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and files.looks_like_job(e.name)]
    except FileNotFoundError:
        return []  # nothing built here yet
    removed = []
    for entry in entries:
        newest = _last_change(entry.path)
        if newest + rt.settings.adops_link_ttl > now or _in_use(rt, entry.name, now):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.name)
    if removed:
        log.info("deleted the files of %d job(s) whose links expired: %s", len(removed), ", ".join(removed[:20]))
    return removed


def _sweep_store(rt: Runtime, now: float) -> list[str]:
    """Delete the stored copies whose link expired; the job ids whose copies went."""
    try:
        keys = rt.storage.expire(now - rt.settings.adops_link_ttl - PUBLISH_PATIENCE)
    except StoreError as exc:  # the store's blip: the next sweep tries again; the job sweep is done
        log.warning("could not delete the expired files in the store: %s", exc)
        return []
    jobs = sorted({key.partition("/")[0] for key in keys})
    if keys:
        log.info("deleted %d stored file(s) of %d job(s) whose links expired: %s", len(keys), len(jobs),
                 ", ".join(jobs[:20]))
    return jobs


def _sweep_parts(rt: Runtime, root: Path) -> list[str]:
    """Delete the part files of builds that ended; the job ids whose parts went."""
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and files.looks_like_job(e.name)]
    except FileNotFoundError:
        return []
    removed = []
    for entry in entries:
        job = rt.store.get(entry.name)
        if job is not None and not job.terminal:
            continue  # still building: its parts are its work so far
        if job is None and time.time() - _last_change(entry.path) < PUBLISH_PATIENCE:
            # Not a job of this Redis, yet recent: the folder may be shared with a deployment on
            # another Redis (or a test beside this one); a build's parts are never idle this long.
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.name)
    if removed:
        log.info("deleted the part files of %d ended build(s): %s", len(removed), ", ".join(removed[:20]))
    return removed


def _last_change(path: str) -> float:
    """The latest change in a job's directory: its files' and its own (a rename, a new file)."""
    latest = os.stat(path).st_mtime
    for entry in os.scandir(path):
        try:
            latest = max(latest, entry.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:  # removed meanwhile (a build renaming its output)
            continue
    return latest


def _in_use(rt: Runtime, job_id: str, now: float) -> bool:
    job = rt.store.get(job_id)
    if job is None:
        return False  # the job record expired (30 days): nothing will hand this file over
    if not job.terminal:
        return True
    return not job.outcome_posted and now - (job.finished_at or job.updated_at) < PUBLISH_PATIENCE

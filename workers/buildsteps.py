"""The steps of a build (:mod:`workers.builds`): plan, one message per part, assemble.

``plan`` asks the builder for the first parts, records them (:mod:`workers.buildstore`) and
sends one ``build_part`` message for each, so parts run in parallel on every worker thread.
``part`` fetches one part into a file of its own and records it done together with the
follow-up parts it handed back; the recording that leaves nothing pending sends
``build_assemble``, which streams the part files, in key order, into one CSV and delivers it.

Why a build survives a worker killed mid-way: a part's rows go to a file made for that try
(``<ADOPS_FILES_DIR>/parts/<job>/<key>.<try>.jsonl``), and only the try that *records* the
part names its file in Redis; a try that died, failed or lost the race leaves a file nobody
reads (removed with the folder). A part message redelivered after its part was recorded sends
what the first run may not have sent (its follow-ups, the assembly). So every row is in the CSV
once, whichever messages ran twice. The sweeper (:func:`rescue`) re-sends what a broker restart lost.

``ADOPS_FILES_DIR`` must be one folder for every worker process (a shared disk): a part may
be fetched by one worker and assembled by another.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from redis.exceptions import LockError

from workers import files, metrics
from workers.builds import Builder, first_seen, merge_tally
from workers.buildstore import BuildStore, Done
from workers.delivery import refresh_progress
from workers.jobs import Job
from workers.lease import lease
from workers.runtime import Runtime
from workers.steps import FAILED, fail, vendor_call
from workers.vendors.spec import Catalogue

__all__ = ["JsonlSink", "assemble", "part", "plan", "rescue"]

log = logging.getLogger(__name__)


# -- where part rows go ---------------------------------------------------------------------------


class JsonlSink:
    """A part's rows, one JSON object a line, in a file of this try's own. Counts the rows and
    notes every column in first-seen order, so the CSV's columns do not depend on the builder
    listing them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.columns: dict[str, None] = {}
        self._fh: TextIO | None = None

    def __enter__(self) -> JsonlSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", encoding="utf-8")
        return self

    def write(self, row: Mapping[str, Any]) -> None:
        assert self._fh is not None, "use the sink in a with block"
        for column in row:
            if column not in self.columns:
                self.columns[column] = None
        self._fh.write(json.dumps(row, separators=(",", ":"), default=str, ensure_ascii=False))
        self._fh.write("\n")
        self.rows += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fh is not None:
            self._fh.close()
        if kind is not None:
            self.path.unlink(missing_ok=True)  # a try that failed leaves nothing behind


# -- the steps ------------------------------------------------------------------------------------


def plan(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    job = rt.store.get(job_id)
    if job is None:
        return
    store = BuildStore(rt.redis, rt.store.prefix)
    if job.terminal:
        _clean_up(rt, store, job)
        return
    if not rt.store.transition(job_id, ["queued", "requesting"], "requesting"):
        return  # cancelled since it was queued: ask the vendor for nothing
    builder = vendors.build(job.params["op"])
    if not store.planned(job_id):
        planned = vendor_call(rt, vendors, job, lambda: builder.plan(rt.client(job.vendor), job.params))
        if planned is FAILED:
            return
        started = store.start(job_id, planned.parts, note=planned.note, part_word=builder.part_word,
                              unit=builder.unit, now=rt.clock(), span=planned.span)
        if started < 0:
            _clean_up(rt, store, rt.store.get(job_id))
            return
    # Also reached by a redelivered plan whose first run died before sending every part: the
    # copies it sends again find their parts done, or run them (a try of their own, see above).
    _send_what_is_waited_on(rt, store, job_id)
    fresh = rt.store.get(job_id)
    if fresh is not None:
        refresh_progress(rt, vendors, fresh)


def part(rt: Runtime, vendors: Catalogue, job_id: str, key: str) -> None:
    job = rt.store.get(job_id)
    if job is None:
        return
    store = BuildStore(rt.redis, rt.store.prefix)
    if job.terminal or job.state != "requesting":
        _clean_up(rt, store, job)  # cancelled or failed: ask nothing more, keep nothing
        return
    done = store.done(job_id, key)
    if done is not None:
        _resend_after(rt, store, job_id, done)
        return
    todo = store.part(job_id, key)
    if todo is None:
        log.info("job %s: no part %r (the build ended or was rescued): nothing to do", job_id, key)
        return
    store.touch(job_id, rt.clock())
    builder = vendors.build(job.params["op"])
    name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.{secrets.token_hex(4)}.jsonl"
    path = files.parts_dir(rt.settings, job_id) / name
    with JsonlSink(path) as sink:
        fetched = vendor_call(rt, vendors, job, lambda: builder.fetch(rt.client(job.vendor), job.params, todo, sink))
    if fetched is FAILED:
        _clean_up(rt, store, rt.store.get(job_id))
        return
    # What the file holds is what counts: its rows, and every column its rows had.
    fetched = replace(fetched, rows=sink.rows, columns=tuple(first_seen([fetched.columns, sink.columns])))
    recorded = store.record(job_id, todo, name, fetched, rt.clock())
    if recorded.status != "ok":
        path.unlink(missing_ok=True)  # another try of this part won, or the build ended
        log.info("job %s: part %r not recorded (%s)", job_id, key, recorded.status)
        if recorded.status == "gone":
            _clean_up(rt, store, rt.store.get(job_id))
        return
    for p in recorded.new:
        rt.dispatch.part(job_id, p.key)
    if recorded.last:
        rt.dispatch.assemble(job_id)
    fresh = rt.store.get(job_id)
    if fresh is not None:
        refresh_progress(rt, vendors, fresh)


def _resend_after(rt: Runtime, store: BuildStore, job_id: str, done: Done) -> None:
    """A part message that finds its part recorded: its first run may have died between the
    recording and its sends. Send them again (copies collapse: parts and assembly check first)."""
    for p in store.pending_of(done.then, job_id):
        rt.dispatch.part(job_id, p.key)
    if not store.pending(job_id):
        rt.dispatch.assemble(job_id)


def _send_what_is_waited_on(rt: Runtime, store: BuildStore, job_id: str) -> int:
    """Send every pending part, or the assembly when none is left; how many parts were sent."""
    pending = store.pending(job_id)
    for p in pending:
        rt.dispatch.part(job_id, p.key)
    if not pending:
        rt.dispatch.assemble(job_id)
    return len(pending)


#: An assembly that finds another one under way leaves it to finish.
ASSEMBLE_LOCK_WAIT = 0.1


def assemble(rt: Runtime, vendors: Catalogue, job_id: str) -> None:
    job = rt.store.get(job_id)
    if job is None:
        return
    store = BuildStore(rt.redis, rt.store.prefix)
    if job.terminal or job.state != "requesting":
        _clean_up(rt, store, job)
        return
    if not store.planned(job_id) or store.pending(job_id):
        return  # a stray copy: the last part's recording sends the real one
    try:
        with lease(rt.redis, f"{rt.store.prefix}lock:assemble:{job_id}", wait=ASSEMBLE_LOCK_WAIT):
            _assemble(rt, vendors, store, job)
    except LockError:
        log.info("job %s: an assembly is under way already", job_id)


def _assemble(rt: Runtime, vendors: Catalogue, store: BuildStore, job: Job) -> None:
    builder = vendors.build(job.params["op"])
    done = store.all_done(job.id)
    folder = files.parts_dir(rt.settings, job.id)
    missing = [d.key for d in done if not (folder / d.file).exists()]
    if missing:
        log.error("job %s: the files of parts %s are not in %s; is ADOPS_FILES_DIR shared by every worker?",
                  job.id, ", ".join(missing[:5]), folder)
        fail(rt, job.id, f"the rows of {len(missing)} {builder.part_word}(s) were lost on the way; try again.")
        _clean_up(rt, store, rt.store.get(job.id))
        return
    final, rows = _write_csv(rt, builder, job, done)
    notes = first_seen([[store.note(job.id)], [d.note for d in done]])
    tally: dict[str, dict[str, int]] = {}
    for d in done:
        tally = merge_tally(tally, d.tally)
    result = {
        "file": {"path": str(final), "name": final.name, "rows": rows, "bytes": final.stat().st_size,
                 "content_type": "text/csv"},
        "rows": rows, "tally": tally, "note": " ".join(n for n in notes if n), "parts": len(done),
        "requests": sum(d.requests for d in done),
    }
    if rt.store.transition(job.id, ["requesting"], "delivered", result=result, finished_at=rt.clock(), last_error="",
                           retry_note=""):
        shutil.rmtree(folder, ignore_errors=True)
        metrics.file_built(job.vendor, result["file"]["bytes"])  # once: only one assembly moves it to delivered
        store.forget(job.id)
        rt.dispatch.publish(job.id)
        return
    fresh = rt.store.get(job.id)
    if fresh is None or fresh.state != "delivered":  # cancelled while it was written
        final.unlink(missing_ok=True)
        _clean_up(rt, store, fresh)


def _write_csv(rt: Runtime, builder: Builder, job: Job, done: list[Done]) -> tuple[Path, int]:
    """Stream every recorded part's rows, in key order, into the CSV: a line in, a line out, so
    memory does not grow with the rows. Written under a temporary name and renamed, so a rerun
    (or a reader) never sees half a file."""
    folder = files.parts_dir(rt.settings, job.id)
    columns = builder.columns(first_seen(d.columns for d in done))
    out = files.job_dir(rt.settings, job.id)
    out.mkdir(parents=True, exist_ok=True)
    final = out / builder.file_name(job)
    temp = out / f".{final.name}.{secrets.token_hex(4)}.tmp"
    rows = 0
    try:
        with temp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="", extrasaction="ignore")
            writer.writeheader()
            for d in done:
                with (folder / d.file).open(encoding="utf-8") as part_rows:
                    for line in part_rows:
                        writer.writerow(json.loads(line))
                        rows += 1
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final, rows


def _clean_up(rt: Runtime, store: BuildStore, job: Job | None) -> None:
    """A build that ended without being delivered keeps no part files and no bookkeeping."""
    if job is None or not job.terminal or job.state == "delivered":
        return
    shutil.rmtree(files.parts_dir(rt.settings, job.id), ignore_errors=True)
    store.forget(job.id)


# -- the sweeper's part ---------------------------------------------------------------------------


def rescue(rt: Runtime, job: Job, now: float) -> bool:
    """A build nothing has moved for ``ADOPS_RESCUE_AFTER`` lost its messages (a broker
    restart): send again what it waits on, the plan, its pending parts or the assembly. A copy
    of a message that was only slow collapses (see the steps). Whether anything was sent."""
    if job.kind != "build" or job.state not in ("queued", "requesting"):
        return False
    store = BuildStore(rt.redis, rt.store.prefix)
    if now - max(job.created_at, job.updated_at, store.touched(job.id)) < rt.settings.adops_rescue_after:
        return False
    store.touch(job.id, now)  # what is sent now gets a whole rescue interval to run
    if job.state == "queued" or not store.planned(job.id):
        log.warning("job %s: its build was never planned: planning it again", job.id)
        rt.dispatch.start("build", job.id)
        return True
    sent = _send_what_is_waited_on(rt, store, job.id)
    log.warning("job %s: no part of its build moved for %.0f s: sent %s again", job.id,
                now - job.updated_at, f"{sent} part(s)" if sent else "the assembly")
    return True


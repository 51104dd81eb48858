"""Where the files the bot builds live, and how one is made ready to hand over.

A job's file is ``<ADOPS_FILES_DIR>/<job id>/<name>``: the job id is the directory, so the
sweep (:mod:`workers.filesweep`) deletes a job's files by deleting one directory, and a signed
link (:mod:`workers.links`) names a file by job id and name alone, never by a path a request
could bend. Directories that do not look like a job id (``parts/``, the build engine's
scratch space, or anything else sharing the directory) are never served or swept.

A file over ``ADOPS_FILES_GZIP_OVER`` bytes is gzipped once, streamed from disk to disk, before
it is uploaded or linked; the ``.gz`` replaces the original so the disk holds one copy.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from workers.settings import Settings

__all__ = ["CHUNK", "Ready", "content_type", "job_dir", "locate", "looks_like_job", "parts_dir", "parts_root", "ready"]

#: Bytes read at a time when a file is copied, gzipped, uploaded or served: memory stays flat.
CHUNK = 1 << 16
#: What a job id looks like (``workers.jobs.new_job_id``): only such directories are ours to
#: serve and sweep.
_JOB_ID = re.compile(r"^J[0-9A-HJKMNP-TV-Z]{8}$")
#: A file name a link may name: one path segment, no leading dot.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+,=@-]{0,199}$")


def looks_like_job(name: str) -> bool:
    return bool(_JOB_ID.match(name))


def job_dir(settings: Settings, job_id: str) -> Path:
    if not looks_like_job(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    return settings.adops_files_dir / job_id


def parts_root(settings: Settings) -> Path:
    """Where the build engine keeps its part files, a folder per job (never served)."""
    return settings.adops_files_dir / "parts"


def parts_dir(settings: Settings, job_id: str) -> Path:
    return parts_root(settings) / job_id


def content_type(name: str) -> str:
    """What a file is, from its name: a CSV, a PNG chart, or gzip when it was packed."""
    if name.endswith(".gz"):
        return "application/gzip"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def locate(settings: Settings, job_id: str, name: str) -> Path | None:
    """The path of job ``job_id``'s file ``name``, or None when the pair can't name one of ours
    (a segment that is not a plain file name, a directory that is not a job's)."""
    if not looks_like_job(job_id) or not _NAME.match(name) or ".." in name:
        return None
    return job_dir(settings, job_id) / name


@dataclass(frozen=True)
class Ready:
    """A file as it is handed over: where, under which name, its size, and whether gzipped."""

    path: Path
    name: str
    size: int
    gzipped: bool


def ready(settings: Settings, path: Path) -> Ready | None:
    """The file at ``path`` ready to hand over: gzipped when it is over the threshold (once: a
    rerun finds the ``.gz`` made before), None when neither it nor its ``.gz`` is there."""
    packed = path.with_name(path.name + ".gz")
    if packed.exists():
        path.unlink(missing_ok=True)  # an earlier try gzipped it and died before removing this
        return Ready(packed, packed.name, packed.stat().st_size, True)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size <= settings.adops_files_gzip_over:
        return Ready(path, path.name, size, False)
    partial = path.with_name(path.name + ".gz.part")
    with path.open("rb") as src, partial.open("wb") as raw, gzip.GzipFile(
        filename=path.name, mode="wb", fileobj=raw, compresslevel=6
    ) as out:
        shutil.copyfileobj(src, out, CHUNK)
    # Renamed only once complete: a try killed halfway leaves a .part, never a short .gz.
    os.replace(partial, packed)
    path.unlink(missing_ok=True)
    return Ready(packed, packed.name, packed.stat().st_size, True)

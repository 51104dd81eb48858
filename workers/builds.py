"""Files the bot builds itself, from many vendor requests: what a vendor declares.

Some vendors cannot hand over a whole export in one answer (a raw stream capped at so many days
and rows a request, answering nothing at all past the cap). Such an export is a *build*: a
job of kind ``"build"`` whose work is cut into :class:`Part` s, each fetched by its own queue
message, in parallel, and assembled into one CSV at the end.

A vendor declares a :class:`Builder` in its folder and lists it in its ``VendorSpec.builds``;
a job names its builder by ``params["op"]``. The engine (``workers.buildsteps``) owns the
order, the bookkeeping in Redis and the files; the builder owns what a part means:

- :meth:`Builder.plan` cuts the request into first parts (no vendor call needed, may refuse);
- :meth:`Builder.fetch` does one part: it may write that part's rows to the sink it is given
  and/or hand back follow-up parts (a window over the cap is replaced by smaller ones; a
  search walking forward hands back the rest of its range);
- :meth:`Builder.columns` orders the CSV's columns from those every part saw;
- :meth:`Builder.render` draws the finished job's result message from ``job.result``.

A part's rows go to a file of their own, and only a part recorded as done counts, so a worker
killed mid-part leaves nothing in the output: the part runs again from scratch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workers.jobs import Job
from workers.render import Rendered

__all__ = ["Builder", "Fetched", "Part", "Plan", "RowSink", "merge_tally"]


@dataclass(frozen=True)
class Part:
    """One request's worth of a build.

    ``key`` is unique within the build and sorts in output order (a time window's start,
    ``"20261101T000000"``); follow-up parts get keys of their own. ``params`` is JSON: all that
    :meth:`Builder.fetch` needs besides the job's params.
    """

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The first parts of a build, and a line for the result about what was cut (or "")."""

    parts: tuple[Part, ...]
    note: str = ""
    #: How much there is to cover, in the builder's own measure (seconds of a time range, say),
    #: when parts cannot say "7 of 12" because they hand back follow-ups; 0: not measured.
    span: int = 0


@dataclass(frozen=True)
class Fetched:
    """What one part gave.

    ``rows`` rows were written to the sink (0 when none, or when the answer was withheld);
    ``then`` are parts still to do because of this one (smaller windows, the rest of a range).
    ``columns`` are the flattened column names the rows had, in first-seen order; ``tally``
    counts rows by a few dimensions for the result's breakdown (``{"offer": {"Acme (882)": 10}}``);
    ``requests`` is the vendor requests this part spent; ``note`` a line worth showing in the
    result (an empty answer taken as quiet, say); ``covered`` how much of :attr:`Plan.span` this
    part finished (0 when it only handed its work on).
    """

    rows: int = 0
    then: tuple[Part, ...] = ()
    columns: tuple[str, ...] = ()
    tally: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: int = 1
    note: str = ""
    covered: int = 0


class RowSink(Protocol):
    def write(self, row: Mapping[str, Any]) -> None:
        """Keep one flat row (column -> value) for the output file."""


class Builder(Protocol):
    #: The build's op, unique across vendors: ``job.params["op"]``.
    op: str
    #: What a row is, plural, for progress and results ("impressions").
    unit: str
    #: What a part is, for progress ("window").
    part_word: str

    def plan(self, client: Any, params: dict[str, Any]) -> Plan:
        """The first parts; :class:`~workers.errors.Refused` when nothing can be asked."""

    def fetch(self, client: Any, params: dict[str, Any], part: Part, sink: RowSink) -> Fetched:
        """Do one part: rows to ``sink``, follow-up parts in ``then``. Vendor errors raise as
        everywhere (transient ones are retried: the part runs again with a fresh sink)."""

    def columns(self, seen: Sequence[str]) -> list[str]:
        """The output's column order, from every column the parts saw (pure, stable)."""

    def file_name(self, job: Job) -> str:
        """The output file's name, without a directory ("<vendor>-impressions-….csv")."""

    def render(self, job: Job) -> Rendered:
        """The result message of a delivered build, from ``job.result`` (pure)."""


def merge_tally(into: dict[str, dict[str, int]], more: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Add ``more``'s counts to ``into`` (pure: returns a new mapping)."""
    out = {dim: dict(counts) for dim, counts in into.items()}
    for dim, counts in more.items():
        bucket = out.setdefault(dim, {})
        for name, n in counts.items():
            bucket[name] = bucket.get(name, 0) + int(n)
    return out


def top(counts: Mapping[str, int], n: int = 5) -> list[tuple[str, int]]:
    """The ``n`` largest counts, ties by name (pure)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def first_seen(columns: Iterable[Iterable[str]]) -> list[str]:
    """Every column once, in the order first seen across parts (pure)."""
    seen: dict[str, None] = {}
    for cols in columns:
        for c in cols:
            seen.setdefault(c, None)
    return list(seen)

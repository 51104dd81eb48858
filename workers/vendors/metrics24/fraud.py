"""``/adops fraud``: 24Metrics rejections by reason and by publisher, from the report tables.

The tables are read newest first through cursor pages of at most 100 rows, within a row budget
per table, so a busy integration costs a bounded number of calls. When the budget cuts the walk
the summary says so, how much it saw, and which export gives everything.

A slow or failing vendor still gets there, and memory stays flat:

- Each page is folded into a small summary (counts by reason and by publisher) and dropped; the
  rows are never kept. The counters are bounded too: past ``PUBLISHER_SLOTS`` publishers (or
  ``REASON_SLOTS`` reasons) the least-rejected half is folded into totals, and the message says
  the per-publisher table is then approximate. So the state is a few kilobytes at most, however
  many pages the walk reads.
- After every page, the summary and the next cursor are stored under the job in Redis, by
  compare-and-set (two deliveries of the same step cannot count a page twice). A retry of the
  step (the vendor kept failing past the in-place page retries, a worker died) resumes after the
  last stored page: only the page that was in flight is read again.
- A step gives up its thread after ``WALK_SLICE`` seconds, well inside the actor's time limit,
  and asks to be run again (a transient error with a 1 s delay), so a slow vendor is read in
  several slices instead of being cut off mid-call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any, Literal

import redis

from workers.errors import VendorTransient
from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, code_block, ellipsize, fallback, join, md, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import NAME, client
from workers.vendors.metrics24.api import PAGE_SIZE_MAX, VENDOR
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.rows import is_rejected, publisher_of, rejection_reason

__all__ = ["ROW_BUDGET", "WalkStore", "fold", "fraud_message", "fresh", "names_of", "summarize", "summary", "walk",
           "walk_range"]

#: Rows read per table: 100 pages of 100. Enough for a clear picture; the export has the rest.
ROW_BUDGET = 10_000
#: A walk that takes more pages than this (a vendor sending tiny pages) stops as partial.
MAX_WALK_PAGES = 2 * ROW_BUDGET // PAGE_SIZE_MAX
TOP = 8
#: Publishers and reasons counted one by one; past twice this many, the least rejected half is
#: folded into the totals (the 24Metrics reason categories are a handful, publishers can be many).
PUBLISHER_SLOTS = 200
REASON_SLOTS = 32
#: Ids, names and reasons are the vendor's text; kept this short in the state.
TEXT_CAP = 80
#: Seconds a step walks before it hands its thread back (the actor's time limit is 90 s).
WALK_SLICE = 60.0
#: The walk's state outlives the task's deadline (15 min) and its retries, then goes.
STATE_TTL = 6 * 3600

Table = Literal["click", "conversion"]
TABLES: tuple[tuple[Table, str], ...] = (("click", "clicks"), ("conversion", "conversions"))

# -- the summary, page by page (pure) -------------------------------------------------------------


def fresh() -> dict[str, Any]:
    """The state of a walk that has read nothing yet."""
    return {
        "cursor": None, "pages": 0, "rows": 0, "rejected": 0, "total": None, "done": False, "complete": False,
        # reason -> rejected rows; publisher id -> [rows seen, rows rejected, name or None]
        "reasons": {}, "other_reasons": 0, "publishers": {},
        "folded": {"publishers": 0, "seen": 0, "rejected": 0},
    }


def _prune(state: dict[str, Any]) -> None:
    """Keep the counters bounded: fold the least-rejected half into the totals."""
    reasons: dict[str, int] = state["reasons"]
    if len(reasons) > 2 * REASON_SLOTS:
        ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        state["reasons"] = dict(ranked[:REASON_SLOTS])
        state["other_reasons"] += sum(count for _, count in ranked[REASON_SLOTS:])
    publishers: dict[str, list[Any]] = state["publishers"]
    if len(publishers) > 2 * PUBLISHER_SLOTS:
        ranked_pubs = sorted(publishers.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
        state["publishers"] = dict(ranked_pubs[:PUBLISHER_SLOTS])
        folded = state["folded"]
        for _, (seen, rejected, _name) in ranked_pubs[PUBLISHER_SLOTS:]:
            folded["publishers"] += 1
            folded["seen"] += seen
            folded["rejected"] += rejected


def fold(
    state: Mapping[str, Any], items: Iterable[Mapping[str, Any]], *, next_cursor: str | None, total: int | None,
    budget: int = ROW_BUDGET,
) -> dict[str, Any]:
    """``state`` after one more page: its rows counted (up to the budget), its cursor kept."""
    new: dict[str, Any] = json.loads(json.dumps(state))  # a deep copy; the stored state stays as it was
    cut = False
    for row in items:
        if new["rows"] >= budget:
            cut = True
            break
        new["rows"] += 1
        publisher, name = publisher_of(row)
        entry = new["publishers"].setdefault(ellipsize(publisher or "unknown", TEXT_CAP), [0, 0, None])
        entry[0] += 1
        if name:
            entry[2] = ellipsize(name, TEXT_CAP)
        if is_rejected(row):
            new["rejected"] += 1
            entry[1] += 1
            reason = ellipsize(rejection_reason(row) or "Unknown", TEXT_CAP)
            new["reasons"][reason] = new["reasons"].get(reason, 0) + 1
        _prune(new)
    new["pages"] += 1
    new["total"] = total if total is not None else new["total"]
    new["cursor"] = next_cursor
    new["complete"] = next_cursor is None and not cut
    new["done"] = next_cursor is None or new["rows"] >= budget or new["pages"] >= MAX_WALK_PAGES
    return new


def names_of(*states: Mapping[str, Any]) -> dict[str, str]:
    """Publisher names the walks saw, by id. Click rows carry none, conversion rows do: the
    click table is labelled with the names the conversions gave."""
    return {pid: entry[2] for state in states for pid, entry in state["publishers"].items() if entry[2]}


def summary(state: Mapping[str, Any], names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the message shows of one table: the top reasons and publishers, and how complete;
    ``names`` labels publishers whose own rows carried no name."""
    names = names or {}
    reasons = sorted(state["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))
    rejecting = sorted(
        ((pid, entry) for pid, entry in state["publishers"].items() if entry[1]), key=lambda x: (-x[1][1], x[0])
    )
    return {
        "rows": state["rows"],
        "rejected": state["rejected"],
        "reasons": [[reason, count] for reason, count in reasons[:TOP]],
        "other_reasons": state["other_reasons"] + sum(count for _, count in reasons[TOP:]),
        "publishers": [
            {"id": pid, "name": name or names.get(pid), "rejected": rejected, "seen": seen}
            for pid, (seen, rejected, name) in rejecting[:TOP]
        ],
        "publisher_count": len(rejecting),
        "approximate": state["folded"]["publishers"] > 0,
        "complete": state["complete"],
        "pages": state["pages"],
        "total": state["total"],
    }


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by rejection reason and by publisher of rows already in hand (pure)."""
    return summary(fold(fresh(), rows, next_cursor=None, total=None, budget=10**12))


# -- the walk, resumable --------------------------------------------------------------------------

# Write ARGV[3] to field ARGV[1] only if it still holds ARGV[2] ('' for nothing yet).
_COMPARE_AND_SET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current == false and ARGV[2] == '') or current == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""


class WalkStore:
    """The walks of one job: a Redis hash with one JSON state per table."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.redis = client
        self.key = key
        self._cas = client.register_script(_COMPARE_AND_SET)

    def load(self, table: str) -> tuple[str, dict[str, Any]]:
        """(the stored text, or '' for none; the state it holds)."""
        raw = self.redis.hget(self.key, table)
        if raw is None:
            return "", fresh()
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return text, json.loads(text)

    def save(self, table: str, expected: str, state: Mapping[str, Any]) -> str | None:
        """Store ``state`` if the stored text is still ``expected``; its text, or None if not."""
        text = json.dumps(state, separators=(",", ":"), sort_keys=True)
        return text if self._cas(keys=[self.key], args=[table, expected, text, STATE_TTL]) else None


def walk(
    api: Metrics24Client, store: WalkStore, table: Table, params: dict[str, Any], *, deadline: float,
    clock: Callable[[], float] = time.monotonic, budget: int = ROW_BUDGET,
) -> dict[str, Any]:
    """Read ``table`` from where its stored state stopped to its end or the budget; the state."""
    raw, state = store.load(table)
    while not state["done"]:
        if clock() >= deadline:
            raise VendorTransient(
                VENDOR, f"{VENDOR} is slow: {state['pages']} pages of the {table} report read so far; reading on.",
                retry_after=1,
            )
        size = min(PAGE_SIZE_MAX, budget - state["rows"])
        page = api.report_page(table, params, after=state["cursor"], page_size=size)
        new = fold(state, page.items, next_cursor=page.next_cursor, total=page.total, budget=budget)
        saved = store.save(table, raw, new)
        if saved is None:
            raw, state = store.load(table)  # another delivery of this step got further: go on from there
        else:
            raw, state = saved, new
    return state


def walk_range(
    api: Metrics24Client, store: WalkStore, params: dict[str, Any], *, deadline: float,
    clock: Callable[[], float] = time.monotonic, budget: int = ROW_BUDGET,
) -> dict[str, Any]:
    """Both tables' summaries of the range in ``params`` (``start_date``, ``end_date``, ``integration``)."""
    out: dict[str, Any] = {"start_date": params["start_date"], "end_date": params["end_date"]}
    states = {key: walk(api, store, table, params, deadline=deadline, clock=clock, budget=budget) for table, key in TABLES}
    names = names_of(*states.values())
    for key, state in states.items():
        out[key] = summary(state, names)
    return out


def fraud(rt: Runtime, job: Job) -> dict[str, Any]:
    params = {k: job.params[k] for k in ("start_date", "end_date", "integration")}
    store = WalkStore(rt.redis, f"{rt.store.prefix}fraud:{job.id}")
    result = walk_range(client(rt), store, params, deadline=time.monotonic() + WALK_SLICE)
    # The partial hint suggests exports the Download Center will not cut (see ``export_hint``).
    return {**result, "export_max_days": rt.settings.vendor(NAME).export_max_days}


# -- the message (pure) ---------------------------------------------------------------------------

#: Export commands the partial hint lists one by one; past this many it names the first and the count.
HINT_COMMANDS = 3
#: The Download Center's window when a result predates ``export_max_days`` being stored in it.
DEFAULT_EXPORT_DAYS = 90


def span_text(start: str, end: str) -> str:
    """A range as prose ("2026-01-01 to 2026-01-31"); ``..`` is only for commands."""
    return start if start == end else f"{start} to {end}"


def _range_arg(start: date, end: date) -> str:
    return start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"


def export_parts(start: str, end: str, max_days: int) -> list[str]:
    """The range as command arguments of at most ``max_days`` days each, oldest first."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:  # not a range we wrote: shown as it is rather than split
        return [start if start == end else f"{start}..{end}"]
    step = timedelta(days=max(1, max_days))
    parts = []
    while first <= last:
        upto = min(last, first + step - timedelta(days=1))
        parts.append(_range_arg(first, upto))
        first = upto + timedelta(days=1)
    return parts


def export_hint(kind: str, start: str, end: str, max_days: int) -> Mrkdwn:
    """Which export has every row, said so that no command suggested would itself be cut."""
    parts = export_parts(start, end, max_days)
    commands = [code(f"/adops export 24metrics {kind} {part}") for part in parts]
    if len(commands) == 1:
        return md("For all of them: {}", commands[0])
    window = md("the Download Center exports at most {:,} days at a time", max_days)
    if len(commands) <= HINT_COMMANDS:
        return md("For all of them ({}): {}", window, join(", then ", commands))
    return md("For all of them, {}: export the range in {:,} parts, starting with {}", window, len(commands), commands[0])


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _table(rows: list[tuple[str, str, str]], header: tuple[str, str, str]) -> Mrkdwn:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in [header, *rows]]
    return code_block("\n".join(lines))  # the vendor's reasons and names, inert in code


def publisher_label(publisher: Mapping[str, Any]) -> str:
    """"Install Rush (1190)" where the name is known, else the id."""
    name = publisher.get("name")
    return f"{name} ({publisher['id']})" if name else str(publisher["id"])


def _part(title: str, kind: str, s: dict[str, Any], start: str, end: str, max_days: int) -> Mrkdwn:
    share = _pct(s["rejected"], s["rows"])
    lines = [md("*{}*: {:,} checked, *{:,} rejected* ({})", title, s["rows"], s["rejected"], share)]
    if not s["complete"]:
        of = f" of {s['total']:,}" if s.get("total") else ""
        lines.append(md(
            ":warning: Partial: the newest {:,}{} {} (the summary reads at most {:,}). {}",
            s["rows"], of, kind, ROW_BUDGET, export_hint(kind, start, end, max_days),
        ))
    if s.get("approximate"):
        lines.append(md(
            ":information_source: More than {:,} publishers: the table counts the busiest ones, "
            "the rest are only in the totals.", 2 * PUBLISHER_SLOTS,
        ))
    if s["rejected"]:
        reasons = [(ellipsize(r, 40), f"{c:,}", _pct(c, s["rejected"])) for r, c in s["reasons"]]
        if s["other_reasons"]:
            reasons.append(("(other reasons)", f"{s['other_reasons']:,}", _pct(s["other_reasons"], s["rejected"])))
        lines.append(_table(reasons, ("Reason", "Rejected", "Share of rejected")))
        pubs = [
            (ellipsize(publisher_label(p), 40), f"{p['rejected']:,}", _pct(p["rejected"], p["seen"]))
            for p in s["publishers"]
        ]
        lines.append(_table(pubs, ("Publisher", "Rejected", "Share of theirs")))
    return Mrkdwn("\n".join(lines))


def fraud_message(result: dict[str, Any]) -> Rendered:
    start, end = result["start_date"], result["end_date"]
    span = span_text(start, end)
    max_days = int(result.get("export_max_days") or DEFAULT_EXPORT_DAYS)
    blocks: list[dict[str, Any]] = [section(md(":shield: *24Metrics fraud summary* · {}", span))]
    for title, key in (("Clicks", "clicks"), ("Conversions", "conversions")):
        blocks.append(section(_part(title, key, result[key], start, end, max_days)))
    c, v = result["clicks"], result["conversions"]
    text = fallback(
        "24Metrics fraud summary {}: {:,} clicks and {:,} conversions rejected", span, c["rejected"], v["rejected"]
    )
    return Rendered(text, blocks)


TASKS = (Task("fraud", fraud, lambda job: fraud_message(job.result), slow=True),)

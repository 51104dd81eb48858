"""1 000 digests due at the same minute: time until the last is posted, Slack's pace honoured,
and the clock's CPU per tick (issue 11).

What runs, all on loopback and each in its own process: a private ``redis-server``; the vendor
sandbox (``python -m devkit.sandbox``); the fake Slack (``LocalSlack``, keeping every
``chat.postMessage`` with its time and channel); the default worker (``python -m bot.cli worker``:
1 process of 8 threads). The clock's tick runs in the bench process itself
(``bot.clock.Clock(rt, "bench").tick()`` with ``rt.clock`` set to the due minute), so its CPU
can be read with ``time.process_time()``.

For each layout (default 100 channels x 10 digests and 20 channels x 50):

1. 1 000 digests stored with ``rt.digests.add(Digest(...))``, each running the quick Adspect
   ``account`` report (``0 9 * * *`` UTC), all with ``next_at`` = the same minute (the next
   09:00 UTC). An idle tick (``rt.clock`` 30 s before that minute: nothing due) is timed, then
   the tick at the due minute, which sends the 1 000 runs. The real moment of that tick stands
   for the due minute: the time to the last post is counted from it.
2. The bench waits for every digest's message (its context line names the digest), then checks:
   every digest posted exactly once; in each channel consecutive ``chat.postMessage`` calls at
   least ~0.95 x ``ADOPS_SLACK_CHANNEL_PACE`` apart; no 429. The floor is
   ``(most digests in one channel - 1) x pace``: Slack's pace alone allows nothing faster.

Then the tick's cost against the least it could be, same run, on a second Redis database that no
worker reads (so nothing competes for the CPU and the numbers repeat): ``--trials`` times,
alternating, (a) the tick that sends 1 000 due runs (due-set reads, digest reads, cron, the
send, the compare-and-set) and (b) the bare send of the same 1 000 ``digest_fire`` messages
through the broker (``rt.dispatch.digest``), nothing else.

Run from the repo root: ``.venv/bin/python bench/digests.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RedisServer,
    SlackProcess,
    base_env,
    group_cpu_seconds,
    pid_cpu_seconds,
    spawn,
    start_sandbox,
    stop,
    update_results,
    wait_until,
    wait_worker_ready,
)

from bot.clock import Clock  # noqa: E402
from devkit.sandbox.base import SANDBOX_TOKEN  # noqa: E402
from workers.boot import boot, load_settings  # noqa: E402
from workers.digests.cron import parse_cron  # noqa: E402
from workers.digests.store import Digest, new_digest_id  # noqa: E402
from workers.runtime import Runtime  # noqa: E402

CRON = "0 9 * * *"
TZ = "UTC"
COMMAND = "account"  # the sandbox's quick Adspect report, no params
#: Consecutive posts in one channel closer than this share of the pace count as too close
#: (the publish posts when its turn is less than 0.05 s away).
PACE_TOLERANCE = 0.95
DIGEST_IN_POST = re.compile(r"Digest `(D[0-9A-Z]{5})`")


@dataclass
class Layout:
    channels: int
    per_channel: int

    @property
    def name(self) -> str:
        return f"{self.channels} channels x {self.per_channel}"


@dataclass
class LayoutResult:
    layout: Layout
    floor: float
    last_post_s: float  # from the due tick to the last digest's post; nan if not all came
    posted: int
    posted_once: int
    posted_twice: int
    min_gap: float
    close_gaps: int  # consecutive posts in a channel closer than PACE_TOLERANCE x pace
    rate_limited: int
    other_errors: int
    not_delivered: int
    idle_tick: tuple[float, float]  # CPU ms, wall ms (median of several)
    due_tick: tuple[float, float]  # CPU ms, wall ms
    fired: int
    worker_cpu: float
    worker_warnings: int


def store_digests(rt: Runtime, layout: Layout, due: float, prefix: str) -> dict[str, str]:
    """``layout``'s digests, all due at ``due``; digest id -> channel."""
    ids: dict[str, str] = {}
    now = time.time()
    for c in range(layout.channels):
        channel = f"C{prefix}{c:03d}"
        for _ in range(layout.per_channel):
            digest_id = new_digest_id()
            while digest_id in ids or rt.digests.get(digest_id) is not None:  # 5 characters: collisions happen
                digest_id = new_digest_id()
            rt.digests.add(Digest(id=digest_id, channel_id=channel, command=COMMAND, cron=CRON, tz=TZ,
                                  created_by="UADMIN", created_at=now, next_at=due))
            ids[digest_id] = channel
    return ids


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU ms of this process, wall ms, what ``fn`` returned)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = fn()
    return (time.process_time() - cpu0) * 1000, (time.perf_counter() - wall0) * 1000, out


def idle_ticks(rt: Runtime, clock: Clock, due: float, count: int = 20) -> tuple[float, float]:
    """Median CPU and wall ms of a tick with nothing due (30 s before the due minute)."""
    rt.clock = lambda: due - 30  # type: ignore[method-assign]
    samples = [timed(clock.tick)[:2] for _ in range(count)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def run_layout(rt: Runtime, slack: SlackProcess, layout: Layout, due: float, pace: float, worker_pid: int,
               worker_log: Path, timeout: float) -> LayoutResult:
    ids = store_digests(rt, layout, due, prefix=f"{layout.channels}X")
    clock = Clock(rt, "bench")
    idle = idle_ticks(rt, clock, due)
    posts_before = len(slack.calls("chat.postMessage"))
    log_before = worker_log.stat().st_size
    cpu_before = group_cpu_seconds(worker_pid)
    rt.clock = lambda: due  # type: ignore[method-assign]
    # Count the runs the tick sends: the due set holds exactly this layout's digests.
    fired_before = rt.redis.zcount(rt.digests.due_key, "-inf", due)
    started = time.time()
    cpu_ms, wall_ms, _ = timed(clock.tick)
    fired = fired_before - rt.redis.zcount(rt.digests.due_key, "-inf", due)
    print(f"{layout.name}: tick sent {fired} runs in {wall_ms:.0f} ms ({cpu_ms:.0f} ms CPU); waiting for the posts",
          flush=True)

    def mine() -> list[Any]:
        return [c for c in slack.calls("chat.postMessage")[posts_before:] if c.params.get("channel") in channels]

    channels = set(ids.values())

    def all_posted() -> bool:
        found = {m.group(1) for c in mine() if (m := DIGEST_IN_POST.search(json.dumps(c.params)))}
        return ids.keys() <= found

    try:
        wait_until(all_posted, timeout=timeout, interval=0.25, what=f"{layout.name}: every digest posted")
    except Exception as exc:  # report what came rather than nothing
        print(f"--- {exc}", file=sys.stderr, flush=True)
    worker_cpu = group_cpu_seconds(worker_pid) - cpu_before
    calls = mine()
    ok_calls = [c for c in calls if c.ok]
    per_digest = Counter(m.group(1) for c in ok_calls if (m := DIGEST_IN_POST.search(json.dumps(c.params))))
    every = len(ids) == sum(1 for d in ids if per_digest[d] >= 1)
    last = max((c.time for c in ok_calls), default=float("nan"))
    by_channel: dict[str, list[float]] = defaultdict(list)
    for c in ok_calls:
        by_channel[c.params["channel"]].append(c.time)
    gaps = [b - a for times in by_channel.values() for a, b in zip(sorted(times), sorted(times)[1:])]
    states = []
    pipe = rt.redis.pipeline(transaction=False)
    for digest_id in ids:
        pipe.hget(rt.digests.key(digest_id), "last_state")
    states = [s.decode() if s else "" for s in pipe.execute()]
    log_tail = worker_log.read_bytes()[log_before:].decode(errors="replace").splitlines()
    warnings = [line for line in log_tail if " WARNING " in line or " ERROR " in line or "Traceback" in line]
    if warnings:
        print("--- worker warnings/errors (first 5)\n" + "\n".join(warnings[:5]), file=sys.stderr, flush=True)
    for digest_id in ids:  # out of the way of the next layout's ticks
        found = rt.digests.get(digest_id)
        if found is not None:
            rt.digests.remove(found)
    return LayoutResult(
        layout=layout,
        floor=(layout.per_channel - 1) * pace,
        last_post_s=(last - started) if every else float("nan"),
        posted=sum(1 for d in ids if per_digest[d] >= 1),
        posted_once=sum(1 for d in ids if per_digest[d] == 1),
        posted_twice=sum(1 for d in ids if per_digest[d] > 1),
        min_gap=min(gaps, default=float("nan")),
        close_gaps=sum(1 for g in gaps if g < PACE_TOLERANCE * pace),
        rate_limited=sum(1 for c in calls if c.error == "ratelimited"),
        other_errors=sum(1 for c in calls if c.error and c.error != "ratelimited"),
        not_delivered=sum(1 for s in states if s != "delivered"),
        idle_tick=idle,
        due_tick=(cpu_ms, wall_ms),
        fired=fired,
        worker_cpu=worker_cpu,
        worker_warnings=len(warnings),
    )


def tick_vs_bare(rt: Runtime, layout: Layout, trials: int, due: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """On a Redis database no worker reads: the tick that sends ``layout``'s due runs, and the
    bare broker sends of the same messages, alternating, ``trials`` times each."""
    ticks, bare = [], []
    for _ in range(trials):
        rt.redis.flushdb()
        ids = store_digests(rt, layout, due, prefix="T")
        rt.clock = lambda: due  # type: ignore[method-assign]
        clock = Clock(rt, "bench")
        clock.leads()  # the lease taken outside the timing, as on a clock that already leads
        cpu_ms, wall_ms, _ = timed(clock.tick)
        sent = rt.redis.llen("dramatiq:adops")
        assert sent == len(ids), f"the tick sent {sent} of {len(ids)}"
        ticks.append((cpu_ms, wall_ms))
        rt.redis.flushdb()

        def send_all() -> None:
            for digest_id in ids:
                rt.dispatch.digest(digest_id, due, skipped=0, since=0.0)

        cpu_ms, wall_ms, _ = timed(send_all)
        assert rt.redis.llen("dramatiq:adops") == len(ids)
        bare.append((cpu_ms, wall_ms))
    rt.redis.flushdb()
    return ticks, bare


def fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", default="100x10,20x50", help="CHANNELSxPER_CHANNEL,... (default 100x10,20x50)")
    parser.add_argument("--trials", type=int, default=5, help="tick / bare-send pairs for the CPU comparison")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the worker and the bench's runtime; repeatable")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    layouts = [Layout(*(int(n) for n in item.split("x"))) for item in args.layouts.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-digests-") as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir)
        slack = SlackProcess(keep=("chat.postMessage",))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            sandbox, sandbox_url = start_sandbox(3.0, workdir / "sandbox.log")
            procs.append(sandbox)
            extra = dict(item.split("=", 1) for item in args.env)
            env = base_env(redis_server.url(1), slack.api_url, sandbox_url + "/instal",
                           ADSPECT_API_KEY=SANDBOX_TOKEN, ADSPECT_BASE_URL=sandbox_url + "/adspect", **extra)
            worker_log = workdir / "worker.log"
            worker = spawn(["-m", "bot.cli", "worker"], env, worker_log)  # the default: 1 process x 8 threads
            procs.append(worker)
            wait_worker_ready(worker, worker_log)
            os.environ.update(env)  # the bench's runtime reads the same settings as the worker
            # Boot the offline runtime first: ``boot`` makes its broker Dramatiq's global one, and
            # the live runtime, booted last, is the one the clock's tick uses.
            offline = boot(load_settings({**env, "REDIS_URL": redis_server.url(2)}))
            rt = boot(load_settings(env))
            pace = rt.settings.adops_slack_channel_pace
            due = parse_cron(CRON).next_after(time.time(), ZoneInfo(TZ))
            results = []
            for layout in layouts:
                results.append(run_layout(rt, slack, layout, due, pace, worker.pid, worker_log,
                                          timeout=(layout.per_channel - 1) * pace * 2 + 60))
            redis_cpu = pid_cpu_seconds(redis_server.proc.pid)
            total = layouts[0].channels * layouts[0].per_channel
            print(f"tick vs bare send, {args.trials} trials each...", flush=True)
            ticks, bare = tick_vs_bare(offline, layouts[0], args.trials, due)
            slack_counts = slack.counts()
        finally:
            for proc in reversed(procs):
                stop(proc)
            slack.stop()
            redis_server.stop()

    rows = [
        "| layout | floor s | **last digest posted, from the due minute** | ratio to floor | posted (once / twice) | "
        "closest posts in a channel s | posts < 0.95 s apart | 429s | other Slack errors | runs not `delivered` | worker CPU s |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        n = r.layout.channels * r.layout.per_channel
        ratio = r.last_post_s / r.floor if r.floor else float("nan")
        rows.append(f"| {r.layout.name} | {fmt(r.floor)} | **{fmt(r.last_post_s)} s** | {fmt(ratio, 2)} | "
                    f"{r.posted} of {n} ({r.posted_once} / {r.posted_twice}) | {fmt(r.min_gap, 3)} | {r.close_gaps} | "
                    f"{r.rate_limited} | {r.other_errors} | {r.not_delivered} | {fmt(r.worker_cpu)} |")
    tick_rows = [
        "| tick | runs sent | CPU ms | wall ms | CPU µs per run |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        tick_rows.append(f"| idle (nothing due), {r.layout.name} run, median of 20 | 0 | {r.idle_tick[0]:.2f} | "
                         f"{r.idle_tick[1]:.2f} | — |")
        tick_rows.append(f"| due minute, {r.layout.name} run (worker busy beside it) | {r.fired} | {r.due_tick[0]:.0f} | "
                         f"{r.due_tick[1]:.0f} | {r.due_tick[0] * 1000 / max(r.fired, 1):.0f} |")
    tmed = (statistics.median(t[0] for t in ticks), statistics.median(t[1] for t in ticks))
    bmed = (statistics.median(b[0] for b in bare), statistics.median(b[1] for b in bare))
    tick_rows += [
        f"| due minute, no worker running, median of {len(ticks)} (all: {', '.join(f'{t[0]:.0f}' for t in ticks)} ms CPU) | "
        f"{total} | {tmed[0]:.0f} | {tmed[1]:.0f} | {tmed[0] * 1000 / total:.0f} |",
        f"| **baseline**: the bare broker send of the same {total} `digest_fire`, median of {len(bare)} "
        f"(all: {', '.join(f'{b[0]:.0f}' for b in bare)} ms CPU) | {total} | {bmed[0]:.0f} | {bmed[1]:.0f} | "
        f"{bmed[0] * 1000 / total:.0f} |",
        f"| tick ÷ bare send | | {tmed[0] / bmed[0]:.2f}× | {tmed[1] / bmed[1]:.2f}× | |",
    ]
    all_ok = all(r.posted_once == r.layout.channels * r.layout.per_channel and not r.posted_twice
                 and not r.close_gaps and not r.rate_limited for r in results)
    ratios = ", ".join(f"{r.layout.name}: {fmt(r.last_post_s / r.floor if r.floor else float('nan'), 2)}× the floor"
                       for r in results)
    report = "\n".join([
        f"Setup: digests running `{COMMAND}` (the sandbox's quick Adspect report), `{CRON}` {TZ}, all due at the same "
        f"minute; the default worker `python -m bot.cli worker` (1 process x 8 threads); the clock's real tick "
        "(`Clock(rt, \"bench\").tick()`, `rt.clock` set to the due minute) in the bench process; private redis-server, "
        "vendor sandbox and fake Slack each in their own process, all on 127.0.0.1. "
        f"`ADOPS_SLACK_CHANNEL_PACE` {pace:g} s; the floor is (most digests in one channel - 1) x pace. Times of posts "
        "are the fake Slack's, counted from the moment the bench ran the due tick."
        + (f" Extra environment: `{' '.join(args.env)}`." if args.env else ""),
        "",
        "### 1 000 digests due at one minute",
        "",
        *rows,
        "",
        f"Slack calls in the whole run: {', '.join(f'{k} {v}' for k, v in sorted(slack_counts.items()))}; "
        f"redis-server CPU {redis_cpu:.1f} s; worker log lines at WARNING or above: "
        f"{', '.join(str(r.worker_warnings) for r in results)}. The fake Slack answers 429 only when told to, so "
        "the pace is checked on the posts' times; the 429 column says no retry-later path was taken.",
        "",
        "### the clock's CPU per tick (bench process, `time.process_time()`)",
        "",
        *tick_rows,
        "",
        "The rows without a worker run on a second Redis database nobody consumes, alternating tick and bare send; "
        "the leader lease is taken before each timed tick there (as on a clock that already leads), and it is inside "
        "the idle ticks.",
        "",
        f"Verdict: {ratios}; every digest posted exactly once, at Slack's pace in every channel, no 429: "
        f"{'holds' if all_ok else 'DOES NOT HOLD'}. The tick that sends {total} runs costs {tmed[0]:.0f} ms of CPU, "
        f"{tmed[0] / bmed[0]:.1f}× the bare send of the same messages ({bmed[0]:.0f} ms); an idle tick "
        f"{statistics.median(r.idle_tick[0] for r in results):.2f} ms.",
    ])
    print("\n" + report)
    if not args.no_write:
        update_results("digests", "1 000 digests due at one minute (`bench/digests.py`)", report)


if __name__ == "__main__":
    main()

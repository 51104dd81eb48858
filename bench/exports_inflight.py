"""1 000 exports in flight with a 30 s vendor, on one worker process of 8 threads.

Budgets: all delivered within 45 s by one worker process of 8 threads; vendor polls
for an export that takes 10 minutes ≤ 12.

What runs, all on loopback and each in its own process: a private ``redis-server``; the vendor
sandbox (``python -m devkit.sandbox --ready-after 30``); the fake Slack (``LocalSlack``,
counting every call); the web server (``python -m bot.cli web --workers 2 --threads 8``) and one
worker (``python -m bot.cli worker --threads 8 --processes 1``).

1. **adops**: 1 000 ``/adops export instal yesterday`` commands go through the real ingress
   (signed POSTs, 16 connections, as fast as the web server takes them; one user id each so the
   double-submit guard stays out of it). The clock starts at the first POST. An export counts
   when its job hash ``adops:job:<id>`` says ``state=delivered`` and ``outcome_posted=1``.
2. **baseline**: ``bench/sleepy_worker.py`` (create, then ``sleep(5); check`` in the actor,
   holding the thread) with the same 8 threads, 1 000 jobs written straight to the job store and
   enqueued; stopped after 60 s, then extrapolated.
3. **polls for a 10-minute export**: ``workers.schedule.poll_times(600)``, computed, not waited for.

Run from the repo root: ``.venv/bin/python bench/exports_inflight.py``.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import redis  # noqa: E402
from common import (  # noqa: E402
    RedisServer,
    SlackProcess,
    base_env,
    command_body,
    free_port,
    group_cpu_seconds,
    kill,
    percentile,
    pid_cpu_seconds,
    signed_headers,
    spawn,
    start_sandbox,
    stop,
    update_results,
    wait_healthy,
    wait_worker_ready,
)

from workers.schedule import poll_delay, poll_times  # noqa: E402

TEXT = "export instal yesterday"
JOB_ID = re.compile(rb"J[0-9A-Z]{8}")
DELIVERY_BUDGET_S = 45.0
POLL_BUDGET = 12
CHANNELS = [f"CBENCH{i:02d}" for i in range(10)]


# -- processes ---------------------------------------------------------------------------------------


# -- the adops run -------------------------------------------------------------------------------------


def create_via_ingress(
    port: int, count: int, senders: int
) -> tuple[list[str], float, float, Counter[str], dict[str, float]]:
    """POST ``count`` signed commands; return job ids, first-send and last-ack times (monotonic),
    the outcomes that were not a queued job, and when each job's ack arrived."""
    bodies = []
    ts = int(time.time())
    for i in range(count):
        body = command_body(TEXT, user=f"U{i:08d}", channel=CHANNELS[i % len(CHANNELS)])
        bodies.append((body.encode(), signed_headers(body, ts)))
    ids: list[str | None] = [None] * count
    acked: dict[str, float] = {}
    problems: Counter[str] = Counter()
    next_index = iter(range(count))
    lock = threading.Lock()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            body, headers = bodies[i]
            try:
                conn.request("POST", "/slack/events", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    problems[type(exc).__name__] += 1
                continue
            match = JOB_ID.search(data) if response.status == 200 and b"Queued as job" in data else None
            if match:
                ids[i] = match.group(0).decode()
                acked[ids[i]] = time.monotonic()
            else:
                with lock:
                    problems[f"http {response.status}: {data[:80]!r}"] += 1
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [i for i in ids if i], started, max(acked.values(), default=time.monotonic()), problems, acked


@dataclass
class Progress:
    finished: dict[str, float] = field(default_factory=dict)  # job id -> monotonic time seen delivered+posted
    failed: dict[str, str] = field(default_factory=dict)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds from start, done so far)
    #: job id -> milestone -> monotonic time first seen: "waiting" (export created, first poll
    #: scheduled), "poll1".. (polls counted), "delivered", "posted".
    seen: dict[str, dict[str, float]] = field(default_factory=dict)


def watch(client: redis.Redis, ids: list[str], started: float, timeout: float, interval: float = 0.25) -> Progress:
    """Poll every job hash until each is delivered with its outcome posted (or ended otherwise),
    noting when each milestone of each job was first seen."""
    progress = Progress()
    pending = list(ids)
    deadline = started + timeout
    while pending and time.monotonic() < deadline:
        pipe = client.pipeline(transaction=False)
        for job_id in pending:
            pipe.hmget(f"adops:job:{job_id}", "state", "outcome_posted", "polls")
        rows = pipe.execute()
        now = time.monotonic()
        still = []
        for job_id, (state, posted, polls) in zip(pending, rows):
            seen = progress.seen.setdefault(job_id, {})
            if state in (b"waiting", b"delivered"):
                seen.setdefault("waiting", now)
            if state == b"waiting" and polls and int(polls):
                seen.setdefault(f"poll{int(polls)}", now)
            if state == b"delivered":
                seen.setdefault("delivered", now)
            if state in (b"failed", b"cancelled"):
                progress.failed[job_id] = state.decode()
            elif state == b"delivered" and posted == b"1":
                seen.setdefault("posted", now)
                progress.finished[job_id] = now
            else:
                still.append(job_id)
        pending = still
        progress.timeline.append((now - started, len(progress.finished)))
        if pending:
            time.sleep(interval)
    return progress


def where_the_time_goes(progress: Progress, acked: dict[str, float]) -> list[str]:
    """Mean and p99, over the exports that went the usual way, of each hop of the chain, next
    to what the schedule asks for; the rest is queueing (and the bench's 0.25 s sampling)."""
    chains = []
    for job_id, seen in progress.seen.items():
        polls = sorted(int(k[4:]) for k in seen if k.startswith("poll"))
        if job_id not in acked or "posted" not in seen or polls != list(range(1, len(polls) + 1)):
            continue
        marks = [acked[job_id], seen["waiting"], *(seen[f"poll{k}"] for k in polls), seen["delivered"], seen["posted"]]
        chains.append((len(polls), [b - a for a, b in zip(marks, marks[1:])]))
    if not chains:
        return []
    usual = Counter(n for n, _ in chains).most_common(1)[0][0]
    hops = [h for n, h in chains if n == usual]
    names = ["ack → export created (request step)"]
    nominal = [0.0]
    for k in range(usual + 1):
        names.append(f"poll {k + 1} {'→ delivered' if k == usual else 'done'}")
        nominal.append(poll_delay(k))
    names.append("delivered → outcome posted (publish step)")
    nominal.append(0.0)
    rows = [f"| hop ({len(hops)} exports polled {usual + 1} times) | scheduled s | mean s | p99 s | mean late s |", "|---|---:|---:|---:|---:|"]
    for i, name in enumerate(names):
        values = sorted(h[i] for h in hops)
        mean = sum(values) / len(values)
        rows.append(f"| {name} | {nominal[i]:.1f} | {mean:.1f} | {percentile(values, 99):.1f} | {mean - nominal[i]:.1f} |")
    total = sorted(sum(h) for h in hops)
    rows.append(f"| **ack → posted** | {sum(nominal):.1f} | {sum(total) / len(total):.1f} | {percentile(total, 99):.1f} | "
                f"{sum(total) / len(total) - sum(nominal):.1f} |")
    return rows


def job_fields(client: redis.Redis, ids: list[str], *names: str) -> list[list[str | None]]:
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"adops:job:{job_id}", *names)
    return [[v.decode() if v is not None else None for v in row] for row in pipe.execute()]


def done_at(timeline: list[tuple[float, int]], seconds: float) -> int:
    return max((n for t, n in timeline if t <= seconds), default=0)


# -- the sleeping baseline -----------------------------------------------------------------------------


def create_direct(redis_url: str, count: int) -> tuple[list[str], float, float]:
    """Job records as the ingress writes them, and one ``sleepy_export`` message each."""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    from workers.jobs import Job, JobStore, new_job_id

    client = redis.Redis.from_url(redis_url)
    store = JobStore(client)
    broker = RedisBroker(client=client)
    broker.declare_queue("bench_sleepy")
    started = time.monotonic()
    ids = []
    for i in range(count):
        now = time.time()
        job, _ = store.create(Job(
            id=new_job_id(), kind="export", vendor="instal", command=TEXT, summary="Instal export yesterday, daily",
            params={"start_date": "2026-11-20", "stop_date": "2026-11-20", "interval": "daily", "csv_headers": True,
                    "format": "csv"},
            user_id=f"U{i:08d}", channel_id=CHANNELS[i % len(CHANNELS)], created_at=now, deadline=now + 3600,
        ))
        broker.enqueue(dramatiq.Message(queue_name="bench_sleepy", actor_name="sleepy_export", args=(job.id,),
                                        kwargs={}, options={}))
        ids.append(job.id)
    created = time.monotonic()
    broker.close()
    return ids, started, created


# -- report --------------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", type=int, default=1000)
    parser.add_argument("--ready-after", type=float, default=30.0, help="vendor time-to-ready in seconds")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (one worker process)")
    parser.add_argument("--senders", type=int, default=16, help="client connections creating the exports")
    parser.add_argument("--timeout", type=float, default=100.0, help="give the adops run this long (s)")
    parser.add_argument("--baseline-seconds", type=float, default=60.0, help="run the sleeping baseline this long")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the web and worker processes, to try a tuning knob "
                             "(e.g. dramatiq_worker_timeout=100); repeatable")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir)
        slack = SlackProcess()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            sandbox, sandbox_url = start_sandbox(args.ready_after, workdir / "sandbox.log")
            procs.append(sandbox)
            http_ = httpx.Client(timeout=10)
            extra = dict(item.split("=", 1) for item in args.env)
            env = base_env(redis_server.url(1), slack.api_url, sandbox_url + "/instal", **extra)

            # -- adops --------------------------------------------------------------------
            web_port = free_port()
            web_log, worker_log = workdir / "web.log", workdir / "worker.log"
            web = spawn(["-m", "bot.cli", "web", "--host", "127.0.0.1", "--port", str(web_port),
                         "--workers", "2", "--threads", "8"], env, web_log)
            procs.append(web)
            worker = spawn(["-m", "bot.cli", "worker", "--threads", str(args.threads), "--processes", "1"], env, worker_log)
            procs.append(worker)
            wait_healthy(f"http://127.0.0.1:{web_port}/healthz", web, web_log)
            wait_worker_ready(worker, worker_log)

            cpu_pids = {"worker": ("group", worker.pid), "web": ("group", web.pid), "redis": ("pid", redis_server.proc.pid),
                        "sandbox": ("group", sandbox.pid), "fake Slack": ("pid", slack.pid)}

            def cpu() -> dict[str, float]:
                return {k: group_cpu_seconds(v) if kind == "group" else pid_cpu_seconds(v) for k, (kind, v) in cpu_pids.items()}

            cpu0 = cpu()
            bench0 = os.times()
            rclient = redis.Redis.from_url(redis_server.url(1))
            print(f"creating {args.exports} exports through the ingress...", flush=True)
            ids, started, created, problems, acked = create_via_ingress(web_port, args.exports, args.senders)
            print(f"created {len(ids)} in {created - started:.1f} s; waiting for delivery", flush=True)
            if problems:
                print(f"--- {sum(problems.values())} commands not queued: {dict(problems)}; web log:\n"
                      f"{web_log.read_text(errors='replace')[-3000:]}", file=sys.stderr, flush=True)
            if not ids:
                raise SystemExit("no export was queued; nothing to measure")
            progress = watch(rclient, ids, started, args.timeout)
            cpu1 = cpu()
            bench1 = os.times()
            cpu0["bench (client + watcher)"] = bench0.user + bench0.system
            cpu1["bench (client + watcher)"] = bench1.user + bench1.system
            finished_all = len(progress.finished) == args.exports
            last = max(progress.finished.values(), default=float("nan"))
            total_s = last - started if finished_all else float("nan")
            since_created_s = last - created if finished_all else float("nan")
            fields = job_fields(rclient, ids, "polls", "created_at", "finished_at")
            polls = sorted(int(p or 0) for p, _, _ in fields)
            turnaround = sorted(float(f) - float(c) for _, c, f in fields if f and c and float(f) > 0)
            vendor = http_.get(sandbox_url + "/_sandbox/stats").json()
            slack_calls = slack.counts()
            worker_errors = [line for line in worker_log.read_text(errors="replace").splitlines()
                             if " ERROR " in line or "Traceback" in line or " WARNING " in line]

            hop_rows = where_the_time_goes(progress, acked)
            stop(worker)
            stop(web)
            schedule_30 = poll_times(args.ready_after)
            schedule_600 = poll_times(600)

            adops_rows = [
                "| measure | value |",
                "|---|---|",
                f"| exports created through the ingress (signed POSTs, {args.senders} connections) | {len(ids)} of {args.exports} in {created - started:.1f} s"
                + (f"; refused/failed: {dict(problems)}" if problems else "") + " |",
                f"| **all delivered and posted, from the first POST** | **{fmt(total_s)} s** (budget {DELIVERY_BUDGET_S:g} s: "
                + ("holds" if finished_all and total_s <= DELIVERY_BUDGET_S else "MISSED") + ") |",
                f"| all delivered and posted, from the last export created | {fmt(since_created_s)} s |",
                f"| delivered and posted within 35 / 40 / 45 / 60 s | {done_at(progress.timeline, 35)} / {done_at(progress.timeline, 40)} / "
                f"{done_at(progress.timeline, 45)} / {done_at(progress.timeline, 60)} |",
                f"| jobs failed or cancelled | {len(progress.failed)} |",
                f"| job turnaround (created_at → finished_at) min / p50 / p99 / max | {fmt(turnaround[0] if turnaround else math.nan)} / "
                f"{fmt(percentile(turnaround, 50))} / {fmt(percentile(turnaround, 99))} / {fmt(turnaround[-1] if turnaround else math.nan)} s |",
                f"| vendor requests: instal.create / instal.retrieve / other | {vendor.get('instal.create', 0)} / {vendor.get('instal.retrieve', 0)} / "
                f"{sum(v for k, v in vendor.items() if k not in ('instal.create', 'instal.retrieve'))} |",
                f"| polls per export min / mean / max (schedule for a {args.ready_after:g} s export: {len(schedule_30)} at "
                f"{', '.join(f'{t:.1f}' for t in schedule_30)} s) | {polls[0] if polls else 'n/a'} / "
                f"{(sum(polls) / len(polls)) if polls else float('nan'):.2f} / {polls[-1] if polls else 'n/a'} |",
                f"| Slack calls | {sum(slack_calls.values())} ({', '.join(f'{k} {v}' for k, v in sorted(slack_calls.items()))}) |",
                f"| CPU seconds during the run | {', '.join(f'{k} {cpu1[k] - cpu0[k]:.1f}' for k in cpu0)} (wall {fmt(total_s)} s, 2 cores) |",
                f"| worker log lines at WARNING or above | {len(worker_errors)} |",
            ]
            print("\n".join(adops_rows + [""] + hop_rows), flush=True)
            if worker_errors:
                print("--- worker warnings/errors (first 10)\n" + "\n".join(worker_errors[:10]), file=sys.stderr)

            # -- baseline -----------------------------------------------------------------
            baseline_rows: list[str] = []
            if not args.no_baseline:
                http_.post(sandbox_url + "/_sandbox/reset")
                slack_before = slack.counts()
                benv = {**env, "REDIS_URL": redis_server.url(2)}
                sleepy_log = workdir / "sleepy.log"
                sleepy = spawn(["-m", "dramatiq", "bench.sleepy_worker", "--processes", "1", "--threads",
                                str(args.threads), "--queues", "bench_sleepy"], benv, sleepy_log)
                procs.append(sleepy)
                wait_worker_ready(sleepy, sleepy_log)
                print(f"baseline: sleeping worker, {args.baseline_seconds:g} s...", flush=True)
                bids, bstarted, bcreated = create_direct(redis_server.url(2), args.exports)
                bclient = redis.Redis.from_url(redis_server.url(2))
                bprogress = watch(bclient, bids, bstarted, args.baseline_seconds, interval=0.5)
                kill(sleepy)
                bvendor = http_.get(sandbox_url + "/_sandbox/stats").json()
                slack_after = slack.counts()
                bfields = job_fields(bclient, bids, "bench_started_at", "finished_at", "polls")
                holds = [float(f) - float(s) for s, f, _ in bfields if s and f and float(f) > 0]
                bpolls = [int(p) for s, f, p in bfields if f and float(f) > 0 and p]
                delivered = len(bprogress.finished)
                hold = sum(holds) / len(holds) if holds else float("nan")
                waves = math.ceil(args.exports / args.threads)
                by_model = waves * hold
                baseline_rows = [
                    "| measure | value |",
                    "|---|---|",
                    f"| delivered and posted in {args.baseline_seconds:g} s | {delivered} of {args.exports} "
                    f"(jobs created and enqueued in {bcreated - bstarted:.1f} s) |",
                    f"| thread held per export (actor start → delivered), mean | {fmt(hold)} s over {len(holds)} exports |",
                    f"| polls per delivered export | {(sum(bpolls) / len(bpolls)) if bpolls else float('nan'):.1f} |",
                    f"| **extrapolated time for all {args.exports}** | **{by_model / 60:.0f} min** ({waves} waves of {args.threads} "
                    f"exports, each wave holding every thread {fmt(hold)} s) |",
                    f"| vendor requests in {args.baseline_seconds:g} s: create / retrieve | {bvendor.get('instal.create', 0)} / {bvendor.get('instal.retrieve', 0)} |",
                    f"| Slack calls in {args.baseline_seconds:g} s | {sum(slack_after.values()) - sum(slack_before.values())} |",
                ]
                print("\n".join(baseline_rows), flush=True)
            http_.close()
        finally:
            for proc in reversed(procs):
                # The sleeping baseline would make a graceful stop wait out its sleeps.
                (kill if "bench.sleepy_worker" in proc.args else stop)(proc)
            slack.stop()
            redis_server.stop()

    poll_rows = [
        "| measure | value |",
        "|---|---|",
        f"| polls for an export ready after 600 s, from `workers.schedule.poll_times(600)` | **{len(schedule_600)}** "
        f"(budget ≤ {POLL_BUDGET}: {'holds' if len(schedule_600) <= POLL_BUDGET else 'MISSED'}) |",
        f"| poll times (s after creation) | {', '.join(f'{t:.0f}' for t in schedule_600)} |",
        f"| when it is noticed | {schedule_600[-1]:.0f} s, {schedule_600[-1] - 600:.0f} s after it was ready (polls are at most "
        f"{schedule_600[-1] - schedule_600[-2]:.0f} s apart) |",
    ]

    report = "\n".join([
        f"Setup: {args.exports} exports, vendor ready {args.ready_after:g} s after create, one worker process of "
        f"{args.threads} threads (`python -m bot.cli worker --threads {args.threads} --processes 1`), web "
        "`python -m bot.cli web --workers 2 --threads 8`, private redis-server, vendor sandbox and fake Slack "
        "each in their own process, all on 127.0.0.1. \"Delivered\" = job hash `state=delivered` and "
        "`outcome_posted=1`; times are the bench's own, polled every 0.25 s."
        + (f" Extra environment: `{' '.join(args.env)}`." if args.env else ""),
        "",
        "### adops (delayed polls, threads freed between them)",
        "",
        *adops_rows,
        "",
        "Where an export's time goes (milestones as seen by the bench in the job hash, sampled every 0.25 s):",
        "",
        *hop_rows,
        "",
        f"### baseline: a worker that sleeps between polls (`bench/sleepy_worker.py`, {args.threads} threads)",
        "",
        *(baseline_rows or ["(not run: --no-baseline)"]),
        "",
        "### vendor polls for one export that takes 10 minutes",
        "",
        *poll_rows,
    ])
    print("\n" + report)
    if not args.no_write:
        update_results("exports_inflight", "Exports in flight (`bench/exports_inflight.py`)", report)


if __name__ == "__main__":
    main()

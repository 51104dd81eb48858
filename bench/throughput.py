"""End-to-end jobs per second on 1, 2 and 4 worker processes, beside Dramatiq's own no-op rate.

Each round starts N worker processes (``python -m bot.cli worker --processes 1 --threads 8``
each, as a deployment scales out), submits ``--jobs`` jobs through the real path
(``workers.submit.submit``, the call the ingress and the clock make: the job-creating Lua call
with the rate limits, then the first step's send) from a pool of threads in the bench process,
and times from the first submission until every job is delivered and its outcome posted to the
fake Slack (``devkit`` LocalSlack in its own process). The vendor answers at once: the
sandbox's Adspect ``account`` report, so what is measured is adops's own cost per job (steps,
Redis, rendering, the Slack call), not a vendor's wait. Jobs come from ``--users`` people in
``--channels`` channels, as from a team.

Beside each round, in the same run, on the same Redis and with the same number of processes:
Dramatiq's own throughput, an actor that does nothing (``bench/noop_worker.py``, on the broker
``workers.boot`` builds) sent ``--jobs`` times; messages per second from the first send until
the last is acked. Redis's own command counts (``INFO commandstats``) say how many calls a job
costs, the first place to look when the rate falls short.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dramatiq
import redis

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
from noop_worker import ACTOR as NOOP_ACTOR  # noqa: E402
from noop_worker import QUEUE as NOOP_QUEUE  # noqa: E402

from devkit.sandbox.base import SANDBOX_TOKEN  # noqa: E402
from workers.boot import boot, load_settings  # noqa: E402
from workers.digests.fire import prepare  # noqa: E402
from workers.grammar.parser import Registry  # noqa: E402
from workers.intake import Submit  # noqa: E402
from workers.runtime import Runtime  # noqa: E402
from workers.submit import submit  # noqa: E402
from workers.vendors.registry import CATALOGUE  # noqa: E402

COMMAND = "account"  # the sandbox's Adspect account report: answered at once
BUDGET = 200.0  # jobs/s with 2 worker processes (issue 12)


@dataclass
class Round:
    processes: int
    jobs: int
    submit_s: float
    total_s: float
    delivered: int
    posted: int
    not_delivered: Counter[str]
    worker_cpu: float
    redis_cpu: float
    others_cpu: tuple[float, float, float]  # the sandbox, the fake Slack, the bench (submitting)
    redis_calls: Counter[str]
    noop_s: float
    noop_cpu: float

    @property
    def rate(self) -> float:
        return self.jobs / self.total_s

    @property
    def noop_rate(self) -> float:
        return self.jobs / self.noop_s


def commandstats(client: redis.Redis) -> Counter[str]:
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in client.info("commandstats").items()})


def start_workers(argv: list[str], env: dict[str, str], count: int, workdir: Path, tag: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        log = workdir / f"{tag}-{count}-{i}.log"
        proc = spawn(argv, env, log)
        procs.append(proc)
        wait_worker_ready(proc, log)
    return procs


def submit_one(rt: Runtime, what: Submit, i: int, *, users: int, channels: int) -> str:
    """Job number ``i`` of a run, through the ingress's own submit, as user and channel ``i`` modulo."""
    job, _ = submit(rt, kind=what.kind, vendor=what.vendor, command=COMMAND, summary=what.summary,
                    params=what.params, user_id=f"UBENCH{i % users}", channel_id=f"CBENCH{i % channels}",
                    team_id="T0LOCAL", response_url="")
    assert job is not None
    return job.id


def what_to_submit(rt: Runtime) -> Submit:
    what = prepare(rt, CATALOGUE, Registry(CATALOGUE.commands), COMMAND, user_id="UBENCH0", channel_id="CBENCH0",
                   today=date.today())
    assert isinstance(what, Submit), what
    return what


def run_jobs(rt: Runtime, slack: SlackProcess, jobs: int, users: int, channels: int,
             submitters: int) -> tuple[list[str], float, float]:
    """Submit ``jobs`` jobs; (their ids, seconds to submit them all, seconds until all posted)."""
    what = what_to_submit(rt)
    before = slack.counts().get("chat.postMessage", 0)

    def one(i: int) -> str:
        return submit_one(rt, what, i, users=users, channels=channels)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(submitters) as pool:
        ids = list(pool.map(one, range(jobs)))
    submitted = time.perf_counter() - t0
    wait_until(lambda: slack.counts().get("chat.postMessage", 0) - before >= jobs, timeout=600, interval=0.02,
               what=f"{jobs} outcomes posted")
    return ids, submitted, time.perf_counter() - t0


def run_noop(client: redis.Redis, broker: dramatiq.Broker, jobs: int, submitters: int) -> float:
    """Send ``jobs`` no-op messages; seconds until the last is acked."""
    def one(_: int) -> None:
        broker.enqueue(dramatiq.Message(queue_name=NOOP_QUEUE, actor_name=NOOP_ACTOR, args=(), kwargs={}, options={}))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(submitters) as pool:
        list(pool.map(one, range(jobs)))
    wait_until(lambda: client.hlen(f"dramatiq:{NOOP_QUEUE}.msgs") == 0 and client.llen(f"dramatiq:{NOOP_QUEUE}") == 0,
               timeout=600, interval=0.02, what="every no-op message acked")
    return time.perf_counter() - t0


def outcomes(client: redis.Redis, ids: list[str]) -> tuple[int, int, Counter[str]]:
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"adops:job:{job_id}", "state", "outcome_posted")
    delivered = posted = 0
    other: Counter[str] = Counter()
    for state, flag in pipe.execute():
        if state == b"delivered":
            delivered += 1
        else:
            other[(state or b"missing").decode()] += 1
        posted += flag == b"1"
    return delivered, posted, other


def one_round(rt: Runtime, client: redis.Redis, slack: SlackProcess, env: dict[str, str], workdir: Path,
              processes: int, args: argparse.Namespace, redis_pid: int, others: list[int]) -> Round:
    threads = str(args.threads)
    noop_workers = start_workers(["-m", "dramatiq", "bench.noop_worker", "--processes", "1", "--threads", threads,
                                  "--queues", NOOP_QUEUE], env, processes, workdir, "noop")
    try:
        cpu0 = sum(group_cpu_seconds(p.pid) for p in noop_workers)
        noop_s = run_noop(client, rt.broker, args.jobs, args.submitters)
        noop_cpu = sum(group_cpu_seconds(p.pid) for p in noop_workers) - cpu0
    finally:
        for proc in noop_workers:
            stop(proc)
    workers = start_workers(["-m", "bot.cli", "worker", "--processes", "1", "--threads", threads], env, processes,
                            workdir, "worker")
    try:
        calls0, rcpu0 = commandstats(client), pid_cpu_seconds(redis_pid)
        ocpu0 = [pid_cpu_seconds(pid) for pid in others]
        cpu0 = sum(group_cpu_seconds(p.pid) for p in workers)
        ids, submit_s, total_s = run_jobs(rt, slack, args.jobs, args.users, args.channels, args.submitters)
        cpu = sum(group_cpu_seconds(p.pid) for p in workers) - cpu0
        rcpu = pid_cpu_seconds(redis_pid) - rcpu0
        sandbox_cpu, slack_cpu, bench_cpu = (pid_cpu_seconds(pid) - c0 for pid, c0 in zip(others, ocpu0, strict=True))
        calls = commandstats(client)
        calls.subtract(calls0)
        wait_until(lambda: outcomes(client, ids)[1] == len(ids), timeout=30, what="every outcome marked posted")
        delivered, posted, other = outcomes(client, ids)
    finally:
        for proc in workers:
            stop(proc)
    return Round(processes, args.jobs, submit_s, total_s, delivered, posted, other, cpu, rcpu,
                 (sandbox_cpu, slack_cpu, bench_cpu),
                 +calls, noop_s, noop_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--processes", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--threads", type=int, default=8, help="threads of each worker process")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every count; the verdict takes the median (one round varies by 15 %%)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--submitters", type=int, default=8, help="threads of the bench that submit")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the workers and the bench's runtime; repeatable")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]

    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir)
        slack = SlackProcess()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            sandbox, sandbox_url = start_sandbox(0.0, workdir / "sandbox.log")
            procs.append(sandbox)
            extra = dict(item.split("=", 1) for item in args.env)
            env = base_env(redis_server.url(1), slack.api_url, sandbox_url + "/instal",
                           ADSPECT_API_KEY=SANDBOX_TOKEN, ADSPECT_BASE_URL=sandbox_url + "/adspect",
                           **extra)
            os.environ.update(env)  # the bench's runtime reads the same settings as the workers
            rt = boot(load_settings(env))
            client = redis.Redis.from_url(env["REDIS_URL"])
            # The counts alternate round after round, so the machine's moods land on each of them.
            for n in [n for _ in range(args.rounds) for n in counts]:
                client.flushdb()
                print(f"{n} worker process(es): {args.jobs} no-op messages, then {args.jobs} jobs...", flush=True)
                r = one_round(rt, client, slack, env, workdir, n, args, redis_server.proc.pid, [sandbox.pid, slack.pid, os.getpid()])
                print(f"  {r.rate:.0f} jobs/s ({r.total_s:.2f} s), no-op {r.noop_rate:.0f} msg/s; "
                      f"Redis calls/job {sum(r.redis_calls.values()) / r.jobs:.1f}", flush=True)
                rounds.append(r)
        finally:
            for proc in reversed(procs):
                stop(proc)
            slack.stop()
            redis_server.stop()

    report = render(rounds, args)
    print(report)
    if not args.no_write:
        update_results("throughput", "Jobs per second on 1, 2 and 4 worker processes (`bench/throughput.py`)", report)


def render(rounds: list[Round], args: argparse.Namespace) -> str:
    rows = [
        "| worker processes (x threads) | **jobs/s end to end** | all posted after s | submitting took s | delivered / posted "
        "| worker CPU ms per job | Redis CPU ms per job | sandbox / fake Slack / bench (submitting) CPU ms per job | Redis calls per job | **baseline**: Dramatiq no-op msg/s | "
        "no-op worker CPU ms per msg | jobs/s ÷ no-op msg/s |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rounds:
        bad = f" ({dict(r.not_delivered)})" if r.not_delivered else ""
        rows.append(
            f"| {r.processes} (x {args.threads}) | **{r.rate:.0f}** | {r.total_s:.2f} | {r.submit_s:.2f} | "
            f"{r.delivered} / {r.posted} of {r.jobs}{bad} | {r.worker_cpu * 1000 / r.jobs:.2f} | "
            f"{r.redis_cpu * 1000 / r.jobs:.2f} | {' / '.join(f'{c * 1000 / r.jobs:.2f}' for c in r.others_cpu)} | {sum(r.redis_calls.values()) / r.jobs:.1f} | {r.noop_rate:.0f} | "
            f"{r.noop_cpu * 1000 / r.jobs:.2f} | {r.rate / r.noop_rate:.2f} |")
    top = rounds[0].redis_calls.most_common(8)
    calls = ", ".join(f"{name} {n / rounds[0].jobs:.1f}" for name, n in top)
    by_count: dict[int, list[float]] = {}
    for r in rounds:
        by_count.setdefault(r.processes, []).append(r.rate)
    medians = [f"{n} process(es) {statistics.median(v):.0f} jobs/s ({min(v):.0f}-{max(v):.0f} over {len(v)} rounds)"
               for n, v in sorted(by_count.items())]
    two = statistics.median(by_count[2]) if 2 in by_count else None
    verdict = (f"Verdict: {two:.0f} jobs/s with 2 worker processes (median) against a budget of {BUDGET:.0f}: "
               f"{'holds' if two >= BUDGET else 'MISSED'}." if two else "Verdict: no 2-process round in this run.")
    median_noop = statistics.median(r.noop_rate for r in rounds)
    return "\n".join([
        f"Setup: {args.jobs} jobs of `{COMMAND}` (the sandbox's Adspect report, answered at once) from {args.users} "
        f"users in {args.channels} channels, submitted through `workers.submit.submit` by {args.submitters} threads "
        "of the bench process; N worker processes `python -m bot.cli worker --processes 1 --threads "
        f"{args.threads}`; private redis-server, vendor sandbox and fake Slack each in their own process, all on "
        "127.0.0.1. Timed from the first submission until the fake Slack has every outcome "
        "(`chat.postMessage`); every job is then checked `delivered` and marked posted. The baseline in the same "
        f"round, before the jobs: {args.jobs} messages to an actor that does nothing (`bench/noop_worker.py`, the "
        "broker `workers.boot` builds) on the same Redis and the same number of processes, from the first send "
        "to the last ack. CPU is user + system over the timed part, of the worker process groups, of redis-server "
        "and of the sandbox, the fake Slack and the bench process (which submits) each; Redis calls from "
        f"`INFO commandstats` (commands run inside Lua scripts counted too). {args.rounds} rounds of every count, "
        "alternating; one row per round.",
        "",
        *rows,
        "",
        f"Medians: {'; '.join(medians)}.",
        "",
        f"Redis calls per job by command (1 process): {calls}. Median no-op rate over the rounds: "
        f"{median_noop:.0f} msg/s.",
        "",
        verdict,
    ])


if __name__ == "__main__":
    main()

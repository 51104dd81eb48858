"""Slash-command ack latency at a fixed request rate, against a bare Bolt app in the same run.

Budget: p99 < 50 ms at 100 requests/s on loopback, and within 1.5x of a bare
ack-only Bolt app measured in the same run.

Both servers are gunicorn with the production settings (``bot.web.serve``: gthread, 2 workers,
8 threads, keep-alive) on a private Redis:

- **adops**: ``python -m bot.cli web``; each request is ``/adops export instal yesterday`` from
  its own user id (so the double-submit guard never short-circuits it): verify the signature,
  parse, record the job, enqueue ``export_request``, ack. No worker runs; the queue just grows.
- **baseline**: the same ``slack_bolt.App`` settings (signing secret, token and fake-Slack client,
  ``process_before_response=True``) with a ``/adops`` listener that only calls ``ack("ok")``,
  behind slack_bolt's WSGI adapter, served by the same ``bot.web.serve``.

The load is open loop: request *i* is due at ``t0 + i / rate`` whatever happened before, and its
latency is counted from that due time, so a server (or client) stall shows up in the numbers
instead of silently delaying the requests behind it. Phases alternate (baseline, adops,
baseline, adops...) so machine noise lands on both.

Run from the repo root: ``.venv/bin/python bench/ack_latency.py [--seconds 20] [--rate 100]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BOT_TOKEN,
    RedisServer,
    base_env,
    command_body,
    free_port,
    group_cpu_seconds,
    percentile,
    signed_headers,
    spawn,
    stop,
    update_results,
    wait_healthy,
)

TEXT = "export instal yesterday"
P99_BUDGET_MS = 50.0
RATIO_BUDGET = 1.5


# -- the baseline server (this file, run with --serve-baseline) -------------------------------------


def serve_baseline(host: str, port: int, workers: int, threads: int) -> None:
    """A bare ack-only Bolt app behind slack_bolt's WSGI adapter, under adops's gunicorn settings."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    from bot.web import serve

    def factory() -> SlackRequestHandler:
        # Built after the fork, like adops's app, with the same App settings.
        app = App(
            client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
            signing_secret=os.environ["SLACK_SIGNING_SECRET"],
            process_before_response=True,
            token_verification_enabled=True,
            request_verification_enabled=True,
        )

        @app.command("/adops")
        def on_command(ack: Ack) -> None:
            ack("ok")

        return SlackRequestHandler(app)

    serve(factory, host=host, port=port, workers=workers, threads=threads)  # type: ignore[arg-type]


# -- the load --------------------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # "200", "500", "error:ConnectionResetError"
    not_acked: int = 0  # 200 but not the expected answer (a double submit, a refusal)
    cpu_s: float = 0.0  # server processes' CPU over the phase
    wall_s: float = 0.0
    late_sends: int = 0  # sent > 5 ms after their due time: the client fell behind


class Target:
    def __init__(self, name: str, port: int, proc_pgid: int, expect: str) -> None:
        self.name = name
        self.port = port
        self.pgid = proc_pgid
        self.expect = expect


def run_phase(target: Target, *, rate: float, seconds: float, clients: int, user_offset: int) -> Phase:
    """Send ``rate * seconds`` signed commands at fixed times; latency from each due time."""
    count = int(rate * seconds)
    # Bodies and signatures are built beforehand so the client's own work at send time is small.
    requests = []
    ts = int(time.time())
    for i in range(count):
        body = command_body(TEXT, user=f"U{user_offset + i:08d}")
        requests.append((body.encode(), signed_headers(body, ts)))

    phase = Phase(target.name)
    results: list[tuple[str, float, float, bool] | None] = [None] * count  # status, latency, send lag, acked
    due: list[float] = [0.0] * count
    work: queue.SimpleQueue[int | None] = queue.SimpleQueue()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
        while (i := work.get()) is not None:
            body, headers = requests[i]
            sent = time.perf_counter()
            try:
                conn.request("POST", "/slack/events", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status = str(response.status)
                ok = response.status == 200 and target.expect.encode() in data
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
                status, ok = f"error:{type(exc).__name__}", False
            done = time.perf_counter()
            results[i] = (status, (done - due[i]) * 1000, sent - due[i], ok)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    cpu_before = group_cpu_seconds(target.pgid)
    t0 = time.perf_counter() + 0.05
    for i in range(count):
        due[i] = t0 + i / rate
        delay = due[i] - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        work.put(i)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(30)
    phase.wall_s = time.perf_counter() - t0
    phase.cpu_s = group_cpu_seconds(target.pgid) - cpu_before

    for r in results:
        if r is None:
            phase.statuses["lost"] = phase.statuses.get("lost", 0) + 1
            continue
        status, ms, lag, ok = r
        phase.statuses[status] = phase.statuses.get(status, 0) + 1
        phase.late_sends += lag > 0.005
        phase.latencies_ms.append(ms)
        if status == "200" and not ok:
            phase.not_acked += 1
    return phase


@dataclass
class Summary:
    name: str
    n: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float
    non_200: int
    not_acked: int
    cpu_ms_per_req: float
    late_sends: int
    per_phase_p99: list[float]


def summarize(name: str, phases: list[Phase]) -> Summary:
    lat = sorted(ms for p in phases for ms in p.latencies_ms)
    n = sum(sum(p.statuses.values()) for p in phases)
    non_200 = sum(c for p in phases for s, c in p.statuses.items() if s != "200")
    cpu = sum(p.cpu_s for p in phases)
    return Summary(
        name=name,
        n=n,
        p50=percentile(lat, 50),
        p95=percentile(lat, 95),
        p99=percentile(lat, 99),
        max=lat[-1] if lat else float("nan"),
        mean=sum(lat) / len(lat) if lat else float("nan"),
        non_200=non_200,
        not_acked=sum(p.not_acked for p in phases),
        cpu_ms_per_req=cpu * 1000 / n if n else float("nan"),
        late_sends=sum(p.late_sends for p in phases),
        per_phase_p99=[percentile(sorted(p.latencies_ms), 99) for p in phases],
    )


def report(base: Summary, adops: Summary, args: argparse.Namespace) -> str:
    ratio = adops.p99 / base.p99 if base.p99 > 0 else float("inf")
    rows = [
        "| server | requests | p50 ms | p95 ms | p99 ms | max ms | mean ms | non-200 | 200 but not acked | server CPU ms/req | sends >5 ms late | p99 per phase (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in (base, adops):
        phases = ", ".join(f"{x:.1f}" for x in s.per_phase_p99)
        rows.append(
            f"| {s.name} | {s.n} | {s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | {s.max:.1f} | {s.mean:.1f} | "
            f"{s.non_200} | {s.not_acked} | {s.cpu_ms_per_req:.2f} | {s.late_sends} | {phases} |"
        )
    p99_ok = adops.p99 < P99_BUDGET_MS
    ratio_ok = ratio <= RATIO_BUDGET
    clean = adops.non_200 == 0 and adops.not_acked == 0 and base.non_200 == 0 and base.not_acked == 0
    verdict = [
        "",
        f"Load: {args.rate:g} requests/s open loop, {args.seconds:g} s per server in {args.rounds} alternating "
        f"rounds (baseline first), {args.clients} client connections, `--workers {args.workers} --threads {args.threads}`, "
        f"after {args.warmup:g} s of warm-up per server (not counted). Latency runs from each request's due time "
        "to the last byte of its answer, client included.",
        "",
        "| budget | measured | holds |",
        "|---|---|---|",
        f"| adops p99 < {P99_BUDGET_MS:g} ms | {adops.p99:.1f} ms | {'yes' if p99_ok else 'NO'} |",
        f"| adops p99 ≤ {RATIO_BUDGET:g}× baseline p99 | {ratio:.2f}× ({adops.p99:.1f} / {base.p99:.1f} ms) | {'yes' if ratio_ok else 'NO'} |",
        f"| every request answered 200 with its ack | {adops.non_200 + adops.not_acked} adops, {base.non_200 + base.not_acked} baseline failures | {'yes' if clean else 'NO'} |",
    ]
    return "\n".join(rows + verdict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (default 100)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating phases per server (default 4)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per server first (default 3)")
    parser.add_argument("--clients", type=int, default=32, help="client connections/threads (default 32)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_baseline:
        serve_baseline("127.0.0.1", args.port, args.workers, args.threads)
        return

    from devkit.slack import LocalSlack

    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir)
        procs = []
        try:
            with LocalSlack(bot_token=BOT_TOKEN) as slack:  # only auth.test, once per gunicorn worker
                env = base_env(redis_server.url(1), slack.api_url)
                web_port, base_port = free_port(), free_port()
                adops_log, base_log = workdir / "web.log", workdir / "baseline.log"
                adops_proc = spawn(
                    ["-m", "bot.cli", "web", "--host", "127.0.0.1", "--port", str(web_port),
                     "--workers", str(args.workers), "--threads", str(args.threads)],
                    env, adops_log,
                )
                procs.append(adops_proc)
                base_proc = spawn(
                    [str(Path(__file__).resolve()), "--serve-baseline", "--port", str(base_port),
                     "--workers", str(args.workers), "--threads", str(args.threads)],
                    env, base_log,
                )
                procs.append(base_proc)
                wait_healthy(f"http://127.0.0.1:{web_port}/healthz", adops_proc, adops_log)
                # The baseline has no /healthz: any answer from gunicorn means it is up.
                _wait_listening(base_port, base_proc, base_log)

                adops = Target("adops (`bot.cli web`)", web_port, adops_proc.pid, "Queued as job")
                base = Target("baseline (bare Bolt, ack only)", base_port, base_proc.pid, "ok")
                offset = 0
                for target in (base, adops):
                    run_phase(target, rate=args.rate, seconds=args.warmup, clients=args.clients, user_offset=offset)
                    offset += 1_000_000
                phases: dict[str, list[Phase]] = {base.name: [], adops.name: []}
                per_round = args.seconds / args.rounds
                for r in range(args.rounds):
                    for target in (base, adops):
                        phase = run_phase(target, rate=args.rate, seconds=per_round, clients=args.clients, user_offset=offset)
                        offset += 1_000_000
                        phases[target.name].append(phase)
                        p = sorted(phase.latencies_ms)
                        print(f"round {r + 1}/{args.rounds} {target.name}: p50 {percentile(p, 50):.1f} ms, "
                              f"p99 {percentile(p, 99):.1f} ms, max {p[-1]:.1f} ms, {phase.statuses}", flush=True)
                table = report(summarize(base.name, phases[base.name]), summarize(adops.name, phases[adops.name]), args)
                for log in (adops_log, base_log):
                    trouble = [line for line in log.read_text(errors="replace").splitlines()
                               if "ERROR" in line or "Traceback" in line or "CRITICAL" in line]
                    if trouble:
                        print(f"--- {log.name}: {len(trouble)} error lines, first ones:\n" + "\n".join(trouble[:10]), file=sys.stderr)
        finally:
            for proc in procs:
                stop(proc)
            redis_server.stop()
    print(table)
    if not args.no_write:
        update_results("ack_latency", "Slash-command ack latency (`bench/ack_latency.py`)", table)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the baseline server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the baseline server did not answer within {timeout}s")


if __name__ == "__main__":
    main()

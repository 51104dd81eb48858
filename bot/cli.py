"""``adops``: one entry point for every process of the Procfile, and the console."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot import clock, socket, web
from bot.console import run_console
from devkit.sandbox import Sandbox
from workers import status
from workers.actors import QUEUES
from workers.boot import boot, load_settings
from workers.errors import ConfigError
from workers.jobs import JobStore
from workers.logs import register_settings
from workers.logs import setup as setup_logging
from workers.metrics import use_multiprocess
from workers.runtime import check_redis, make_redis
from workers.settings import Settings
from workers.storage import make_store
from workers.vendors.registry import CATALOGUE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="adops", description="Slack chat-ops bot for ad-tech operations.")
    sub = parser.add_subparsers(dest="process", required=True)
    web = sub.add_parser("web", help="HTTP mode: POST /slack/events, GET /healthz (gunicorn)")
    web.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    web.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    web.add_argument("--threads", type=int, default=8)
    worker = sub.add_parser("worker", help="Dramatiq worker over the actors")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=None, help="default ADOPS_WORKER_THREADS (8)")
    worker.add_argument("--queues", default=",".join(QUEUES),
                        help=f"comma-separated queues to consume (default all: {','.join(QUEUES)})")
    sub.add_parser("clock", help="scheduler that only enqueues (sweeps overdue jobs)")
    status_ = sub.add_parser("status", help="queue depths, jobs by state, digests, clock and worker heartbeats")
    status_.add_argument("--json", action="store_true", help="the same figures as one JSON object")
    sub.add_parser("socket", help="Socket Mode instead of web")
    console = sub.add_parser("console", help="everything in one process, no Slack/Redis/keys needed")
    console.add_argument("--ready-after", type=float, default=4.0, help="seconds the sandbox takes per export")
    console.add_argument("--user", default="U0YOU", help="Slack user id you type as")
    # On a laptop the person typing runs the place; --no-admin shows what others see.
    console.add_argument("--no-admin", dest="admin", action="store_false", help="type as someone without admin rights")
    sandbox = sub.add_parser("sandbox", help="run the vendor sandbox alone")
    sandbox.add_argument("--port", type=int, default=8700)
    sandbox.add_argument("--ready-after", type=float, default=3.0)
    args = parser.parse_args(argv)

    try:
        run(args)
    except ConfigError as exc:
        print(f"adops: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run(args: argparse.Namespace) -> None:
    if args.process == "console":
        raise SystemExit(run_console(ready_after=args.ready_after, user_id=args.user, admin=args.admin))
    if args.process == "sandbox":
        setup_logging()
        with Sandbox(port=args.port, ready_after=args.ready_after, apps=CATALOGUE.sandbox_apps) as box:
            print(f"vendor sandbox on {box.url}", flush=True)
            threading.Event().wait()
        return

    settings = load_settings()
    if args.process == "status":
        raise SystemExit(print_status(settings, as_json=args.json))
    if settings.embedded:
        raise ConfigError("REDIS_URL is required for `adops " + args.process + "` (`adops console` needs nothing)")
    setup_logging(fmt=settings.adops_log_format)
    register_settings(settings, *(settings.vendor(spec.name) for spec in CATALOGUE.specs))
    # Once per start, before any process is forked or exec'd: one line and exit 2 on a Redis that
    # may evict our keys, a warning in the log when it would lose them on a restart.
    client = make_redis(settings)
    try:
        check_redis(client)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # Not up yet is not a configuration error: the processes wait for it (web's /healthz says 503).
        logging.getLogger("adops").warning("could not check Redis's settings: %s", type(exc).__name__)
    finally:
        client.close()
    # Once per start, before any fork or exec: a bucket that cannot take files (ADOPS_FILES_URL) is
    # one line and exit 2 now, not a failed delivery later. The store checked is thrown away: each
    # process builds its own at boot (boto3 clients are not to be shared across a fork).
    make_store(settings).check()
    # Before any fork or exec: every process of this start writes its metrics where /metrics adds them up.
    use_multiprocess()
    if args.process == "worker":
        # Validated above so a bad setting is one clear line, not a traceback per process.
        threads = args.threads or settings.adops_worker_threads
        # glibc gives each thread an arena of its own that keeps what it freed, so a worker whose 8
        # threads each once held a big vendor answer keeps ~8 answers' worth; two arenas keep a
        # worker's memory flat (bench/RESULTS.md: a 1M-row export). The GIL runs one
        # thread at a time anyway. Read by glibc at exec, so set here; a deployment's value wins.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        os.execvp(
            sys.executable,
            [sys.executable, "-m", "dramatiq", "workers.entry", "--processes", str(args.processes),
             "--threads", str(threads), "--queues", *worker_queues(args.queues)],
        )
    if args.process == "web":
        settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")

        def factory() -> web.WebApp:
            # Each gunicorn worker boots its own runtime after the fork (its own connections).
            return web.build(boot(load_settings(), ingress=True), CATALOGUE)

        web.serve(factory, host=args.host, port=args.port, workers=args.workers, threads=args.threads)
        return
    if args.process == "socket":
        socket.run(boot(settings, ingress=True), CATALOGUE)
        return
    if args.process == "clock":
        clock.run(boot(settings))
        return


def worker_queues(given: str) -> list[str]:
    """The queues of ``--queues``; an unknown name is a configuration error (Dramatiq would
    quietly consume nothing from it)."""
    queues = [q.strip() for q in given.split(",") if q.strip()]
    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise ConfigError(f"--queues: {','.join(unknown) or '(none)'} is not a queue; the queues are {','.join(QUEUES)}")
    return queues


def print_status(settings: Settings, *, as_json: bool = False) -> int:
    """``adops status``: 0 with the figures when Redis answers, 1 with one line naming REDIS_URL."""
    if settings.redis_url is None:
        print("adops status: REDIS_URL is not set (status reads the deployment's Redis)", file=sys.stderr)
        return 1
    # A person is waiting: one try, a couple of seconds, no retries with backoff.
    client = redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2,
                                  retry=Retry(NoBackoff(), 0))
    try:
        snap = status.snapshot(client, JobStore(client).prefix, QUEUES, stale_after=settings.adops_clock_stale)
    except redis.RedisError as exc:
        print(f"adops status: Redis at REDIS_URL does not answer ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(snap, indent=2) if as_json else status.render(snap), flush=True)
    return 0


if __name__ == "__main__":
    main()

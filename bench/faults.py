"""Fault suite: many jobs through the real processes while things break; none may be lost or doubled.

What runs, all on 127.0.0.1: a private ``redis-server`` with AOF on (``--appendonly yes
--appendfsync always``, in a temp dir, so a SIGKILL loses nothing it acknowledged); ``adops web``
(gunicorn), two ``adops worker`` processes (slots A and B, so one can die while the other goes on)
and ``adops clock``, each the production entry point (``python -m bot.cli ...``); the fake Slack
(``LocalSlack``) and the vendor sandbox, both in this process so the suite can watch every call.
Each worker slot reaches Slack and the sandbox through a port of its own, so when an answer is
held the suite knows which worker process is waiting for it and kills that one.

``ADOPS_BROKER_HEARTBEAT_MS=2000`` and ``ADOPS_BROKER_MAINTENANCE_CHANCE=1000000`` make the
broker requeue a dead worker's messages within seconds instead of a minute (as
``tests/test_flow.py`` does); ``ADOPS_VENDOR_TIMEOUT=3`` makes a 4 s hold a timeout. The short
heartbeat is kinder than production's 60 s in one way: a Redis outage longer than 2 s makes every
worker look dead to the others, so messages a live worker dropped during the outage (Dramatiq
discards the delayed messages it holds on a connection error) are requeued by the others within
seconds; with 60 s they would wait for that worker's restart.

The jobs: Instal exports (each for its own day, so every request to Instal names its job), and
24Metrics tasks (``filters``, ``fraud yesterday``), one Slack user each (no double-submit
merging) in six channels (within the ingress's rate limits), submitted at a steady pace through
the real ingress (signed POSTs with a ``response_url``). Between them, spread over the run, one of each of these (``FAULTS``):

- vendor: 429 with and without Retry-After, 5xx, a timeout (held past the vendor timeout),
  a dropped connection, a malformed body, on Instal's create and retrieve and on 24Metrics'
  filter-group listing and report tables; Instal export ERROR (create) and FAILURE (retrieve);
- Slack: 429 on chat.postMessage and chat.update, ``message_not_found`` on an update of a
  message that exists, ``internal_error``, an HTTP 500 ``fatal_error``, ``channel_not_found``;
- a person deleting a job's progress message while the export runs (``delete_as_user``);
- SIGKILL of the worker process that is, at that moment, requesting an export (its create
  answer held), polling (a retrieve held), running a task (a listing held), publishing an
  export's outcome or a task's outcome (the Slack call applied, its answer held), and of a worker
  holding delayed polls; each killed worker is restarted at once;
- Redis hung for 4 s (SIGSTOP, SIGCONT), and Redis killed (SIGKILL) and restarted 2 s later on
  the same port and directory.

Then it waits (bounded: ``--patience`` after the last submission) until every job is terminal
with its outcome marked posted, and for the broker to drain (late duplicates land before the
count), and classifies every job. The clock runs as in production but quicker (a sweep every
2 s that re-sends a publish, or a poll that was due, nobody has tried for 8 s: the settings
``ADOPS_SWEEP_INTERVAL`` and ``ADOPS_RESCUE_AFTER``), so a job that only the sweeper could save
is saved within the bound; one still without an outcome at the bound is counted lost. A job is each command the ingress acknowledged with
"Queued as job", plus any job found in the store's index that was never acknowledged (a job the
person was told had not been queued counts too). Per job, from the fake Slack's messages now
(its channel, the asker's DM; posts via the API and via ``response_url``, ephemeral ones too)
and the job store:

- an *outcome message* is any message naming the job's id that is not its progress message
  (the progress message is the one carrying the job's Cancel button block ``job:<id>``);
- **lost**: no outcome message anywhere, whatever the store says (stuck in a state, or
  "delivered" with nothing posted); its reason says whether a step for it was still pending in
  the broker at the bound (late, maybe very late) or nothing was left that could post it;
- **duplicated**: more than one outcome message, or, for Instal, more than one export the vendor
  created for the job (counted from the sandbox's own answers to create, per job). That includes
  a create whose answer never reached the worker (killed while waiting for it, or timed out):
  the vendor built the export all the same, and the retry builds another;
- **delivered once**: exactly one outcome message, it shows the result the job's kind produces
  (the download link, the filter groups, the fraud summary), and the store says delivered;
- **failed with a reason**: exactly one outcome message, it says the job failed and why, and
  the store says failed with a non-empty error;
- **other**: exactly one outcome message that contradicts the store or shows no reason (for
  example "cancelled", or a success message for a job the store failed), or one the store has
  not marked posted: a publish still to come may post it a second time after the count (a
  duplicate the bound would otherwise hide). Never folded into the good columns.

The suite passes only with lost, duplicated and other all 0, and every fault having fired (one
that never fired tested nothing, and says so). For each job that is not delivered once or
failed with a reason, it prints the faults on its path: the vendor faults it drew (exact for
Instal, whose requests name the job; for 24Metrics, those drawn by its kind of request while it
ran), the Slack errors on calls naming it, the kills and Redis outages while it ran, and the log
lines naming it.

Run from the repo root: ``.venv/bin/python bench/faults.py`` (writes its section of
``bench/RESULTS.md``); ``tests/test_faults.py`` runs it with ``--no-write --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import redis  # noqa: E402
from common import (  # noqa: E402
    base_env,
    command_body,
    free_port,
    kill,
    signed_headers,
    spawn,
    stop,
    update_results,
    wait_healthy,
    wait_until,
    wait_worker_ready,
)

from devkit.sandbox import Sandbox  # noqa: E402
from devkit.sandbox.httpd import WSGIServer  # noqa: E402
from devkit.sandbox.server import Exchange  # noqa: E402
from devkit.slack import Call, LocalSlack, Message  # noqa: E402
from workers.actors import QUEUES  # noqa: E402
from workers.vendors.registry import CATALOGUE  # noqa: E402

BOT_TOKEN = "xoxb-test-token"
#: Commands come from several channels, as in a workspace (and within ADOPS_RATE_PER_CHANNEL).
CHANNELS = tuple(f"CFAULTS{i}" for i in range(6))
JOB_ID = re.compile(r"J[0-9A-Z]{8}")
#: Instal jobs ask for one day each, counted from here, so a request to Instal names its job.
FIRST_DAY = date(2024, 1, 1)
VENDOR_TIMEOUT = 3
#: A held vendor answer during which the worker waiting for it is killed: under the vendor
#: timeout, so without the kill it would simply be a slow answer.
KILL_HOLD = 2.0
#: A held vendor answer past ADOPS_VENDOR_TIMEOUT: the client gives up, the vendor carries on.
TIMEOUT_HOLD = 4.0
#: A held Slack answer during which the worker waiting for it is killed.
SLACK_HOLD = 3.0
READY_AFTER = 4.0  # Instal builds an export in 4 s: seen at the second poll (8 s), so it waits a while
EXPORT_DEADLINE = 45
WORKER_THREADS = 4

COMMANDS = {"instal": "export instal {day}", "filters": "filters", "fraud": "fraud yesterday"}
#: What the one outcome message of a delivered job of each kind shows.
DELIVERED_MARK = {"instal": "download the file", "filters": "24Metrics filter groups", "fraud": "24Metrics fraud summary"}
#: Which 24Metrics requests a task of each kind makes (to place faults drawn by them).
OPS_OF_KIND = {"filters": ("filter_groups.",), "fraud": ("report.",)}
#: The kinds of the jobs not aimed at by a fault, in turn.
CYCLE = ("instal", "filters", "instal", "fraud", "instal")


# -- Redis with AOF, which the suite kills, hangs and restarts ----------------------------------------


class PersistentRedis:
    """``redis-server`` with AOF on (fsync on every write) in ``workdir``; restarted on the same
    port and directory, it comes back with everything it acknowledged."""

    def __init__(self, workdir: Path, log: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make test` (it installs it) or apt-get install redis-server")
        self.binary = binary
        self.dir = workdir
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.hung = False
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, timeout=20, interval=0.05, what="redis-server (AOF) to answer")
        client.close()

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def hang(self) -> None:
        self.hung = True
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self.hung = False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.hung:
            self.resume()
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


# -- what the suite records -----------------------------------------------------------------------


@dataclass
class Submitted:
    index: int
    kind: str
    text: str
    user: str
    channel: str
    t: float  # seconds from the first submission
    job_id: str | None = None
    answer: str = ""  # what the ingress said, when it was not "Queued as job"
    aimed: list[str] = field(default_factory=list)  # faults placed right before it, aimed at it


@dataclass
class VendorHit:
    """A vendor request that drew an injected fault."""

    t: float
    fault: str  # the fault's key
    vendor: str
    op: str
    slot: str
    sub: int | None  # the submission it belongs to, when the request names it (Instal)
    status: int | None = None  # what was answered; None while held, or withheld
    answered: bool = False


@dataclass
class Event:
    t: float
    what: str  # "worker killed", "redis hung", "progress deleted", ...
    detail: str
    job: str | None = None  # the job it was aimed at, if any
    fault: str | None = None  # the key of the fault of the plan that did it


#: Events that are a fault happening (the others say how it ended: "redis resumed", ...).
STRIKES = ("worker killed", "redis hung", "redis killed", "progress deleted")


@dataclass
class Fault:
    """One fault of the plan. ``target`` is the kind of job it is aimed at (the next job submitted
    after it is of that kind); ``before`` runs at its time, ``after`` once that job is acked."""

    key: str
    family: str  # vendor, slack, person, worker, redis
    target: str | None
    before: Callable[[Run], None] | None = None
    after: Callable[[Run, Submitted], None] | None = None


@dataclass
class Slot:
    """A worker process slot: its environment (its own Slack and sandbox ports) and incarnations."""

    name: str
    env: dict[str, str]
    slack_port: int
    sandbox_port: int
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)


# -- the run --------------------------------------------------------------------------------------------


class Run:
    def __init__(self, workdir: Path, logdir: Path, *, jobs: int, spread: float, patience: float, quiet: bool) -> None:
        self.workdir = workdir
        self.logdir = logdir
        self.jobs = jobs
        self.spread = spread
        self.patience = patience
        self.quiet = quiet
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.subs: list[Submitted] = []
        self.events: list[Event] = []
        self.hits: list[VendorHit] = []
        self.fault_of: dict[tuple[str, str], deque[str]] = defaultdict(deque)  # (vendor, op) -> keys, FIFO like the sandbox
        self.kill_watch: dict[str, queue.Queue[VendorHit]] = {}  # fault key -> held requests to kill the worker of
        self.exports: dict[int, list[str]] = defaultdict(list)  # Instal submission -> export ids the vendor created
        self.task_owner: dict[str, int] = {}
        self.day_owner: dict[str, int] = {}
        self.slack_faults: dict[str, tuple[str, str, int, float]] = {}  # key -> (method, error, count, injected at)
        self.threads: list[threading.Thread] = []
        self.not_fired: list[str] = []
        self.kill_lock = threading.Lock()
        self._open: dict[int, VendorHit] = {}  # exchanges being answered -> the fault they drew
        self.worker_ids: dict[str, str] = {}  # Dramatiq worker id -> the process ("A2": slot A, 2nd start)
        # Started by start(), stopped by stop() whatever start() got to.
        self.slack = LocalSlack(bot_token=BOT_TOKEN)
        self.sandbox = Sandbox(ready_after=READY_AFTER, apps=CATALOGUE.sandbox_apps)
        self.sandbox.observer = self.observe
        self._redis: PersistentRedis | None = None
        self._store: redis.Redis | None = None
        self.extra_servers: list[tuple[WSGIServer, threading.Thread]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.slots: dict[str, Slot] = {}
        self.slot_by_slack_port: dict[int, str] = {}
        self.slot_by_sandbox_port: dict[int, str] = {}
        self.http = httpx.Client(timeout=15)
        self.web_url = ""

    @property
    def redis(self) -> PersistentRedis:
        assert self._redis is not None, "start() first"
        return self._redis

    @property
    def store(self) -> redis.Redis:
        """A client of the job store and the broker, for looking only."""
        assert self._store is not None, "start() first"
        return self._store

    # -- time and records ------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{self.now():6.1f}s] {text}", flush=True)

    def event(self, what: str, detail: str, job: str | None = None, fault: str | None = None) -> None:
        with self.lock:
            self.events.append(Event(self.now(), what, detail, job, fault))
        self.say(f"{what}: {detail}" + (f" ({job})" if job else ""))

    def spawn_thread(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception as exc:  # noqa: BLE001 - a scene that breaks must say so, not vanish
                self.event("scene failed", f"{name}: {type(exc).__name__}: {exc}")
                with self.lock:
                    self.not_fired.append(f"{name} (broke: {type(exc).__name__}: {exc})")

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        with self.lock:
            self.threads.append(thread)

    # -- processes -----------------------------------------------------------------------------------

    def env(self, slack_api_url: str, sandbox_root: str) -> dict[str, str]:
        vendors = CATALOGUE.sandbox_env({}, lambda v: self.sandbox.base_url(v).replace(self.sandbox.root, sandbox_root),
                                        Sandbox.TOKEN)
        return base_env(
            self.redis.url(), slack_api_url, **vendors,
            ADOPS_BROKER_HEARTBEAT_MS="2000", ADOPS_BROKER_MAINTENANCE_CHANCE="1000000",
            ADOPS_VENDOR_TIMEOUT=str(VENDOR_TIMEOUT), ADOPS_EXPORT_DEADLINE=str(EXPORT_DEADLINE),
            ADOPS_PROGRESS_INTERVAL="1",
            # The clock's rescue, made quick enough to show within the suite's bound: a sweep
            # every 2 s, re-sending a publish (or a due poll) nobody has tried for 8 s.
            ADOPS_SWEEP_INTERVAL="2", ADOPS_RESCUE_AFTER="8",
        )

    def start(self) -> None:
        (self.workdir / "redis").mkdir()
        self._redis = PersistentRedis(self.workdir / "redis", self.logdir / "redis.log")
        self._store = redis.Redis.from_url(self._redis.url(), socket_timeout=3, socket_connect_timeout=2)
        self.slack.start()
        self.sandbox.start()
        primary = self.env(self.slack.api_url, self.sandbox.root)
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        web_log = self.logdir / "web.log"
        web = spawn(["-m", "bot.cli", "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                     "--threads", "8"], primary, web_log)
        self.procs.append(web)
        clock = spawn(["-m", "bot.cli", "clock"], primary, self.logdir / "clock.log")
        self.procs.append(clock)
        for name in ("A", "B"):
            slack_url = self.slack.listen_also()
            server = WSGIServer(("127.0.0.1", 0), self.sandbox.wsgi)
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self.extra_servers.append((server, thread))
            slack_port = int(urlsplit(slack_url).port or 0)
            sandbox_port = int(server.server_address[1])
            slot = Slot(name, self.env(slack_url, server.root), slack_port, sandbox_port)
            self.slots[name] = slot
            self.slot_by_slack_port[slack_port] = name
            self.slot_by_sandbox_port[sandbox_port] = name
            self.start_slot(slot)  # waits for its heartbeat: one at a time
        wait_healthy(self.web_url + "/healthz", web, web_log)
        for slot in self.slots.values():
            assert slot.proc is not None
            wait_worker_ready(slot.proc, slot.logs[-1])

    def start_slot(self, slot: Slot) -> None:
        """Start the slot's worker and learn its Dramatiq worker id: the heartbeat that appears
        after it starts (starts are one at a time, so it can only be this one's)."""
        known = self.heartbeats()
        patience = time.monotonic() + 30
        while known is None and time.monotonic() < patience:  # Redis is down: wait, don't guess
            time.sleep(0.1)
            known = self.heartbeats()
        log = self.logdir / f"worker-{slot.name}{len(slot.logs) + 1}.log"
        slot.logs.append(log)
        slot.proc = spawn(["-m", "bot.cli", "worker", "--threads", str(WORKER_THREADS), "--processes", "1"], slot.env, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and slot.proc.poll() is None:
            new = set(self.heartbeats() or ()) - set(known or ()) - set(self.worker_ids)
            if new:
                self.worker_ids[new.pop()] = f"{slot.name}{len(slot.logs)}"
                return
            time.sleep(0.05)
        self.event("worker not seen", f"{log.name}: no heartbeat within 30 s (exit code {slot.proc.poll()})")

    def kill_slot(self, name: str, why: str, job: str | None, fault: str) -> None:
        """SIGKILL the slot's worker process group (no shutdown, no acks) and start a new one."""
        with self.kill_lock:
            slot = self.slots[name]
            assert slot.proc is not None
            kill(slot.proc)
            self.event("worker killed", f"{name}{len(slot.logs)} {why}; restarted", job, fault)
            self.start_slot(slot)

    def stop(self) -> None:
        """Stop whatever start() got to, workers first (killed: a graceful stop would wait out
        held answers), Redis last."""
        for slot in self.slots.values():
            if slot.proc is not None:
                kill(slot.proc)
        for proc in reversed(self.procs):
            stop(proc)
        self.http.close()
        for server, thread in self.extra_servers:
            server.shutdown()
            server.server_close()
            thread.join(5)
        self.sandbox.stop()
        self.slack.stop()
        if self._store is not None:
            self._store.close()
        if self._redis is not None:
            self._redis.stop()

    # -- the sandbox's view ------------------------------------------------------------------------

    def observe(self, ex: Exchange) -> None:
        """Every vendor request, as it arrives and once answered (sandbox threads)."""
        slot = self.slot_by_sandbox_port.get(urlsplit(ex.request.base_url).port or 0, "web")
        sub: int | None = None
        if ex.vendor == "instal" and ex.op == "create":
            try:
                sub = self.day_owner.get(str(json.loads(ex.request.body or b"{}").get("start_date")))
            except ValueError:
                sub = None
        elif ex.vendor == "instal":
            sub = self.task_owner.get(ex.request.params.get("task_id", ""))
        with self.lock:
            if ex.answered and ex.vendor == "instal" and ex.op == "create" and ex.response is not None \
                    and ex.response.status == 200 and sub is not None:
                task = json.loads(bytes(ex.response.body)).get("task_id")  # type: ignore[arg-type]
                if task:
                    self.exports[sub].append(task)
                    self.task_owner[task] = sub
            if ex.fault is None:
                return
            if ex.answered:
                done = self._open.pop(id(ex), None)
                if done is not None:
                    done.answered = True
                    done.status = ex.response.status if ex.response is not None else None
                return
            # The sandbox consumes a (vendor, op)'s faults first in, first out; so do we.
            keys = self.fault_of[(ex.vendor, ex.op)]
            key = keys.popleft() if keys else f"{ex.vendor}.{ex.op} {ex.fault.kind} (not ours)"
            hit = VendorHit(self.now(), key, ex.vendor, ex.op, slot, sub)
            self.hits.append(hit)
            self._open[id(ex)] = hit
            watch = self.kill_watch.get(key)
        if watch is not None:
            watch.put(hit)  # its answer is being held now: a scene kills the worker waiting for it

    # -- faults --------------------------------------------------------------------------------------

    def inject(self, key: str, vendor: str, op: str, kind: str, **options: Any) -> None:
        with self.lock:
            self.fault_of[(vendor, op)].extend([key] * int(options.get("count", 1)))
        self.sandbox.inject(vendor, op, kind, **options)
        self.say(f"inject {key}")

    def fail_slack(self, key: str, method: str, error: str, **options: Any) -> None:
        """Fail the next calls of ``method``. LocalSlack keeps one pending fault per method (a
        new one replaces it), so this one waits until the previous one on ``method`` has struck."""
        before = [k for k, (m, *_) in self.slack_faults.items() if m == method]

        def inject() -> None:
            deadline = time.monotonic() + 20
            while before and len(slack_fault_calls(self, before[-1])) < self.slack_faults[before[-1]][2]:
                if time.monotonic() > deadline:
                    break  # it never struck in full; the report says so
                time.sleep(0.05)
            with self.lock:
                self.slack_faults[key] = (method, error, int(options.get("count", 1)), time.time())
            self.slack.fail_next(method, error, **options)
            self.say(f"inject {key}")

        if before:
            self.spawn_thread(key, inject)
        else:
            inject()

    def kill_on_hold(self, key: str, vendor: str, op: str) -> None:
        """Hold the next ``vendor.op`` answer and kill the worker waiting for it."""
        watch: queue.Queue[VendorHit] = queue.Queue()
        with self.lock:
            self.kill_watch[key] = watch
        self.inject(key, vendor, op, "timeout", delay=KILL_HOLD)

        def scene() -> None:
            try:
                hit = watch.get(timeout=30)
            except queue.Empty:
                with self.lock:
                    self.not_fired.append(f"{key}: no {vendor}.{op} request came within 30 s")
                return
            job = self.subs[hit.sub].job_id if hit.sub is not None else None
            self.kill_slot(hit.slot, f"while its {vendor}.{op} answer was held", job, key)

        self.spawn_thread(key, scene)

    def kill_on_slack_hold(self, key: str, sub: Submitted, method: str) -> None:
        """Apply the outcome call of the aimed job (or of the next job of its kind to finish,
        should it fail first) but hold Slack's answer; kill the worker waiting for it."""
        mark = DELIVERED_MARK[sub.kind]

        def outcome(params: dict[str, Any]) -> str | None:
            """The job whose outcome this call is, if it is the aimed one's or a later one's."""
            text = json.dumps(params, default=str)
            job = next(iter(JOB_ID.findall(text)), None)
            later = {s.job_id for s in self.subs[sub.index:] if s.kind == sub.kind}
            return job if mark in text and job in later else None

        self.slack.hold_next(method, SLACK_HOLD, when=lambda params: outcome(params) is not None)

        def scene() -> None:
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                held = next((h for h in self.slack.held() if h.method == method and outcome(h.params)), None)
                if held is not None:
                    self.kill_slot(self.slot_by_slack_port[held.port], f"while Slack's answer to {method} was held",
                                   outcome(held.params), key)
                    return
                time.sleep(0.02)
            with self.lock:
                self.not_fired.append(f"{key}: no {sub.kind} outcome came by {method} within 45 s")

        self.spawn_thread(key, scene)

    def kill_with_polls_in_hand(self, key: str) -> None:
        """Kill the worker that holds the most delayed messages (the next polls of waiting
        exports, fetched and kept until due) once it holds two: the test_flow scenario, under load."""

        def scene() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                in_hand = {w: n for w, n in self.delayed_in_hand().items() if w in self.worker_ids}
                holder = max(in_hand, key=lambda w: in_hand[w], default=None)
                process = self.worker_ids.get(holder or "", "")
                slot = self.slots.get(process[:1])
                if holder is not None and in_hand[holder] >= 2 and slot is not None and \
                        f"{slot.name}{len(slot.logs)}" == process:
                    self.kill_slot(slot.name, f"holding {in_hand[holder]} delayed messages not yet due", None, key)
                    return
                time.sleep(0.1)
            with self.lock:
                self.not_fired.append(f"{key}: no worker held 2 delayed messages within 20 s")

        self.spawn_thread(key, scene)

    def delete_progress(self, key: str, sub: Submitted) -> None:
        """A person deletes a progress message while its export runs: the aimed job's, or, if it
        ends without waiting (a create fault can fail it), the next export's that waits."""

        def scene() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                for other in [s for s in self.subs[sub.index:] if s.kind == "instal" and s.job_id]:
                    job_id = other.job_id
                    assert job_id is not None
                    if self.field(job_id, "state") != "waiting":
                        continue
                    for m in self.messages_of(job_id, other.channel):
                        if is_progress(m, job_id) and self.slack.delete_as_user(
                            m.channel, m.ts, only_if=lambda now, j=job_id: is_progress(now, j)
                        ):
                            self.event("progress deleted", f"by a person, ts {m.ts}", job_id, key)
                            return
                time.sleep(0.1)
            with self.lock:
                self.not_fired.append(f"{key}: no export from {sub.job_id} on showed a progress message while waiting, in 30 s")

        self.spawn_thread(key, scene)

    def hang_redis(self, key: str, seconds: float) -> None:
        def scene() -> None:
            self.redis.hang()
            self.event("redis hung", f"SIGSTOP for {seconds:g} s", fault=key)
            time.sleep(seconds)
            self.redis.resume()
            self.event("redis resumed", "SIGCONT", fault=key)

        self.spawn_thread(key, scene)

    def kill_redis(self, key: str, down: float) -> None:
        def scene() -> None:
            self.redis.kill()
            self.event("redis killed", f"SIGKILL; restarting in {down:g} s (AOF, same port and dir)", fault=key)
            time.sleep(down)
            self.redis.start()
            self.event("redis restarted", "answering again", fault=key)

        self.spawn_thread(key, scene)

    # -- the job store, the broker and Slack ------------------------------------------------------

    def heartbeats(self) -> dict[str, float] | None:
        """Dramatiq's worker ids and their last heartbeat (ms since the epoch); None when Redis
        does not answer."""
        try:
            return {k.decode(): float(v) for k, v in self.store.zrange("dramatiq:__heartbeats__", 0, -1, withscores=True)}
        except redis.RedisError:
            return None

    def delayed_in_hand(self) -> dict[str, int]:
        """Per Dramatiq worker id, the delayed messages it has fetched and keeps until due."""
        try:
            return {key.decode().split(".")[1]: int(self.store.scard(key))
                    for key in self.store.scan_iter(match="dramatiq:__acks__.*.adops.DQ")}
        except redis.RedisError:
            return {}

    def field(self, job_id: str, name: str) -> str | None:
        try:
            value = self.store.hget(f"adops:job:{job_id}", name)
        except redis.RedisError:
            return None
        return value.decode() if value is not None else None

    def messages_of(self, job_id: str, channel: str, user: str | None = None) -> list[Message]:
        """Messages naming the job where its asker can see them: its channel (posts by the API
        and by the response_url, ephemeral ones too) and the asker's DM with the app."""
        channels = [channel] + ([f"D{user[1:]}"] if user else [])
        return [m for c in channels for m in self.slack.messages(c) if mentions(m, job_id)]

    # -- driving -------------------------------------------------------------------------------------

    def submit(self, index: int, kind: str) -> Submitted:
        user, channel = f"UF{index:05d}", CHANNELS[index % len(CHANNELS)]
        day = (FIRST_DAY + timedelta(days=index)).isoformat()
        text = COMMANDS[kind].format(day=day)
        sub = Submitted(index, kind, text, user, channel, self.now())
        with self.lock:
            self.subs.append(sub)
            if kind == "instal":
                self.day_owner[day] = index
        response_url = self.slack.response_url(channel, user)
        body = command_body(text, user=user, channel=channel, response_url=response_url)
        try:
            response = self.http.post(self.web_url + "/slack/events", content=body.encode(), headers=signed_headers(body))
            answer = response.text
            match = JOB_ID.search(answer) if response.status_code == 200 and "Queued as job" in answer else None
        except httpx.HTTPError as exc:
            answer, match = f"{type(exc).__name__}: {exc}", None
        if match:
            sub.job_id = match.group(0)
        else:
            sub.answer = answer[:200]
            self.event("not queued", f"#{index} {text!r}: {sub.answer}")
        return sub

    def drive(self, plan: list[Fault]) -> float:
        """Submit the jobs at a steady pace with the faults spread between them; return the time
        of the last submission."""
        gap = self.spread / self.jobs
        fault_times = [1.0 + i * (self.spread - 6.0) / max(1, len(plan) - 1) for i in range(len(plan))]
        schedule = sorted([(i * gap, 1, i) for i in range(self.jobs)] + [(t, 0, i) for i, t in enumerate(fault_times)])
        aimed: deque[Fault] = deque()  # faults waiting for the next job of their kind
        cycle = 0
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        for at, is_job, i in schedule:
            time.sleep(max(0.0, at - self.now()))
            if not is_job:
                fault = plan[i]
                if fault.before is not None:
                    fault.before(self)
                if fault.target is not None:
                    aimed.append(fault)
                continue
            if aimed:
                mine = [aimed.popleft()]
                while aimed and aimed[0].target == mine[0].target:
                    mine.append(aimed.popleft())
                kind = mine[0].target
            else:
                mine, kind = [], CYCLE[cycle % len(CYCLE)]
                cycle += 1
            assert kind is not None
            sub = self.submit(i, kind)
            sub.aimed = [f.key for f in mine]
            for fault in mine:
                if fault.after is not None:
                    fault.after(self, sub)
        for fault in aimed:
            with self.lock:
                self.not_fired.append(f"{fault.key}: no job left to aim it at (more jobs needed)")
        return self.now()

    def settle(self, last_submission: float) -> tuple[float, str]:
        """Wait until every job is terminal with its outcome marked posted, every scene is over
        and the broker has drained (bounded by ``patience``); return when that was (or the bound)
        and, at the bound, what was still open."""
        deadline = last_submission + self.patience

        def unsettled() -> list[str] | None:
            ids = self.job_ids()
            try:
                pipe = self.store.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hmget(f"adops:job:{job_id}", "state", "outcome_posted")
                rows = pipe.execute()
            except redis.RedisError:
                return None
            return [f"{j} {(s or b'?').decode()}" + ("" if p == b"1" else " not posted")
                    for j, (s, p) in zip(ids, rows) if s not in (b"delivered", b"failed", b"cancelled") or p != b"1"]

        open_jobs: list[str] | None = None
        scenes: list[str] = []
        while self.now() < deadline:
            open_jobs = unsettled()
            scenes = [t.name for t in self.threads if t.is_alive()]
            if open_jobs == [] and not scenes:
                break
            time.sleep(0.25)
        settled = self.now()
        why = ""
        if settled >= deadline:
            why = "; ".join(part for part in (
                f"jobs not settled: {', '.join(open_jobs)}" if open_jobs else "",
                "the job store did not answer" if open_jobs is None else "",
                f"scenes still running: {', '.join(scenes)}" if scenes else "",
            ) if part)
        # Late duplicates (a redelivered publish, a second poll) run before the count.
        while self.now() < deadline + 10 and not self.broker_idle():
            time.sleep(0.25)
        time.sleep(1.0)
        return settled, why

    def broker_idle(self) -> bool:
        try:
            return sum(self.store.hlen(f"dramatiq:{q}.msgs") + self.store.hlen(f"dramatiq:{q}.DQ.msgs") for q in QUEUES) == 0
        except redis.RedisError:
            return False

    def job_ids(self) -> list[str]:
        ids = [s.job_id for s in self.subs if s.job_id]
        try:
            stored = [i.decode() for i in self.store.zrange("adops:jobs:all", 0, -1)]
        except redis.RedisError:
            stored = []
        return ids + sorted(set(stored) - set(ids))


# -- classification ----------------------------------------------------------------------------------


def mentions(m: Message, job_id: str) -> bool:
    return job_id in m.text or job_id in json.dumps(m.blocks)


def is_progress(m: Message, job_id: str) -> bool:
    """The job's progress message carries its Cancel button block; an outcome never does."""
    return any(b.get("type") == "actions" and b.get("block_id") == f"job:{job_id}" for b in m.blocks)


def first_text(m: Message) -> str:
    for block in m.blocks:
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            return str(text["text"])
    return m.text


@dataclass
class Verdict:
    job_id: str
    sub: Submitted | None
    kind: str
    bucket: str  # delivered once, failed with a reason, lost, duplicated, other
    why: str
    store: dict[str, str]
    outcomes: list[Message]
    exports: int
    stale_progress: int
    start: float  # when it was submitted (seconds of the run)
    end: float  # when the store says it finished, else the end of the run


def classify(run: Run, broker: dict[str, list[str]]) -> list[Verdict]:
    by_id = {s.job_id: s for s in run.subs if s.job_id}
    verdicts = []
    for job_id in run.job_ids():
        sub = by_id.get(job_id)
        try:
            raw = run.store.hgetall(f"adops:job:{job_id}")
        except redis.RedisError:
            raw = {}
        store = {k.decode(): v.decode() for k, v in raw.items()}
        user = sub.user if sub else store.get("user_id", "U?")
        kind = sub.kind if sub else _kind_of(store)
        shown = run.messages_of(job_id, sub.channel if sub else store.get("channel_id", ""), user)
        outcomes = [m for m in shown if not is_progress(m, job_id)]
        stale = len(shown) - len(outcomes)
        exports = len(run.exports.get(sub.index, [])) if sub is not None and kind == "instal" else 0
        state, error = store.get("state", "(no record)"), store.get("error", "")
        where = f"store: {state}" + (f", outcome_posted={store.get('outcome_posted', '0')}" if store else "")
        if len(outcomes) > 1:
            bucket, why = "duplicated", f"{len(outcomes)} outcome messages ({where})"
        elif not outcomes:
            # Lost either way; which kind of lost tells where to look.
            pending = [line for line in broker.get(job_id, []) if not line.endswith(GONE)]
            fate = (f"still pending at the bound: {pending[0]}" if pending
                    else "and nothing left in the queue or the store's indexes to post it")
            bucket, why = "lost", f"no outcome message anywhere ({where}" + (
                ", its progress message still up" if stale else "") + f"); {fate}"
        elif exports > 1:
            bucket, why = "duplicated", f"{exports} Instal exports created for one job ({where})"
        elif store.get("outcome_posted") != "1":
            # Shown, but the store does not know: a publish still to come (a retry, the outbox's
            # sweep) will post it again, as a second message where the first was a new post.
            pending = [line for line in broker.get(job_id, []) if not line.endswith(GONE)]
            bucket, why = "other", (f"one outcome message shown, but the store has not marked it posted ({where}); "
                                    + (f"still pending: {pending[0]}" if pending else "nothing pending for it"))
        else:
            head = first_text(outcomes[0])
            says_failed = head.startswith(":x:")
            text = outcomes[0].text + json.dumps(outcomes[0].blocks)
            if says_failed and state == "failed" and error.strip() and " failed: " in head:
                bucket, why = "failed with a reason", error
            elif not says_failed and state == "delivered" and DELIVERED_MARK.get(kind, "\0") in text:
                bucket, why = "delivered once", ""
            else:
                bucket, why = "other", f"one outcome message that does not match the store ({where}): {head[:120]!r}"
        finished = float(store.get("finished_at") or 0)
        start = sub.t if sub else float(store.get("created_at") or run.wall0) - run.wall0
        end = finished - run.wall0 if finished else run.now()
        # A fault struck "while it ran" from just before its submission to just after it ended.
        verdicts.append(Verdict(job_id, sub, kind, bucket, why, store, outcomes, exports, stale, start - 0.5, end + 0.5))
    return verdicts


def _kind_of(store: dict[str, str]) -> str:
    if store.get("vendor") == "instal":
        return "instal"
    op = json.loads(store.get("params") or "{}").get("op", "")
    return {"fg_list": "filters", "fraud": "fraud"}.get(op, op or "?")


# -- attribution ---------------------------------------------------------------------------------------


def jobs_running(verdicts: list[Verdict], t: float, kind: str | None = None) -> list[str]:
    return [v.job_id for v in verdicts if v.start <= t <= v.end and (kind is None or v.kind == kind)]


def slack_fault_calls(run: Run, key: str) -> list[Call]:
    """The calls an injected Slack fault failed: ``fail_next`` fails the next calls of its method,
    so they are the first ones after it was injected that failed with its error."""
    method, error, count, at = run.slack_faults[key]
    hit = []
    for call in run.slack.calls:
        if call.method != method or call.time < at:
            continue
        if call.error != error or len(hit) >= count:
            break
        hit.append(call)
    return hit


def fault_jobs(run: Run, fault: Fault, verdicts: list[Verdict]) -> tuple[int, list[str]]:
    """How often ``fault`` struck, and the jobs it struck (for 24Metrics requests and outages,
    which name no job: the jobs of that kind, or all, running at that moment)."""
    by_index = {v.sub.index: v.job_id for v in verdicts if v.sub is not None}
    jobs: list[str] = []
    if fault.key in run.slack_faults:
        calls = slack_fault_calls(run, fault.key)
        for call in calls:
            jobs += JOB_ID.findall(json.dumps(call.params, default=str))[:1]
        return len(calls), jobs
    hits = [h for h in run.hits if h.fault == fault.key]
    for h in hits:
        if h.sub is not None and h.sub in by_index:
            jobs.append(by_index[h.sub])
        elif h.vendor == "24metrics":
            kind = next((k for k, ops in OPS_OF_KIND.items() if h.op.startswith(ops)), None)
            jobs += jobs_running(verdicts, h.t, kind)
    strikes = [e for e in run.events if e.fault == fault.key and e.what in STRIKES]
    for e in strikes:
        jobs += [e.job] if e.job else jobs_running(verdicts, e.t)
    return (len(hits) if fault.family == "vendor" else len(strikes)), list(dict.fromkeys(jobs))


def path_of(run: Run, v: Verdict, broker: dict[str, list[str]]) -> list[str]:
    """What happened on this job's way, in time order, and where its messages are now."""
    found: list[tuple[float, str]] = []
    if v.sub is not None and v.sub.aimed:
        found.append((v.sub.t, f"sent; aimed at it: {', '.join(v.sub.aimed)}"))
    for hit in run.hits:
        mine = hit.sub is not None and v.sub is not None and hit.sub == v.sub.index
        nearby = hit.sub is None and hit.vendor == "24metrics" and v.start <= hit.t <= v.end and \
            hit.op.startswith(OPS_OF_KIND.get(v.kind, ("-",)))
        if mine or nearby:
            answered = "answer withheld" if hit.status is None else f"answered {hit.status}"
            found.append((hit.t, f"[{hit.fault}] drawn by worker {hit.slot}, {answered}" + ("" if mine else " (while it ran)")))
    for key in run.slack_faults:
        for call in slack_fault_calls(run, key):
            if v.job_id in json.dumps(call.params, default=str):
                found.append((call.time - run.wall0, f"[{key}] Slack {call.method} answered {call.error}"))
    injected = {id(c) for key in run.slack_faults for c in slack_fault_calls(run, key)}
    for call in run.slack.calls:
        if not call.ok and id(call) not in injected and v.job_id in json.dumps(call.params, default=str):
            found.append((call.time - run.wall0, f"Slack {call.method} answered {call.error} (not injected)"))
    for held in run.slack.held():
        if v.job_id in json.dumps(held.params, default=str):
            found.append((held.at - run.wall0, f"Slack applied {held.method} and held its answer {held.seconds:g} s"))
    for e in run.events:
        if e.job == v.job_id or (e.what.startswith(("worker", "redis")) and v.start <= e.t <= v.end):
            found.append((e.t, f"{e.what}: {e.detail}" + ("" if e.job in (None, v.job_id) else " (another job's)")
                          + ("" if e.job == v.job_id else " (while it ran)")))
    if v.exports > 1 and v.sub is not None:
        found.append((v.end, f"Instal created {v.exports} exports for it: {', '.join(run.exports[v.sub.index])}"))
    lines = [f"{t:5.1f}s {text}" for t, text in sorted(found)]
    return lines + [f"  end: {where}" for where in broker.get(v.job_id, [])]


#: The job store's indexes the clock's sweep reads (the outbox exists once the store has one).
OUTBOX = "adops:jobs:unposted"
OPEN_INDEX = "adops:jobs:open"
NOWHERE = "in no queue and held by no worker"
DEAD_LETTERED = "dead-lettered"
#: How the broker's lines end for a message that will never run again.
GONE = (NOWHERE, DEAD_LETTERED)


def broker_snapshot(run: Run) -> dict[str, list[str]]:
    """Per job, the Dramatiq messages naming it still in Redis at the end, and where each is:
    queued, fetched by a worker (alive or dead by its heartbeat), or dead-lettered; then whether
    the store's sweep indexes (outbox, deadline) still hold it."""
    r = run.store
    out: dict[str, list[str]] = defaultdict(list)
    try:
        now_ms = time.time() * 1000
        beats = run.heartbeats() or {}
        where: dict[bytes, str] = {}
        for queue_name in (name for q in QUEUES for name in (q, f"{q}.DQ")):
            for mid in r.lrange(f"dramatiq:{queue_name}", 0, -1):
                where[mid] = f"queued on {queue_name}"
        for key in r.scan_iter(match="dramatiq:__acks__.*"):
            worker, _, queue_name = key.decode()[len("dramatiq:__acks__."):].partition(".")
            age = (now_ms - beats[worker]) / 1000 if worker in beats else None
            state = "alive" if age is not None and age < 2.0 else "dead"
            seen = f", heartbeat {age:.1f} s ago" if age is not None else ", no heartbeat"
            process = run.worker_ids.get(worker, worker[:8])
            for mid in r.smembers(key):
                where[mid] = f"fetched from {queue_name} by worker {process} ({state}{seen}) and never acked"
        for name, fallback in ((n, f) for q in QUEUES for n, f in ((q, NOWHERE), (f"{q}.DQ", NOWHERE), (f"{q}.XQ", DEAD_LETTERED))):
            for mid, body in r.hgetall(f"dramatiq:{name}.msgs").items():
                message = json.loads(body)
                args = message.get("args") or []
                job = next((a for a in args if isinstance(a, str) and JOB_ID.fullmatch(a)), None)
                if job is None:
                    continue
                eta = (message.get("options") or {}).get("eta")
                due = f", due {(eta - now_ms) / 1000:+.1f} s" if eta else ""
                call = f"{message.get('actor_name')}({', '.join(repr(a) for a in args)})"
                out[job].append(f"{call}{due}: {fallback if fallback == DEAD_LETTERED else where.get(mid, fallback)}")
        # The job store's own safety nets, where the clock's sweep finds what no message carries.
        now = time.time()
        for member, score in r.zrange(OUTBOX, 0, -1, withscores=True):
            out[member.decode()].append(f"in the outbox ({OUTBOX}), last publish try {now - score:.0f} s ago: "
                                        "the clock's sweep sends publish again once it has waited long enough")
        for member, score in r.zrange(OPEN_INDEX, 0, -1, withscores=True):
            when = f"passed {now - score:.0f} s ago" if score <= now else f"in {score - now:.0f} s"
            out[member.decode()].append(f"in the deadline index ({OPEN_INDEX}, deadline {when}): "
                                        "the clock's sweep fails it once it is overdue")
    except redis.RedisError as exc:
        out["*"].append(f"the broker could not be read: {exc}")
    return out


def log_lines(run: Run, job_id: str, limit: int = 12) -> list[str]:
    lines = []
    for log in sorted(run.logdir.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if job_id in line:
                lines.append(f"{log.name}: {line[:240]}")
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


# -- the plan ---------------------------------------------------------------------------------------------


def vendor(key: str, target: str | None, vendor_: str, op: str, kind: str, **options: Any) -> Fault:
    return Fault(key, "vendor", target, before=lambda run: run.inject(key, vendor_, op, kind, **options))


def slack_error(key: str, method: str, error: str, **options: Any) -> Fault:
    return Fault(key, "slack", None, before=lambda run: run.fail_slack(key, method, error, **options))


FAULTS: list[Fault] = [
    vendor("instal.create 429 with Retry-After 1", "instal", "instal", "create", "status", status=429, retry_after=1),
    vendor("24metrics filter groups 503", "filters", "24metrics", "filter_groups.list", "status", status=503),
    slack_error("chat.postMessage 429 x2", "chat.postMessage", "ratelimited", count=2),
    Fault("kill the worker publishing an export", "worker", "instal",
          after=lambda run, sub: run.kill_on_slack_hold("kill the worker publishing an export", sub, "chat.update")),
    vendor("instal.retrieve 503 x2", None, "instal", "retrieve", "status", status=503, count=2),
    vendor("24metrics click table 429 with Retry-After 1", "fraud", "24metrics", "report.click", "status", status=429,
           retry_after=1),
    Fault("kill the worker publishing a task", "worker", "filters",
          after=lambda run, sub: run.kill_on_slack_hold("kill the worker publishing a task", sub, "chat.postMessage")),
    vendor("instal.create 429 without Retry-After", "instal", "instal", "create", "status", status=429,
           no_retry_after=True),
    slack_error("chat.update 429 x3", "chat.update", "ratelimited", count=3),
    Fault("a person deletes the progress message (1)", "person", "instal",
          after=lambda run, sub: run.delete_progress("a person deletes the progress message (1)", sub)),
    vendor("24metrics filter groups 429 without Retry-After", "filters", "24metrics", "filter_groups.list", "status",
           status=429, no_retry_after=True),
    Fault("kill the worker requesting an export", "worker", "instal",
          before=lambda run: run.kill_on_hold("kill the worker requesting an export", "instal", "create")),
    vendor("instal.retrieve malformed body", None, "instal", "retrieve", "malformed"),
    vendor("24metrics conversion table 502", "fraud", "24metrics", "report.conversion", "status", status=502),
    slack_error("chat.postMessage internal_error", "chat.postMessage", "internal_error"),
    vendor("instal.create 500", "instal", "instal", "create", "status", status=500),
    Fault("redis hung 4 s", "redis", None, before=lambda run: run.hang_redis("redis hung 4 s", 4.0)),
    vendor("24metrics filter groups timeout", "filters", "24metrics", "filter_groups.list", "timeout", delay=TIMEOUT_HOLD),
    vendor("instal.create connection dropped", "instal", "instal", "create", "drop"),
    Fault("kill the worker polling an export", "worker", None,
          before=lambda run: run.kill_on_hold("kill the worker polling an export", "instal", "retrieve")),
    slack_error("chat.update message_not_found (message exists)", "chat.update", "message_not_found"),
    vendor("24metrics click table malformed body", "fraud", "24metrics", "report.click", "malformed"),
    vendor("instal.retrieve connection dropped", None, "instal", "retrieve", "drop"),
    Fault("kill the worker running a task", "worker", "filters",
          before=lambda run: run.kill_on_hold("kill the worker running a task", "24metrics", "filter_groups.list")),
    vendor("instal.create export ERROR", "instal", "instal", "create", "failed"),
    vendor("24metrics filter groups connection dropped", "filters", "24metrics", "filter_groups.list", "drop"),
    Fault("redis killed and restarted", "redis", None, before=lambda run: run.kill_redis("redis killed and restarted", 2.0)),
    slack_error("chat.postMessage channel_not_found", "chat.postMessage", "channel_not_found"),
    vendor("instal.create timeout (vendor builds it anyway)", "instal", "instal", "create", "timeout", delay=TIMEOUT_HOLD),
    vendor("24metrics click table connection dropped", "fraud", "24metrics", "report.click", "drop"),
    vendor("instal.retrieve timeout", None, "instal", "retrieve", "timeout", delay=TIMEOUT_HOLD),
    Fault("a person deletes the progress message (2)", "person", "instal",
          after=lambda run, sub: run.delete_progress("a person deletes the progress message (2)", sub)),
    Fault("kill a worker holding delayed polls", "worker", None,
          before=lambda run: run.kill_with_polls_in_hand("kill a worker holding delayed polls")),
    vendor("24metrics filter groups malformed body", "filters", "24metrics", "filter_groups.list", "malformed"),
    slack_error("chat.update fatal_error HTTP 500 x3", "chat.update", "fatal_error", status=500, count=3),
    vendor("instal.retrieve export FAILURE", None, "instal", "retrieve", "failed"),
    vendor("24metrics conversion table timeout", "fraud", "24metrics", "report.conversion", "timeout", delay=TIMEOUT_HOLD),
]


# -- report --------------------------------------------------------------------------------------------------

BUCKETS = ("delivered once", "failed with a reason", "lost", "duplicated", "other")
SHORT = {"delivered once": "delivered", "failed with a reason": "failed", "lost": "**LOST**",
         "duplicated": "**DUPLICATED**", "other": "**other**"}


def report(
    run: Run, verdicts: list[Verdict], seconds: float, unsettled: str, broker: dict[str, list[str]]
) -> tuple[str, dict[str, Any]]:
    """The markdown for RESULTS.md, and the same as data (with each bad job's logs) for --json."""
    counts = Counter(v.bucket for v in verdicts)
    refused = [s for s in run.subs if s.job_id is None]
    unacked = [v for v in verdicts if v.sub is None]
    stale = [v for v in verdicts if v.stale_progress and v.outcomes]
    kinds = Counter(s.kind for s in run.subs)
    bucket_of = {v.job_id: v.bucket for v in verdicts}
    lines = [
        "| jobs started | delivered once | failed with a reason | lost | duplicated | other | seconds |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        (f"| {len(verdicts)} | {counts['delivered once']} | {counts['failed with a reason']} | **{counts['lost']}** | "
         f"**{counts['duplicated']}** | {counts['other']} | {seconds:.0f} |"),
        "",
        (f"- commands: {len(run.subs)} ({kinds['instal']} `export instal <day>`, {kinds['filters']} `filters`, "
         f"{kinds['fraud']} `fraud yesterday`); *seconds* is from the first command until every job had settled "
         "(or the bound)"),
        f"- not queued, and the person was told so (not jobs): {len(refused)}"
        + "".join(f"\n  - #{s.index} `{s.text}` at {s.t:.1f} s: {s.answer[:110]}" for s in refused),
        f"- jobs in the store that the ingress never acknowledged (counted above): {len(unacked)}",
        f"- outcomes shown beside a progress message that still says the job runs: {len(stale)}"
        + (f" ({', '.join(v.job_id for v in stale)})" if stale else ""),
        f"- settled before the bound: {'no: ' + unsettled if unsettled else 'yes'}",
    ]
    fault_rows = ["| fault | family | struck | jobs it struck, and how each ended |", "|---|---|---:|---|"]
    not_fired = []
    for fault in FAULTS:
        struck, jobs = fault_jobs(run, fault, verdicts)
        if struck == 0:
            not_fired.append(fault.key)
        shown = ", ".join(f"`{j}` {SHORT.get(bucket_of.get(j, ''), '?')}" for j in jobs[:6])
        shown += f" and {len(jobs) - 6} more" if len(jobs) > 6 else ""
        fault_rows.append(f"| {fault.key} | {fault.family} | {struck} | {shown or '-'} |")
    with run.lock:
        broken = list(run.not_fired)
    not_fired = list(dict.fromkeys(not_fired + broken))
    bad = [v for v in verdicts if v.bucket not in ("delivered once", "failed with a reason")]
    paths = {v.job_id: path_of(run, v, broker) for v in bad}
    bad_rows = ["| job | kind | verdict | why | what happened on its way |", "|---|---|---|---|---|"]
    bad_rows += [f"| `{v.job_id}` | {v.kind} | **{v.bucket}** | {v.why} | "
                 f"{'<br>'.join(p.strip() for p in paths[v.job_id]) or '-'} |" for v in bad]
    failed = [f"- `{v.job_id}` ({v.kind}): {v.why[:200]}" for v in verdicts if v.bucket == "failed with a reason"]
    body = "\n".join([
        *lines, "",
        "Faults, in the order they were set off (*struck*: requests, calls or processes it hit):", "",
        *fault_rows, "",
        ("**Faults that never struck, so tested nothing:** " + "; ".join(not_fired)) if not_fired
        else "Every fault struck.", "",
        "Jobs that failed with a reason:", "", *(failed or ["(none)"]), "",
        "Jobs lost, duplicated or other:", "", *(bad_rows if bad else ["(none)"]),
    ])
    details = [
        f"### {v.job_id} ({v.kind}, `{v.sub.text if v.sub else 'never acknowledged'}`): {v.bucket}\n{v.why}\n"
        + "\n".join(f"  {p}" for p in paths[v.job_id]) + "\n  logs naming it:\n"
        + "\n".join(f"    {line}" for line in log_lines(run, v.job_id) or ["(none)"])
        for v in bad
    ]
    result = {
        "jobs_started": len(verdicts),
        **{b.replace(" ", "_"): counts[b] for b in BUCKETS},
        "seconds": round(seconds, 1),
        "not_queued": len(refused),
        "unacked_jobs": len(unacked),
        "stale_progress": len(stale),
        "unsettled_at_bound": unsettled,
        "not_fired": not_fired,
        "bad": [{"job": v.job_id, "kind": v.kind, "verdict": v.bucket, "why": v.why, "path": paths[v.job_id]}
                for v in bad],
        "details": details,
    }
    return body + "\n", result


# -- main ------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=60, help="commands to send (default 60)")
    parser.add_argument("--spread", type=float, default=36.0, help="seconds over which they are sent (default 36)")
    parser.add_argument("--patience", type=float, default=35.0,
                        help="seconds after the last command for every job to settle (default 35)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--json", type=Path, help="also write the counts and the bad jobs here, as JSON")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory")
    parser.add_argument("--quiet", action="store_true", help="no running commentary")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= 900:
        parser.error("--jobs must be 1..900")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="adops-faults-") as tmp:
        workdir = Path(tmp)
        logdir = args.logs or workdir / "logs"
        logdir.mkdir(parents=True, exist_ok=True)
        run = Run(workdir, logdir, jobs=args.jobs, spread=args.spread, patience=args.patience, quiet=args.quiet)
        try:
            run.start()
            run.say(f"processes up in {time.monotonic() - started:.1f} s; sending {args.jobs} commands over {args.spread:g} s")
            last = run.drive(FAULTS)
            settled, unsettled = run.settle(last)
            run.say("counting")
            broker = broker_snapshot(run)
            verdicts = classify(run, broker)
            text, result = report(run, verdicts, settled, unsettled, broker)
        finally:
            run.stop()
    details = result.pop("details")
    print("\n" + text)
    if details:
        print("Lost, duplicated or other, in detail:\n\n" + "\n\n".join(details), flush=True)
    print(f"\n(whole run, with start-up and teardown: {time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({**result, "report": text, "details": details}, indent=2))
    if not args.no_write:
        update_results("faults", "No job lost or doubled under faults (`bench/faults.py`)", _setup_note(args) + "\n\n" + text)
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["other"] == 0 and not result["not_fired"]
    return 0 if ok else 1


def _setup_note(args: argparse.Namespace) -> str:
    return (
        f"Setup: {args.jobs} commands over {args.spread:g} s through `adops web`, two `adops worker` processes "
        f"({WORKER_THREADS} threads each), `adops clock`, redis-server with AOF (`appendfsync always`), the fake "
        f"Slack and the vendor sandbox (Instal builds an export in {READY_AFTER:g} s); "
        "`ADOPS_BROKER_HEARTBEAT_MS=2000 ADOPS_BROKER_MAINTENANCE_CHANCE=1000000 "
        f"ADOPS_VENDOR_TIMEOUT={VENDOR_TIMEOUT} ADOPS_EXPORT_DEADLINE={EXPORT_DEADLINE}`. How a job is classified: "
        "the docstring of `bench/faults.py`."
    )


if __name__ == "__main__":
    raise SystemExit(main())

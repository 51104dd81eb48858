"""Prometheus metrics of every process, all declared here, served by the web's ``GET /metrics``.

A scrape reaches one gunicorn worker, yet the jobs ran in Dramatiq's worker processes and the
digests fired in the clock: so every process writes its values to files in one directory,
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), and ``/metrics`` adds up the
files of every process on the machine. ``adops web|worker|clock|socket`` choose the directory
(:func:`use_multiprocess`) before they fork or exec. Without it (the console, tests in one
process) the values live in the process and ``/metrics`` reads them there.

Every metric has labels, so no value exists before its first use: that is what lets
:func:`use_multiprocess` switch prometheus_client to files after this module was imported.
Queue depths are read from Redis at scrape time (:class:`QueueCollector`), never counted.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from workers.digests.store import by_state

__all__ = [
    "CONTENT_TYPE_LATEST", "ENV", "DigestCollector", "QueueCollector", "exposition", "job_ended", "retry_counter",
    "use_multiprocess", "vendor_hooks", "vendor_unanswered", "worker_exited",
]

#: prometheus_client's own variable: its value class reads it.
ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(ENV):
    # A process started without ``adops`` (``dramatiq workers.entry`` by hand) but given the
    # variable: a missing directory would make every count raise, and fail the step it is in.
    os.makedirs(os.environ[ENV], exist_ok=True)

JOBS = Counter("adops_jobs", "Jobs that ended, by kind, vendor and final state (counted once a job).",
               ["kind", "vendor", "state"])
JOB_SECONDS = Histogram("adops_job_duration_seconds", "Seconds from a job's creation to its final state.",
                        ["kind", "vendor"], buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200))
VENDOR_REQUESTS = Counter("adops_vendor_requests", "Vendor HTTP requests by vendor, operation and status (the "
                          "answer's, or timeout, connect_error, broken for none).",
                          ["vendor", "operation", "status"])
VENDOR_SECONDS = Histogram("adops_vendor_request_duration_seconds",
                           "Seconds until a vendor's answer's headers arrived, or the request failed.",
                           ["vendor", "operation"],
                           buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60))
RETRIES = Counter("adops_step_retries", "Steps run again later: Dramatiq's retries and Slack's come-back-later.",
                  ["actor", "reason"])
SLACK_CALLS = Counter("adops_slack_calls", "Slack Web API and response_url calls, by method and outcome.",
                      ["method", "outcome"])
SLACK_RATELIMITED = Counter("adops_slack_ratelimited", "Slack answers 429 (rate limited), by method.", ["method"])
DIGEST_TICKS = Counter("adops_digest_ticks", "Digest runs the clock sent (fired), gave up as too late (missed) "
                       "or could not send (broken).", ["outcome"])
DIGEST_RUNS = Counter("adops_digest_runs", "Digest runs that ended: delivered (posted), skipped (skip-empty found "
                      "nothing), failed, cancelled; once a run.", ["outcome"])
WEB_REQUESTS = Counter("adops_web_requests", "HTTP requests the web processes received, by route.", ["route"])
FILES_BUILT = Counter("adops_files_built", "Files the bot built (build engine), by vendor.", ["vendor"])
FILE_BYTES = Counter("adops_file_bytes", "Bytes of the files the bot built, by vendor.", ["vendor"])

_ALL = (JOBS, JOB_SECONDS, VENDOR_REQUESTS, VENDOR_SECONDS, RETRIES, SLACK_CALLS, SLACK_RATELIMITED, DIGEST_TICKS,
        DIGEST_RUNS, WEB_REQUESTS, FILES_BUILT, FILE_BYTES)
#: The web's routes; anything else is "other" (a scanner's guesses must not make a series each).
ROUTES = ("/slack/events", "/healthz", "/metrics", "/files/")


# -- recording -----------------------------------------------------------------------------------

def job_ended(kind: str, vendor: str, state: str, seconds: float) -> None:
    JOBS.labels(kind or "unknown", vendor or "none", state).inc()
    JOB_SECONDS.labels(kind or "unknown", vendor or "none").observe(max(0.0, seconds))


_ID = re.compile(r"[^/]*\d[^/]*")


def operation(method: str, path: str) -> str:
    """``GET /v2/exports/:id``: a path segment with a digit in it is an id or a date, so one
    operation is one series however many exports there are."""
    return f"{method} {_ID.sub(':id', path)}"


def vendor_hooks(vendor: str) -> dict[str, list[Callable[..., Any]]]:
    """httpx event hooks counting every answer of ``vendor`` with its latency (to the headers:
    a streamed body is read by the step at its own pace). ``vendor`` is the display name the
    client says in messages; the label is the registry name, as on ``adops_jobs_total``."""

    def started(request: httpx.Request) -> None:
        request.extensions["adops_started"] = time.monotonic()

    def answered(response: httpx.Response) -> None:
        _vendor_request(vendor, response.request, str(response.status_code))

    return {"request": [started], "response": [answered]}


def vendor_unanswered(vendor: str, request: httpx.Request, outcome: str) -> None:
    """A request of ``vendor`` that got no answer (``timeout``, ``connect_error``, ``broken``),
    counted with the time it took to fail; one whose answer was counted already (a body that
    broke off after its headers) is not counted twice."""
    if not request.extensions.get("adops_counted"):
        _vendor_request(vendor, request, outcome)


def _vendor_request(vendor: str, request: httpx.Request, status: str) -> None:
    request.extensions["adops_counted"] = True
    vendor, op = vendor.lower(), operation(request.method, request.url.path)
    VENDOR_REQUESTS.labels(vendor, op, status).inc()
    began = request.extensions.get("adops_started")
    if isinstance(began, float):
        VENDOR_SECONDS.labels(vendor, op).observe(time.monotonic() - began)


def retry_counter(actor: str, decide: Callable[[int, BaseException], bool]) -> Callable[[int, BaseException], bool]:
    """``actor``'s Dramatiq ``retry_when``, counting the retries it grants by exception."""

    def retry_when(retries: int, exc: BaseException) -> bool:
        again = decide(retries, exc)
        if again:
            counted_retry(actor, type(exc).__name__)
        return again

    return retry_when


def counted_retry(actor: str, reason: str) -> None:
    RETRIES.labels(actor, reason).inc()


def slack_call(method: str, outcome: str) -> None:
    SLACK_CALLS.labels(method, outcome).inc()
    if outcome == "ratelimited":
        SLACK_RATELIMITED.labels(method).inc()


def web_request(path: str) -> None:
    WEB_REQUESTS.labels(next((r.rstrip("/") for r in ROUTES if path == r or path.startswith(r) and r.endswith("/")),
                             "other")).inc()


def file_built(vendor: str, size: int) -> None:
    FILES_BUILT.labels(vendor).inc()
    FILE_BYTES.labels(vendor).inc(size)


# -- processes -----------------------------------------------------------------------------------

def default_dir() -> Path:
    # Per user: another account's directory on a shared machine is not ours to write or clear.
    return Path(tempfile.gettempdir()) / f"adops-metrics-{os.getuid()}"


def use_multiprocess(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Make this process and every process it forks or execs write its values to the shared
    directory (``PROMETHEUS_MULTIPROC_DIR``, or :func:`default_dir`). The first adops process on
    the machine clears what a previous run left; a later one (a web beside running workers)
    keeps the files, or the running processes' counts would drop."""
    if any(metric._metrics for metric in _ALL):  # type: ignore[attr-defined]
        raise RuntimeError("use_multiprocess() must run before any metric is recorded")
    path = Path(environ.get(ENV) or default_dir())
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting together: one clears, the other sees its mark
        if not any(_alive(pid) for pid in _pids(path)):
            for stale in [*path.glob("*.db"), *path.glob("adops_*.pid")]:
                stale.unlink(missing_ok=True)
        (path / f"adops_{os.getpid()}.pid").touch()
    environ[ENV] = str(path)
    values.ValueClass = values.get_value_class()
    return path


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: as prometheus_client's docs ask, so a dead worker's live gauges go."""
    if os.environ.get(ENV):
        multiprocess.mark_process_dead(pid)


def _pids(path: Path) -> set[int]:
    found = set()
    for file in [*path.glob("*.db"), *path.glob("adops_*.pid")]:
        tail = file.stem.rpartition("_")[2]
        if tail.isdigit():
            found.add(int(tail))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


# -- scraping ------------------------------------------------------------------------------------

class QueueCollector:
    """Queue depths read from Dramatiq's Redis keys at scrape time: ``<ns>:<queue>`` lists the
    waiting message ids, ``<ns>:<queue>.msgs`` holds every body until it is acked (waiting and
    in a worker's hands), ``<queue>.DQ.msgs`` the delayed ones, ``<queue>.XQ`` the dead ones;
    and the open jobs from the job store's index."""

    def __init__(self, client: redis.Redis, broker: Any, open_index: str) -> None:
        self.redis = client
        self.broker = broker
        self.open_index = open_index

    def collect(self) -> Iterator[Metric]:
        namespace = getattr(self.broker, "namespace", None)
        if namespace is None:  # the console's in-memory broker has no Redis keys
            return
        queues = sorted(q for q in self.broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
        pipe = self.redis.pipeline(transaction=False)
        for queue in queues:
            base = f"{namespace}:{queue}"
            pipe.llen(base)
            pipe.hlen(f"{base}.msgs")
            pipe.hlen(f"{base}.DQ.msgs")
            pipe.zcard(f"{base}.XQ")
        pipe.zcard(self.open_index)
        try:
            answers = pipe.execute()
        except redis.RedisError:
            return  # Redis down: the other metrics still answer; /healthz says why
        families = {
            "depth": GaugeMetricFamily("adops_queue_depth", "Messages waiting in the queue.", labels=["queue"]),
            "in_flight": GaugeMetricFamily("adops_queue_in_flight", "Messages taken by a worker, not yet acked.",
                                           labels=["queue"]),
            "delayed": GaugeMetricFamily("adops_queue_delayed", "Delayed messages (retries, polls, paced posts).",
                                         labels=["queue"]),
            "dead": GaugeMetricFamily("adops_queue_dead", "Dead-lettered messages.", labels=["queue"]),
        }
        for index, queue in enumerate(queues):
            waiting, held, delayed, dead = (int(v) for v in answers[4 * index:4 * index + 4])
            families["depth"].add_metric([queue], waiting)
            families["in_flight"].add_metric([queue], max(0, held - waiting))
            families["delayed"].add_metric([queue], delayed)
            families["dead"].add_metric([queue], dead)
        yield from families.values()
        yield GaugeMetricFamily("adops_jobs_open", "Jobs not yet in a final state.", value=int(answers[-1]))


class DigestCollector:
    """Digests by state, read at scrape time with the function ``adops status`` uses."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        try:
            counts = by_state(self.redis, self.prefix)
        except redis.RedisError:
            return  # as the queues: the other metrics still answer
        family = GaugeMetricFamily("adops_digests", "Scheduled digests by state (active, paused).", labels=["state"])
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


class _Forward:
    """This process's own registry, for a scrape without multiprocess mode."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(client: redis.Redis, broker: Any, prefix: str) -> bytes:
    """The text a scrape returns: every process's metrics (or this one's), the queues and the
    digests (``prefix``: the job store's, which the digests share)."""
    registry = CollectorRegistry()
    if os.environ.get(ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward())  # type: ignore[arg-type]
    registry.register(QueueCollector(client, broker, prefix + "jobs:open"))  # type: ignore[arg-type]
    registry.register(DigestCollector(client, prefix))  # type: ignore[arg-type]
    return generate_latest(registry)

"""``GET /metrics`` scraped and parsed with prometheus_client's own parser.

On the console's stack (one process, its own registry): after a mixed run (an export that meets
a vendor 429, a task, a cancel button, a digest fired by the clock's tick, a built file, a Slack
429) every listed metric is there and agrees with the job store, the vendor sandbox's and the
fake Slack's own counts. The counters are the process's, shared by the tests before, so what is
compared is how much each grew during the run.

With real processes (gunicorn with two workers, a Dramatiq worker): requests answered by
different gunicorn workers and jobs run in the worker process are all in one scrape (the
multiprocess directory), and the bearer token is required.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import Clock
from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import REPO, Stack, wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, queued_job

pytestmark = pytest.mark.heavy(20)  # seconds, about: gunicorn with two workers and a Dramatiq worker

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

LISTED = (
    "adops_jobs", "adops_job_duration_seconds", "adops_vendor_requests", "adops_vendor_request_duration_seconds",
    "adops_step_retries", "adops_slack_calls", "adops_slack_ratelimited", "adops_queue_depth", "adops_queue_in_flight",
    "adops_queue_delayed", "adops_queue_dead", "adops_jobs_open", "adops_digest_ticks", "adops_digest_runs",
    "adops_files_built", "adops_file_bytes", "adops_web_requests", "adops_digests",
)


def scrape(http: httpx.Client, **headers: str) -> tuple[set[str], Samples]:
    response = http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families, samples = set(), {}
    for family in text_string_to_metric_families(response.text):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def test_a_mixed_run_shows_every_metric_consistent_with_the_job_store(stack: InProcessStack, slack: LocalSlack,
                                                                     vendor: Sandbox) -> None:
    assert stack.rt is not None
    _, before = scrape(stack.http)
    # A digest run fired by the clock's tick (on the clock's time, put back before other jobs).
    said = stack.command('digest add "0 9 * * *" account', user="UADMIN").json()["text"]
    digest = stack.rt.digests.get(said.split("`")[1])
    assert digest is not None
    stack.rt.clock = lambda: digest.next_at + 0.2
    Clock(stack.rt, "test").tick()
    stack.wait_idle()
    stack.rt.clock = time.time
    # An export whose first request meets a 429: retried after Retry-After, then delivered.
    vendor.inject("instal", "create", "status", status=429, retry_after=1)
    export = queued_job(stack.command("export instal 2026-11-01..2026-11-02"))
    # A task, and a file built by the build engine.
    task = queued_job(stack.command("account"))
    build = queued_job(stack.command("export adspect clicks 2026-11-01..2026-11-01 columns=click_id"))
    for job_id in (export, task, build):
        stack.wait_job(job_id, ("delivered",))
    stack.wait_idle()
    # A button: cancel an export that is waiting for the vendor; its first post meets Slack's 429.
    vendor.set_ready_after(30)
    slack.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    cancelled = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(cancelled, ("waiting",))
    message = slack.wait_for(lambda: next(iter(job_messages(slack, cancelled)), None))
    stack.click("job_cancel", cancelled, message_ts=message.ts,
                response_url=slack.response_url(CHANNEL, "UALICE", message_ts=message.ts))
    stack.wait_job(cancelled, ("cancelled",))
    wait_until(lambda: all(stack.job(j).get("outcome_posted") == "1" for j in (export, task, build, cancelled)),
               what="every outcome posted")
    # (The cancelled job keeps one delayed message: its outcome painted again after a late edit.)

    families, after = scrape(stack.http)
    assert set(LISTED) <= families, set(LISTED) - families
    # Jobs: by kind, vendor and final state, exactly the jobs this run left in the store.
    jobs = [stack.job(k.decode().split(":")[-1]) for k in stack.redis.scan_iter("adops:job:*")]
    ended = Counter((j["kind"], j["vendor"], j["state"]) for j in jobs)
    assert sum(ended.values()) == 5 and ended[("export", "instal", "cancelled")] == 1
    for (kind, vendor_name, state), count in ended.items():
        assert grew(before, after, "adops_jobs_total", kind=kind, vendor=vendor_name, state=state) == count
    assert grew(before, after, "adops_jobs_total") == len(jobs)
    assert grew(before, after, "adops_jobs_total", state="delivered") == sum(j["state"] == "delivered" for j in jobs)
    assert grew(before, after, "adops_job_duration_seconds_count") == len(jobs)
    # Vendor requests: what the sandbox served, per vendor; the 429 among them; a latency each.
    served = Counter()
    for op, count in vendor.stats().items():
        served[op.split(".")[0]] += count
    for name, count in served.items():
        assert grew(before, after, "adops_vendor_requests_total", vendor=name) == count, name
    assert grew(before, after, "adops_vendor_requests_total", vendor="instal", status="429") == 1
    assert (grew(before, after, "adops_vendor_request_duration_seconds_count")
            == grew(before, after, "adops_vendor_requests_total"))
    assert grew(before, after, "adops_step_retries_total", actor="export_request", reason="StepRetry") == 1
    # Slack: every call the fake saw, by method, and the one 429.
    for method in ("chat.postMessage", "chat.update"):
        assert grew(before, after, "adops_slack_calls_total", method=method) == len(slack.calls_of(method)), method
    assert grew(before, after, "adops_slack_ratelimited_total", method="chat.postMessage") == 1
    assert grew(before, after, "adops_slack_calls_total", method="chat.postMessage", outcome="ratelimited") == 1
    # Digests: one fired by the tick, and its run delivered once.
    assert grew(before, after, "adops_digest_ticks_total", outcome="fired") == 1
    assert grew(before, after, "adops_digest_runs_total", outcome="delivered") == 1
    # The built file and its bytes.
    built = json.loads(stack.job(build)["result"])["file"]
    assert grew(before, after, "adops_files_built_total", vendor="adspect") == 1
    assert grew(before, after, "adops_file_bytes_total", vendor="adspect") == built["bytes"] == Path(built["path"]).stat().st_size
    # Queues read from Redis at scrape time: nothing waiting, the delayed ones as Redis holds them.
    assert after[("adops_queue_depth", (("queue", "adops"),))] == 0
    assert after[("adops_queue_delayed", (("queue", "adops"),))] == stack.redis.hlen("dramatiq:adops.DQ.msgs")
    assert after[("adops_jobs_open", ())] == 0


def test_queue_depth_counts_what_waits_and_what_is_delayed(make_stack: Callable[..., InProcessStack]) -> None:
    stack = make_stack()
    assert stack.rt is not None and stack.worker is not None
    stack.worker.stop(timeout=5_000)  # from now on nobody takes the messages
    stack.worker = None
    stack.command("export instal yesterday")
    stack.command("account")
    stack.rt.dispatch.publish("JNOSUCHJOB", delay=60)
    _, samples = scrape(stack.http)
    assert samples[("adops_queue_depth", (("queue", "adops"),))] == 2
    assert samples[("adops_queue_delayed", (("queue", "adops"),))] == 1
    assert samples[("adops_queue_in_flight", (("queue", "adops"),))] == 0
    assert samples[("adops_jobs_open", ())] == 2


def _web_requests_by_file(folder: Path) -> dict[str, float]:
    """Each process's own count of web requests, from its own file."""
    found = {}
    for file in folder.glob("counter_*.db"):
        for metric in MultiProcessCollector._read_metrics([str(file)]).values():  # type: ignore[attr-defined]
            for s in metric.samples:
                if s.name == "adops_web_requests_total":
                    found[file.name] = found.get(file.name, 0.0) + s.value
    return found


def test_two_gunicorn_workers_and_a_dramatiq_worker_are_counted_in_one_scrape(
        make_process_stack: Callable[..., Stack]) -> None:
    stack = make_process_stack(start=False, ADOPS_METRICS_TOKEN="scrape-me")
    stack.web = stack._spawn("web", "web", "--host", "127.0.0.1", "--port", str(stack.port), "--workers", "2")
    stack.webs.append(stack.web)  # stopped with the stack: it outlived every run of the suite
    wait_until(stack._healthy, timeout=30, what="the web process /healthz")
    stack.start_worker()
    folder = Path(stack.env["PROMETHEUS_MULTIPROC_DIR"])
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("delivered",))

    # A new connection a request, several at once: both workers answer some.
    def health(_: int) -> int:
        return httpx.get(stack.url + "/healthz", headers={"Connection": "close"}, timeout=10).status_code

    sent = 0

    def both_answered() -> bool:
        nonlocal sent
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(health, range(16))) == {200}
        sent += 16
        return len([n for n in _web_requests_by_file(folder).values() if n > 0]) >= 2

    wait_until(both_answered, timeout=20, what="requests answered by both gunicorn workers")
    refused = [httpx.get(stack.url + "/metrics", headers=h) for h in ({}, {"Authorization": "Bearer wrong"})]
    assert [r.status_code for r in refused] == [401, 401] and "adops_" not in refused[1].text
    response = httpx.get(stack.url + "/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert response.status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(response.text) for s in f.samples}
    by_file = _web_requests_by_file(folder)
    # One scrape adds up every worker's file (the scrape itself is counted before it answers).
    assert total(samples, "adops_web_requests_total", route="/healthz") >= sent
    assert total(samples, "adops_web_requests_total") == sum(by_file.values())
    # The job ran in Dramatiq's process; its end is in the web's scrape.
    assert total(samples, "adops_jobs_total", kind="export", vendor="instal", state="delivered") == 1
    assert total(samples, "adops_vendor_requests_total", vendor="instal") >= 2


def _start_in(folder: Path) -> None:
    """What ``adops`` does at start, in a process of its own (it switches prometheus_client's mode)."""
    code = "from workers.metrics import use_multiprocess; use_multiprocess()"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True, timeout=30)


def test_the_first_process_clears_a_previous_runs_files_and_a_later_one_keeps_them(tmp_path: Path) -> None:
    dead = 2**22 + 1  # above Linux's default pid_max: no such process
    (tmp_path / f"counter_{dead}.db").write_bytes(b"old")
    _start_in(tmp_path)
    assert not (tmp_path / f"counter_{dead}.db").exists(), "nothing alive wrote it: a previous run's"
    # A process of this run is alive (this test's own pid stands for it): its files stay.
    (tmp_path / f"adops_{os.getpid()}.pid").touch()
    (tmp_path / f"counter_{dead}.db").write_bytes(b"of a gunicorn worker that exited in this run")
    _start_in(tmp_path)
    assert (tmp_path / f"counter_{dead}.db").exists()

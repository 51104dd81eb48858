"""Builds through the real stack (``workers.buildsteps``): a command, a plan, parts in parallel,
one CSV; with follow-up parts, a transient error mid-part, a cancel, lost messages, and a worker
process SIGKILLed mid-build. The builder is the throwaway Tally (``tests/throwaway/tally.py``),
whose rows are the numbers of a range: the output is complete with no row twice exactly when its
``n`` column is the range, in order."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from dramatiq import Worker

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import Stack, wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import job_messages, outcome_text, queued_job
from tests.throwaway.tally import WITH_TALLY, TallyApp
from workers import sweeper

PROGRESS = re.compile(r"window \d+ of \d+, [\d ]+ numbers so far")


@pytest.fixture(scope="module")
def tally() -> Iterator[Sandbox]:
    with Sandbox(apps=(TallyApp,)) as box:
        yield box


@pytest.fixture()
def env(tally: Sandbox, tmp_path: Path) -> dict[str, str]:
    tally.reset()
    return {"TALLY_API_KEY": tally.TOKEN, "TALLY_BASE_URL": tally.base_url("tally"),
            "ADOPS_FILES_DIR": str(tmp_path / "files"), "ADOPS_RETRY_BACKOFF": "0.1", "ADOPS_PROGRESS_INTERVAL": "0.1"}


@pytest.fixture()
def stack(make_stack: Callable[..., InProcessStack], env: dict[str, str]) -> InProcessStack:
    return make_stack(vendors=WITH_TALLY, **env)


def _numbers(path: Path) -> tuple[list[str], list[int]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        header = list(rows[0]) if rows else []
    return header, [int(r["n"]) for r in rows]


def _csv(job: dict[str, str]) -> Path:
    result = json.loads(job["result"])
    path = Path(result["file"]["path"])
    assert result["file"]["rows"] == result["rows"] and result["file"]["bytes"] == path.stat().st_size
    assert result["file"]["content_type"] == "text/csv" and result["file"]["name"] == path.name
    return path


def _requests(box: Sandbox) -> int:
    return box.stats().get("tally.numbers", 0)


def test_a_build_runs_its_parts_in_parallel_splits_what_is_over_the_cap_and_delivers_one_csv(
    stack: InProcessStack, tally: Sandbox, slack: LocalSlack, env: dict[str, str]
) -> None:
    # 8 windows of 40 (the last 20); 40 is over the cap of 25, so 7 windows are split in halves.
    job_id = queued_job(stack.command("tally start=0 stop=300 width=40 cap=25 page=10 pace=40"))
    job = stack.wait_job(job_id, ("delivered",))
    path = _csv(job)
    header, numbers = _numbers(path)
    assert numbers == list(range(300)), "every number once, in order"
    assert header == ["n", "kind", "square", "lucky"]  # known first, then one only some rows had
    assert path.parent == Path(env["ADOPS_FILES_DIR"]) / job_id
    assert (job["parts_total"], job["parts_done"], job["rows_done"]) == ("22", "22", "300")
    # 7 answers withheld over the cap, then 15 windows of 20 at 2 pages each.
    assert job["requests"] == "37" and _requests(tally) == 37
    assert httpx.get(tally.base_url("tally") + "/busiest").json()["busiest"] >= 2, "parts ran side by side"
    # The assembly removes the parts and the bookkeeping just after it marks the job delivered.
    parts = Path(env["ADOPS_FILES_DIR"]) / "parts" / job_id
    wait_until(lambda: not parts.exists(), timeout=10, what="part files removed")
    wait_until(lambda: not stack.redis.keys(f"adops:build:{job_id}:*"), timeout=10, what="and the bookkeeping")
    slack.wait_for(lambda: "Counted 300 numbers (even 150, odd 150)" in outcome_text(slack, job_id), timeout=10)
    assert "Windows over the cap were split." in outcome_text(slack, job_id)
    assert "/adops tally start=0 stop=300" in outcome_text(slack, job_id), "the job's own line is there"
    shown = [str(c.params.get("text")) for c in slack.calls_of("chat.postMessage") + slack.calls_of("chat.update")]
    assert shown[0] == "Tally 0..300: 8 windows to fetch"
    assert any(PROGRESS.search(s) for s in shown), shown
    assert len(job_messages(slack, job_id)) == 1


def test_a_part_retried_after_a_transient_error_writes_its_rows_once(stack: InProcessStack, tally: Sandbox) -> None:
    # Every page past a window's first fails once (503), after the pages before it were written.
    job_id = queued_job(stack.command("tally start=0 stop=60 width=30 page=10 flaky=1"))
    job = stack.wait_job(job_id, ("delivered",))
    assert _numbers(_csv(job))[1] == list(range(60))
    # Each window: a try that fails at page 2 (2 requests), one at page 3 (3), one whole (3).
    assert _requests(tally) == 2 * (2 + 3 + 3)
    assert job["retry_note"] == "" and job["rows_done"] == "60"
    assert "Tally answered 503" in stack.logs()


def test_a_cancelled_build_stops_asking_and_keeps_no_files(
    stack: InProcessStack, tally: Sandbox, slack: LocalSlack, env: dict[str, str]
) -> None:
    job_id = queued_job(stack.command("tally start=0 stop=400 width=10 page=10 pace=150"))
    wait_until(lambda: int(stack.job(job_id).get("parts_done") or 0) >= 3, what="a few parts done")
    assert "Cancelled" in stack.command(f"jobs cancel {job_id}").json()["text"]
    at_cancel = _requests(tally)
    stack.wait_idle()
    assert stack.job(job_id)["state"] == "cancelled"
    assert _requests(tally) <= at_cancel + 4, "at most the requests already under way (4 threads)"
    assert _requests(tally) < 40
    files = Path(env["ADOPS_FILES_DIR"])
    assert not (files / "parts" / job_id).exists() and not (files / job_id).exists()
    assert not stack.redis.keys(f"adops:build:{job_id}:*")
    slack.wait_for(lambda: "was cancelled" in outcome_text(slack, job_id), timeout=10)


def test_a_refused_plan_is_answered_privately(stack: InProcessStack, tally: Sandbox) -> None:
    job_id = queued_job(stack.command("tally start=50 stop=10"))
    job = stack.wait_job(job_id, ("failed",))
    assert job["private"] == "1" and "Nothing to count" in job["error"]
    assert _requests(tally) == 0


def test_the_sweeper_sends_again_the_parts_a_broker_restart_lost(stack: InProcessStack, tally: Sandbox) -> None:
    job_id = queued_job(stack.command("tally start=0 stop=200 width=10 page=10 pace=100"))
    wait_until(lambda: int(stack.job(job_id).get("parts_done") or 0) >= 2, what="a few parts done")
    assert stack.worker is not None and stack.rt is not None
    stack.worker.stop(timeout=5_000)
    # The broker restarted without its data: every queued message of the build is gone.
    stack.redis.delete(*stack.redis.keys("dramatiq:*"))
    done = int(stack.job(job_id)["parts_done"])
    assert done < 20 and stack.job(job_id)["state"] == "requesting"
    sweeper.sweep(stack.rt, now=time.time() + 1_000)  # nothing moved for longer than ADOPS_RESCUE_AFTER
    stack.worker = Worker(stack.rt.broker, worker_threads=4, worker_timeout=100)
    stack.worker.start()
    job = stack.wait_job(job_id, ("delivered",))
    assert _numbers(_csv(job))[1] == list(range(200))
    assert "no part of its build moved" in stack.logs()


@pytest.mark.timeout(120)
def test_a_worker_sigkilled_mid_build_resumes_and_the_csv_has_every_row_once(
    make_process_stack: Callable[..., Stack], tally: Sandbox, env: dict[str, str], slack: LocalSlack, vendor: Sandbox,
) -> None:
    # A real Dramatiq worker process over the catalogue with Tally; the commands come through
    # the real Bolt app in this process (no worker thread here) on the same Redis database.
    stack = make_process_stack(start=False, ADOPS_BROKER_HEARTBEAT_MS="2000",
                               ADOPS_BROKER_MAINTENANCE_CHANCE="1000000", **env)
    ingress = InProcessStack(stack.redis_url, slack.api_url, vendor, vendors=WITH_TALLY, **env).start(worker=False)
    try:
        worker = stack.start_worker(entry="tests.throwaway.tallyworker")
        job_id = queued_job(ingress.command("tally start=0 stop=600 width=20 page=10 pace=100"))
        wait_until(lambda: int(stack.job(job_id).get("parts_done") or 0) >= 6, timeout=30,
                   what=lambda: f"parts done (logs:\n{stack.logs()[-3000:]})")
        stack.kill_worker(worker)  # parts in its hands die half-written
        killed_at = int(stack.job(job_id)["parts_done"])
        assert killed_at < 30
        stack.start_worker(entry="tests.throwaway.tallyworker")
        job = stack.wait_job(job_id, ("delivered",), timeout=60)
        assert _numbers(_csv(job))[1] == list(range(600)), "complete, and no window twice"
        assert job["parts_done"] == "30"
        # Tries that died count for nothing: the job counts the recorded ones, the vendor saw more.
        assert job["requests"] == "60" and _requests(tally) >= 60
        # The assembly removes the parts just after it marks the job delivered: a moment later here.
        parts = Path(env["ADOPS_FILES_DIR"]) / "parts" / job_id
        wait_until(lambda: not parts.exists(), timeout=10, what=f"{parts} removed")
    finally:
        ingress.stop()

"""JSON log lines (ADOPS_LOG_FORMAT=json): one object per line, naming the job on every line it
causes, so `grep job_id` follows one job from the ingress through each worker step, the vendor
request and the post to Slack; secrets masked as in text lines."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest

from devkit.slack import LocalSlack
from tests.harness import BOT_TOKEN, Stack, wait_until
from tests.inprocess import InProcessStack
from tests.test_digests_flow import add, at, digest_jobs
from tests.test_flow import queued_job
from workers import logcontext, status
from workers.logs import JsonLines, RedactSecrets

pytestmark = pytest.mark.heavy(20)  # seconds, about: a web and a worker process


class _JsonCapture(logging.Handler):
    """A handler set up as ``workers.logs.setup(fmt="json")`` sets up the process's own."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonLines())
        self.addFilter(RedactSecrets())
        self.addFilter(logcontext.AddContext())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in list(self.lines)]  # each line one JSON object, or this fails


@pytest.fixture()
def captured() -> Iterator[_JsonCapture]:
    handler = _JsonCapture()
    root = logging.getLogger()
    root.addHandler(handler)
    # The step lines, the vendor's request lines and Slack's are DEBUG: let them through here.
    loggers = [logging.getLogger(n) for n in ("workers", "slack_sdk", "dramatiq")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)


def test_grep_job_id_follows_one_export_from_ingress_to_publish(
    stack: InProcessStack, slack: LocalSlack, captured: _JsonCapture
) -> None:
    job_id = queued_job(stack.command("export instal 2026-11-01..2026-11-07 interval=daily"))
    stack.wait_job(job_id, ("delivered",))
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome posted")
    stack.wait_idle()

    lines = captured.parsed()
    mine = [line for line in lines if line.get("job_id") == job_id]
    for line in mine:  # every line the job caused carries all its fields
        assert (line["kind"], line["vendor"], line["user_id"], line["channel_id"]) == (
            "export", "instal", "UALICE", "CGENERAL"), line
        assert str(line["time"]).endswith("Z") and line["level"] and line["logger"], line
    said = [(str(line["logger"]), str(line["message"])) for line in mine]
    assert ("workers.submit", f"job {job_id} recorded: " + stack.job(job_id)["summary"]) in said, said
    steps = {m.split()[1] for lg, m in said if lg == "workers.logcontext" and m.startswith("step ")}
    # The poll that finds the export ready goes on to publish it (``Dispatch.publish_here``).
    assert {"export_request", "export_poll"} <= steps, steps
    # Dramatiq's own lines inside a step carry the job as well.
    assert any(lg == "workers.actors.export_poll" and m.startswith("Completed after") for lg, m in said), said
    assert any(lg == "workers.vendors.http" and m.startswith("Instal POST") for lg, m in said), said
    assert any(lg.startswith("slack_sdk") and "chat.postMessage" in m for lg, m in said), said
    assert any(lg.startswith("slack_sdk") and "chat.update" in m and "download the file" in m for lg, m in said), said
    # Lines of no job name none: the context does not leak from one request or step to the next.
    assert all("kind" not in line for line in lines if "job_id" not in line)
    # Slack's client logs its headers at DEBUG: the bot token is masked there, in JSON too.
    assert BOT_TOKEN not in "\n".join(captured.lines)


def test_a_secret_in_a_json_line_and_its_traceback_is_masked(captured: _JsonCapture) -> None:
    log = logging.getLogger("workers.test")
    with logcontext.scope(job_id="JTEST0001", kind="task"):
        try:
            raise RuntimeError("vendor said no to api_key=s3cr3tvalue42")
        except RuntimeError:
            log.exception("call with token=xoxb-1234-abcdef failed")
    line = captured.parsed()[-1]
    assert line["job_id"] == "JTEST0001" and line["kind"] == "task" and line["level"] == "ERROR"
    assert line["message"] == "call with token=*** failed"
    assert "RuntimeError: vendor said no to api_key=***" in str(line["exception"])
    assert "s3cr3tvalue42" not in captured.lines[-1] and "xoxb-1234" not in captured.lines[-1]


def test_a_digest_run_names_its_digest_and_then_its_job(stack: InProcessStack, captured: _JsonCapture) -> None:
    digest = add(stack, '"0 9 * * *" tz=Europe/Berlin account')
    at(stack, digest.next_at + 0.2).tick()
    stack.wait_idle()
    jobs = digest_jobs(stack, digest.id)
    assert len(jobs) == 1
    lines = [line for line in captured.parsed() if line.get("digest_id") == digest.id]
    fire = [line for line in lines if line["message"].startswith("step digest_fire")]  # type: ignore[union-attr]
    assert fire, lines
    # The run's job carries the digest on its own steps' lines too.
    assert any(line.get("job_id") == jobs[0]["id"] and "step task_run" in str(line["message"]) for line in lines), lines


def test_processes_write_json_lines(make_process_stack: Callable[..., Stack], slack: LocalSlack) -> None:
    """The real web and worker processes: their lines are JSON, and the job is in both logs."""
    stack = make_process_stack(ADOPS_LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    job_id = queued_job(stack.command("export instal 2026-11-01..2026-11-07 interval=daily"))
    stack.wait_job(job_id, ("delivered",))
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome posted")
    found: dict[str, set[str]] = {}
    for path in stack.logdir.glob("*.log"):
        process = path.name.split("-")[0]
        for raw in path.read_text().splitlines():
            if not raw.startswith("{"):
                continue  # Dramatiq's supervisor's own start/stop lines, before our set-up
            line = json.loads(raw)
            if line.get("job_id") == job_id:
                found.setdefault(process, set()).add(str(line["logger"]))
    assert "workers.submit" in found.get("web", set()), found
    # `adops worker` beats from the process Dramatiq forked: /healthz and `adops status` see it.
    alive = status.workers(stack.redis, "adops:", time.time())
    assert len(alive) == 1 and alive[0]["queues"] == ["adops"] and alive[0]["age_s"] < 10, alive
    assert {"workers.logcontext", "workers.vendors.http"} <= found.get("worker", set()), found


def test_the_clock_names_the_digest_on_its_lines(stack: InProcessStack, captured: _JsonCapture) -> None:
    digest = add(stack, '"0 9 * * *" tz=Europe/Berlin account')
    other = add(stack, '"0 10 * * *" tz=Europe/Berlin account')
    stack.redis.hset(f"adops:digest:{digest.id}", "cron", "not a schedule")  # its tick goes wrong
    at(stack, max(digest.next_at, other.next_at) + 0.2).tick()
    broken = [line for line in captured.parsed() if line["logger"] == "workers.digests.ticks" and line["level"] == "ERROR"]
    assert len(broken) == 1 and broken[0]["digest_id"] == digest.id and "exception" in broken[0], broken
    # The clock's own summary after the loop names no digest: the scope ended with the digest.
    summary = [line for line in captured.parsed() if str(line["message"]).startswith("clock tick:")]
    assert summary and all("digest_id" not in line for line in summary), summary


@pytest.fixture
def info_level() -> Iterator[None]:
    """A deployment's level (the capture lets DEBUG through): the step's own closing line is DEBUG."""
    logger = logging.getLogger("workers.logcontext")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)


def test_a_step_reads_its_jobs_fields_only_when_it_writes_a_line(captured: _JsonCapture, info_level: None) -> None:
    """Most steps of a job that goes well write nothing: they must not pay a Redis read for it."""
    reads: list[tuple[str, tuple[Any, ...]]] = []

    def lookup(name: str, args: tuple[Any, ...]) -> dict[str, str]:
        reads.append((name, args))
        return {"job_id": str(args[0]), "kind": "task"}

    context = logcontext.StepContext(lookup)
    message = dramatiq.Message(queue_name="adops", actor_name="task_run", args=("JQUIET01",), kwargs={}, options={})
    context.before_process_message(None, message)  # type: ignore[arg-type]
    context.after_process_message(None, message)  # type: ignore[arg-type]
    assert reads == []  # a step that said nothing
    noisy = dramatiq.Message(queue_name="adops", actor_name="task_run", args=("JNOISY01",), kwargs={}, options={})
    context.before_process_message(None, noisy)  # type: ignore[arg-type]
    log = logging.getLogger("workers.test")
    log.warning("first line")
    log.warning("second line")
    context.after_process_message(None, noisy)  # type: ignore[arg-type]
    log.warning("after the step")
    assert reads == [("task_run", ("JNOISY01",))]  # once, however many lines
    first, second, after = captured.parsed()[-3:]
    assert first["job_id"] == second["job_id"] == "JNOISY01" and first["kind"] == "task"
    assert "job_id" not in after

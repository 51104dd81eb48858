"""A vendor that is failing is visible: the retry, its real delay and which try it is, in the
progress message at once and in `/adops jobs`; one-shot tasks that take a while show progress;
raw vendor states and durations read as words."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import job_messages, outcome_text, queued_job

pytestmark = pytest.mark.heavy(12)  # seconds, about: retries waited for at their real delays

FAST = {"ADOPS_RETRY_BACKOFF": "0.2"}


def shown(slack: LocalSlack, job_id: str) -> list[str]:
    """Every version of the job's message the channel showed, in order (posts and edits)."""
    calls = slack.calls_of("chat.postMessage") + slack.calls_of("chat.update")
    return [json.dumps(c.params.get("blocks")) for c in sorted(calls, key=lambda c: c.time) if job_id in str(c.params)]


def test_a_503_is_shown_at_once_with_the_delay_and_the_try_then_cleared(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox
) -> None:
    stack = make_stack(ADOPS_RETRY_BACKOFF="1")  # waits of 1 s and 2 s (plus up to a quarter)
    vendor.set_ready_after(600)
    vendor.inject("instal", "create", "status", status=503, count=2)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("waiting",), timeout=30)
    # The channel heard of the trouble before Instal had the export, try by try ...
    versions = shown(slack, job_id)
    first = next(v for v in versions if "answered 503" in v)
    assert "Instal answered 503; trying again in 1 s, try 2 of 9" in first
    assert any("Instal answered 503; trying again in 2 s, try 3 of 9" in v for v in versions)
    # ... and once Instal answered, the progress message no longer says it is retrying.
    wait_until(lambda: "waiting for Instal" in outcome_text(slack, job_id) and "answered 503" not in outcome_text(
        slack, job_id), what="the progress message without the retry")
    job = stack.job(job_id)
    assert job["retry_note"] == "" and job["tries"] == "0"
    assert "answered 503" not in str(stack.command("jobs").json())


def test_jobs_shows_a_vendor_that_keeps_failing(make_stack: Callable[..., InProcessStack], slack: LocalSlack,
                                                vendor: Sandbox) -> None:
    stack = make_stack(**FAST)
    vendor.inject("24metrics", "filter_groups.list", "status", status=503, count=100)
    job_id = queued_job(stack.command("filters"))
    listed = wait_until(lambda: (t := str(stack.command("jobs").json())) and re.search(r"try [2-9] of 9", t) and t,
                        what="`jobs` to show the retry")
    assert "24Metrics answered 503; trying again" in listed and "asking the vendor" in listed
    assert "requesting" not in listed
    # A one-shot task that is retried shows its progress message too, with the same line.
    slack.wait_for(lambda: "24Metrics answered 503" in outcome_text(slack, job_id))
    stack.command(f"jobs cancel {job_id}")
    stack.wait_job(job_id, ("cancelled",))


def test_a_429_says_the_wait_the_vendor_asked_for(make_stack: Callable[..., InProcessStack], slack: LocalSlack,
                                                  vendor: Sandbox) -> None:
    stack = make_stack(**FAST)
    vendor.inject("instal", "create", "status", status=429, retry_after=2)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("delivered",), timeout=30)
    said = next(v for v in shown(slack, job_id) if "429" in v)
    assert "Instal asked us to slow down (429); trying again in 2 s, try 2 of 9" in said
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=15)


def test_a_task_that_takes_a_while_shows_progress_then_its_result_in_the_same_message(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox
) -> None:
    stack = make_stack(ADOPS_TASK_PROGRESS_AFTER="0.3", ADOPS_VENDOR_TIMEOUT="10")
    vendor.inject("24metrics", "filter_groups.list", "timeout", delay=2)  # slow, then answers
    job_id = queued_job(stack.command("filters"))
    stack.wait_job(job_id, ("delivered",), timeout=30)
    slack.wait_for(lambda: "in monitoring mode" in outcome_text(slack, job_id), timeout=15)
    versions = shown(slack, job_id)
    assert "asking 24Metrics" in versions[0], "the progress message came first"
    assert len(job_messages(slack, job_id)) == 1, "the result replaced it"


def test_vendor_states_and_durations_read_as_words(stack: InProcessStack, slack: LocalSlack,
                                                   vendor: Sandbox) -> None:
    vendor.set_ready_after(600)
    job_id = queued_job(stack.command("export instal yesterday"))
    text = slack.wait_for(lambda: (t := outcome_text(slack, job_id)) and "waiting for Instal" in t and t)
    assert "(waiting to start)" in text and "pending" not in text.lower()
    assert re.search(r"running \d+ s", text)
    assert "waiting for the file (waiting to start)" in str(stack.command("jobs").json())
    stack.command(f"jobs cancel {job_id}")

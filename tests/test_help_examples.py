"""Every example that help prints runs, as printed, against the sandbox: through the console's
stack (the real Bolt app, real actors on Redis, the fake Slack, the vendor sandbox), typed by an
admin, in the order help lists them. A usage error, a refusal, a failed job or a "not found"
fails the test; a state-changing example that posts a confirm button counts as done."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.builtin import build_registry
from devkit.slack import LocalSlack
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages
from workers.vendors.registry import CATALOGUE

ADMIN = "UADMIN"
JOB_ID = re.compile(r"Queued as job `(J[0-9A-Z]{8})`")
#: What an answer that is not a success says (usage errors carry their usage line).
TROUBLE = ("Usage:", "Unknown", "Only admins", "not allowed", "not configured", "not set up", "There is no", "Metrics has no",
           "No filter group", "matches", "Sorry")


def examples() -> list[str]:
    return [example for spec in build_registry(CATALOGUE).values() for example in spec.examples]


def test_every_help_example_runs_as_printed(make_stack: Callable[..., InProcessStack], slack: LocalSlack) -> None:
    # Typed one after another, faster than the per-minute limits allow a person.
    stack = make_stack(ADOPS_RATE_PER_USER="1000", ADOPS_RATE_PER_CHANNEL="1000")
    listed = examples()
    assert len(listed) > 15, listed
    exports: dict[str, str] = {}
    for example in listed:
        body = stack.command(example, user=ADMIN).json()
        # The fallback text says what the answer is; help's blocks may quote any word.
        assert not any(word in body["text"] for word in TROUBLE), (example, body["text"])
        queued = JOB_ID.search(body["text"])
        if queued is None:
            continue  # answered at once (help, jobs)
        job_id = queued.group(1)
        if stack.job(job_id)["kind"] == "export":
            exports[job_id] = example  # exports take a few polls: waited for together below
            continue
        _ended_well(stack, slack, job_id, example)
    for job_id, example in exports.items():
        _ended_well(stack, slack, job_id, example)


def _ended_well(stack: InProcessStack, slack: LocalSlack, job_id: str, example: str) -> None:
    job = stack.wait_job(job_id, ("delivered", "failed", "cancelled"), timeout=60)
    assert job["state"] == "delivered", (example, job.get("error"))
    job = wait_until(lambda: (found := stack.job(job_id)).get("outcome_posted") == "1" and found,
                     timeout=30, what=f"the outcome of {example!r} to be shown")
    # What the channel and the person were shown, by the messages' own texts (their blocks
    # quote vendor data, which may hold any word).
    shown = [m.text for m in slack.messages(CHANNEL) if m.ts and m.ts == job.get("message_ts")]
    shown += [m.text for m in job_messages(slack, job_id, CHANNEL)]
    shown += [m.text for m in slack.messages(CHANNEL) if m.ephemeral and job_id in m.text + str(m.blocks)]
    assert shown, (example, "nothing was shown")
    assert not [text for text in shown if any(word in text for word in TROUBLE)], (example, shown)

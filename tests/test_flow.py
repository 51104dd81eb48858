"""End to end: signed HTTP into the real web server, a real Dramatiq worker on a private Redis,
the fake Slack and the vendor sandbox, all on loopback."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.harness import Stack, wait_until
from tests.inprocess import InProcessStack

pytestmark = pytest.mark.heavy(40)  # seconds, about: a killed worker, deadlines and retries

CHANNEL = "CGENERAL"
JOB_ID = re.compile(r"J[0-9A-Z]{8}")


def queued_job(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response_type"] == "ephemeral"
    match = JOB_ID.search(body["text"])
    assert match and "Queued as job" in body["text"], body
    return match.group(0)


def job_messages(slack: LocalSlack, job_id: str, channel: str = CHANNEL) -> list[Message]:
    return [m for m in slack.messages(channel) if job_id in m.text + str(m.blocks) and not m.ephemeral]


def outcome_text(slack: LocalSlack, job_id: str, channel: str = CHANNEL) -> str:
    """What the job's one message shows now ("" before it is posted); a second message fails."""
    messages = job_messages(slack, job_id, channel)
    assert len(messages) <= 1, [m.text for m in messages]
    return str(messages[0].blocks) if messages else ""


def test_export_is_posted_once_and_updated_in_place(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.set_ready_after(2.0)
    # How fast the ack comes is measured in bench/, not here.
    job_id = queued_job(stack.command("export instal 2026-11-01..2026-11-07 interval=daily"))

    # The progress message shows up and moves through the states before the result replaces it.
    slack.wait_for(lambda: job_messages(slack, job_id), timeout=15)
    job = stack.wait_job(job_id, ("delivered",))
    message = slack.wait_for(
        lambda: next((m for m in job_messages(slack, job_id) if "download the file" in str(m.blocks)), None), timeout=15
    )
    assert len(job_messages(slack, job_id)) == 1, "one message, edited in place"
    assert message.edited >= 1
    blocks = str(message.blocks)
    assert "/files/instal/" in blocks and "2026-11-01..2026-11-07" in blocks and "<@UALICE>" in blocks
    assert "Cancel" not in blocks, "a finished job has no cancel button"
    posts = [c for c in slack.calls_of("chat.postMessage") if job_id in str(c.params)]
    assert len(posts) == 1
    shown = [str(c.params.get("blocks")) for c in slack.calls_of("chat.postMessage") + slack.calls_of("chat.update")
             if job_id in str(c.params)]
    assert "waiting for Instal" in shown[0], "the progress message appears once Instal has the export"
    assert vendor.stats().get("instal.create") == 1
    assert int(job["polls"]) >= 1
    # The vendor got exactly what was asked for.
    assert job["params"] and '"start_date":"2026-11-01"' in job["params"] and '"stop_date":"2026-11-07"' in job["params"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export instal 2026-13-01", "/adops export instal &lt;range&gt;"),
        ("export instal yesterday interval=weekly", "interval"),
        ("export instal yesterday colour=blue", "colour"),
        ("exprot instal yesterday", "Did you mean `export`"),
        ("export instal", "/adops export instal &lt;range&gt;"),
        ("jobs cancel nope", "/adops jobs cancel"),
    ],
)
def test_usage_errors_answer_at_once_and_enqueue_nothing(stack: InProcessStack, vendor: Sandbox, text: str, expected: str) -> None:
    response = stack.command(text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert expected in body["text"], body["text"]
    assert not stack.redis.keys("adops:job:*")
    assert stack.redis.llen("dramatiq:adops") == 0
    assert vendor.stats().get("instal.create", 0) == 0


def test_any_text_reaches_the_parser_intact(stack: InProcessStack) -> None:
    # Bolt would read a form body containing the word "payload" as an interactivity payload.
    body = stack.command("help payload").json()
    assert "payload" in body["text"] and "Unknown" in body["text"]
    body = stack.command("help export instal").json()
    assert "interval=" in str(body)


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": "wrong-secret"},
        {"timestamp": int(time.time()) - 10 * 60},
    ],
    ids=["bad-signature", "stale-timestamp"],
)
def test_bad_or_stale_signatures_are_refused(stack: InProcessStack, vendor: Sandbox, tamper: dict[str, object]) -> None:
    response = stack.command("export instal yesterday", **tamper)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert not stack.redis.keys("adops:job:*")
    assert vendor.stats().get("instal.create", 0) == 0


def test_jobs_lists_the_callers_jobs_and_everyones(stack: InProcessStack, slack: LocalSlack) -> None:
    mine = queued_job(stack.command("export instal yesterday", user="UALICE"))
    theirs = queued_job(stack.command("export instal last7d", user="UBOB"))
    text = str(stack.command("jobs", user="UALICE").json())
    assert mine in text and theirs not in text
    text = str(stack.command("jobs all", user="UALICE").json())
    assert mine in text and theirs in text
    stack.wait_job(mine, ("delivered",))
    stack.wait_job(theirs, ("delivered",))
    assert "delivered" in str(stack.command("jobs", user="UALICE").json())


def test_cancel_from_the_keyboard(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.set_ready_after(30)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("waiting",))
    refused = stack.command(f"jobs cancel {job_id}", user="UMALLORY").json()["text"]
    assert "Only <@UALICE> or an admin" in refused
    assert stack.job(job_id)["state"] == "waiting"
    answer = stack.command(f"jobs cancel {job_id.lower()}").json()["text"]
    assert answer.startswith(f"Cancelled `{job_id}`")
    stack.wait_job(job_id, ("cancelled",))
    slack.wait_for(lambda: "was cancelled" in outcome_text(slack, job_id))
    polls = vendor.stats().get("instal.retrieve", 0)
    # The poll already scheduled still runs, sees the cancel, and ends the chain without asking.
    stack.wait_idle()
    assert vendor.stats().get("instal.retrieve", 0) == polls
    assert vendor.stats().get("instal.create") == 1
    assert "already ended" in stack.command(f"jobs cancel {job_id}").json()["text"]
    entries = stack.redis.xrange("adops:audit")
    assert len(entries) == 1 and entries[0][1][b"target"] == job_id.encode()
    assert entries[0][1][b"who"] == b"UALICE" and entries[0][1][b"before"] == b"waiting"


def test_cancel_button_double_click_applies_once(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.set_ready_after(30)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("waiting",))
    message = slack.wait_for(lambda: next(iter(job_messages(slack, job_id)), None))
    url = slack.response_url(CHANNEL, "UALICE", message_ts=message.ts)
    first = stack.click("job_cancel", job_id, message_ts=message.ts, response_url=url, action_ts="100.1")
    second = stack.click("job_cancel", job_id, message_ts=message.ts, response_url=url, action_ts="100.2")
    assert first.status_code == second.status_code == 200
    stack.wait_job(job_id, ("cancelled",))
    slack.wait_for(lambda: "was cancelled" in outcome_text(slack, job_id))
    assert len(stack.redis.xrange("adops:audit")) == 1


def test_cancel_button_without_rights_changes_nothing(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.set_ready_after(30)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("waiting",))
    url = slack.response_url(CHANNEL, "UMALLORY")
    stack.click("job_cancel", job_id, user="UMALLORY", response_url=url)
    refusal = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if m.ephemeral and "Only <@UALICE>" in m.text), None)
    )
    assert refusal.user == "UMALLORY"
    assert stack.job(job_id)["state"] == "waiting"
    assert not stack.redis.xrange("adops:audit")
    # An admin may.
    stack.click("job_cancel", job_id, user="UADMIN", response_url=slack.response_url(CHANNEL, "UADMIN"))
    stack.wait_job(job_id, ("cancelled",))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"op": "create", "kind": "status", "status": 400}, "Instal"),
        ({"op": "create", "kind": "status", "status": 401}, "an admin needs to check it"),
        ({"op": "create", "kind": "status", "status": 403}, "Instal"),
        ({"op": "retrieve", "kind": "status", "status": 404}, "Instal"),
        ({"op": "create", "kind": "failed"}, "Instal"),
        ({"op": "retrieve", "kind": "failed"}, "could not build the export"),
    ],
    ids=["400", "401", "403", "404-on-retrieve", "create-ERROR", "retrieve-FAILURE"],
)
def test_vendor_errors_end_the_job_with_a_clear_message(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, fault: dict[str, object], expected: str
) -> None:
    vendor.inject("instal", **fault)  # type: ignore[arg-type]
    job_id = queued_job(stack.command("export instal yesterday"))
    job = stack.wait_job(job_id, ("failed",))
    assert expected in job["error"]
    text = slack.wait_for(lambda: (t := outcome_text(slack, job_id)) and "failed" in t and t)
    assert expected in text
    assert "sandbox-token" not in text and "sandbox-token" not in stack.logs()


@pytest.mark.parametrize(
    "fault",
    [
        {"op": "create", "kind": "status", "status": 429, "retry_after": 1, "count": 2},
        {"op": "retrieve", "kind": "status", "status": 503, "count": 2},
        {"op": "retrieve", "kind": "malformed"},
        # A create that timed out is not simply sent again (it may have made an export): test_exports_once.py
        {"op": "retrieve", "kind": "timeout", "delay": 5},
    ],
    ids=["429-retry-after", "503", "malformed-json", "timeout"],
)
def test_transient_vendor_trouble_is_retried_to_success(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, fault: dict[str, object]
) -> None:
    vendor.inject("instal", **fault)  # type: ignore[arg-type]
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("delivered",), timeout=45)
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=15)


def test_vendor_that_keeps_failing_ends_failed_not_stuck(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    # Instal asks for 0.2 s each time: nine tries take under 2 s.
    vendor.inject("instal", "create", "status", status=503, count=100, retry_after=0.2)
    job_id = queued_job(stack.command("export instal yesterday"))
    job = stack.wait_job(job_id, ("failed",), timeout=60)
    assert "gave up after 9 tries" in job["error"] and "Instal" in job["error"]
    assert ".." not in job["error"] and "Instal's" not in job["error"]
    slack.wait_for(lambda: "gave up" in outcome_text(slack, job_id))


def test_job_past_its_deadline_ends_failed(make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox) -> None:
    stack = make_stack(ADOPS_EXPORT_DEADLINE="10")
    vendor.set_ready_after(600)
    job_id = queued_job(stack.command("export instal yesterday"))
    job = stack.wait_job(job_id, ("failed",), timeout=40)
    assert "had not finished the export after 10 s" in job["error"] and "'s dashboard" not in job["error"]
    slack.wait_for(lambda: "had not finished" in outcome_text(slack, job_id))


def test_private_channel_falls_back_to_the_response_url(stack: InProcessStack, slack: LocalSlack) -> None:
    slack.restrict_channel("CPRIVATE")
    url = slack.response_url("CPRIVATE", "UALICE")
    job_id = queued_job(stack.command("export instal yesterday", channel="CPRIVATE", response_url=url))
    stack.wait_job(job_id, ("delivered",))
    final = slack.wait_for(
        lambda: next((m for m in slack.messages("CPRIVATE") if "download the file" in str(m.blocks)), None)
    )
    assert final.via == "response_url" and not final.ephemeral
    assert len(slack.calls_of("response_url")) <= 5
    shown = [m for m in slack.messages("CPRIVATE") if job_id in str(m.blocks)]
    assert len(shown) == 1, "the result replaced the progress post"


def test_slack_rate_limits_delay_but_never_drop_or_double(stack: InProcessStack, slack: LocalSlack) -> None:
    slack.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=1)
    slack.fail_next("chat.update", "ratelimited", status=429, retry_after=1, count=3)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("delivered",))
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=20)
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome to be marked posted")
    assert len(job_messages(slack, job_id)) == 1
    refused = [c for c in slack.calls_of("chat.postMessage") + slack.calls_of("chat.update") if not c.ok]
    assert refused and all(c.error == "ratelimited" for c in refused), "Slack's 429s were met and outlived"


def test_double_submit_is_one_job(stack: InProcessStack, vendor: Sandbox) -> None:
    vendor.set_ready_after(5)
    first = queued_job(stack.command("export instal yesterday"))
    second = stack.command("export instal yesterday").json()["text"]
    assert "a moment ago" in second and first in second
    assert len(stack.redis.keys("adops:job:*")) == 1


def test_worker_killed_while_export_pending_delivers_exactly_once(
    make_process_stack: Callable[..., Stack], slack: LocalSlack, vendor: Sandbox
) -> None:
    stack = make_process_stack(start=False, ADOPS_BROKER_HEARTBEAT_MS="2000", ADOPS_BROKER_MAINTENANCE_CHANCE="1000000")
    stack.start_web()
    worker = stack.start_worker()
    # Not ready before the kill (a second or so after the export was made): only a poll that
    # outlived the killed worker can see it.
    vendor.set_ready_after(4)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("waiting",))
    # Its progress post done (a kill during a Slack edit is the fault suite's case: the outcome
    # is then painted again once the dead edit's 45 s are up), the next poll is now a delayed
    # message prefetched by this worker: kill it without mercy.
    wait_until(lambda: stack.job(job_id).get("last_render"), what="the progress post recorded")
    stack.kill_worker(worker)
    stack.start_worker()
    stack.wait_job(job_id, ("delivered",), timeout=60)
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=20)
    # Let every duplicate the kill produced run before counting (a repaint may wait 45 s).
    try:
        stack.wait_idle(timeout=60)
    except AssertionError:
        left = {k.decode(): v.decode()[:300] for k, v in stack.redis.hgetall("dramatiq:adops.DQ.msgs").items()}
        left |= {k.decode(): v.decode()[:300] for k, v in stack.redis.hgetall("dramatiq:adops.msgs").items()}
        raise AssertionError(f"left in the queue: {left}\n{stack.logs()[-4000:]}") from None
    assert vendor.stats()["instal.create"] == 1
    assert len([c for c in slack.calls_of("chat.postMessage") if job_id in str(c.params)]) == 1
    assert len(job_messages(slack, job_id)) == 1


def test_channels_outside_the_allow_list_are_refused(make_stack: Callable[..., InProcessStack], vendor: Sandbox) -> None:
    stack = make_stack(ADOPS_CHANNELS="CALLOWED")
    body = stack.command("export instal yesterday", channel="CGENERAL").json()
    assert "isn't enabled in this channel" in body["text"] and "ADOPS_CHANNELS" not in body["text"]
    body = stack.command("export instal yesterday", channel="CGENERAL", user="UADMIN").json()
    assert "isn't enabled in this channel" in body["text"] and "ADOPS_CHANNELS" in body["text"]
    assert not stack.redis.keys("adops:job:*")
    assert "Queued as job" in stack.command("export instal yesterday", channel="CALLOWED").json()["text"]

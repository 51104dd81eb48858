"""Who may do what, from where: signatures (forged, missing, stale, replayed), the channel
allow-list on buttons, admins-only paths (commands, buttons, hand-written button values),
`jobs all`, the integrations `integration=` may name, and secrets kept out of everything."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from devkit.slack.signing import signed_headers
from tests.harness import BOT_TOKEN, SIGNING_SECRET
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, queued_job
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, group_id

GROUP = group_id(DEFAULT_INTEGRATION, 1)


def _nothing_recorded_or_queued(stack: InProcessStack) -> None:
    assert not stack.redis.keys("adops:job:*")
    assert stack.messages_left() == 0


def _command_body(text: str, user: str = "UALICE", channel: str = CHANNEL) -> str:
    return urlencode({"team_id": "T0LOCAL", "channel_id": channel, "user_id": user, "command": "/adops",
                      "text": text, "response_url": "", "trigger_id": f"{time.time_ns()}"})


def _ephemeral(slack: LocalSlack, channel: str, needle: str) -> Message:
    return slack.wait_for(lambda: next((m for m in slack.messages(channel) if m.ephemeral and needle in m.text), None))


# -- signatures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: signed_headers("forged-secret", body),
        lambda body: {"Content-Type": "application/x-www-form-urlencoded"},
        lambda body: signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 6 * 60),
        lambda body: {**signed_headers(SIGNING_SECRET, body), "X-Slack-Signature": "v0=" + "0" * 64},
    ],
    ids=["forged", "missing", "stale", "tampered"],
)
def test_bad_signatures_get_401_and_enqueue_nothing(
    stack: InProcessStack, vendor: Sandbox, headers: Callable[[str], dict[str, str]]
) -> None:
    body = _command_body("export instal yesterday")
    response = stack.http.post("/slack/events", content=body.encode(), headers=headers(body))
    assert response.status_code == 401
    _nothing_recorded_or_queued(stack)
    assert vendor.stats().get("instal.create", 0) == 0


def test_a_replayed_command_gets_401_and_makes_no_second_job(stack: InProcessStack, vendor: Sandbox) -> None:
    body = _command_body("export instal yesterday")
    headers = signed_headers(SIGNING_SECRET, body)
    job_id = queued_job(stack.http.post("/slack/events", content=body.encode(), headers=headers))
    replay = stack.http.post("/slack/events", content=body.encode(), headers=headers)
    assert replay.status_code == 401 and "Queued" not in replay.text
    stack.wait_job(job_id, ("delivered",))
    stack.wait_idle()
    assert stack.redis.keys("adops:job:*") == [f"adops:job:{job_id}".encode()]
    assert vendor.stats()["instal.create"] == 1
    assert "replayed" in stack.logs()


def test_a_replayed_click_gets_401_and_makes_no_second_job(stack: InProcessStack, slack: LocalSlack) -> None:
    payload = {
        "type": "block_actions", "user": {"id": "UALICE"}, "team": {"id": "T0LOCAL"},
        "channel": {"id": CHANNEL}, "container": {"type": "message", "message_ts": "1.0", "channel_id": CHANNEL},
        "response_url": slack.response_url(CHANNEL, "UALICE"), "trigger_id": f"{time.time_ns()}",
        "actions": [{"type": "button", "action_id": "fg_page_next", "block_id": "b", "action_ts": "7.7",
                     "value": json.dumps({"i": DEFAULT_INTEGRATION, "p": 1})}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    headers = signed_headers(SIGNING_SECRET, body)
    assert stack.http.post("/slack/events", content=body.encode(), headers=headers).status_code == 200
    assert stack.http.post("/slack/events", content=body.encode(), headers=headers).status_code == 401
    assert len(stack.redis.keys("adops:job:*")) == 1


# -- channels --------------------------------------------------------------------------------


def test_buttons_from_a_channel_outside_the_allow_list_change_nothing(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox
) -> None:
    stack = make_stack(ADOPS_CHANNELS="CALLOWED")
    switch = json.dumps({"g": GROUP, "i": DEFAULT_INTEGRATION, "f": "monitoring_mode", "to": True})
    response = stack.click("fg_toggle", switch, user="UADMIN", channel="COTHER",
                           response_url=slack.response_url("COTHER", "UADMIN"))
    assert response.status_code == 200
    refusal = _ephemeral(slack, "COTHER", "ADOPS_CHANNELS")
    assert refusal.user == "UADMIN" and "nothing was changed" in refusal.text
    _nothing_recorded_or_queued(stack)
    assert not any(k.startswith("24metrics") for k in vendor.stats()) and not stack.redis.xrange("adops:audit")


def test_a_cancel_button_from_another_channel_cancels_nothing(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox
) -> None:
    stack = make_stack(ADOPS_CHANNELS="CALLOWED")
    vendor.set_ready_after(60)
    job_id = queued_job(stack.command("export instal yesterday", channel="CALLOWED"))
    stack.wait_job(job_id, ("waiting",))
    stack.click("job_cancel", job_id, channel="COTHER", response_url=slack.response_url("COTHER", "UALICE"))
    # Alice cannot change the allow-list: she is not told its variable.
    assert "ADOPS_CHANNELS" not in _ephemeral(slack, "COTHER", "isn't enabled in this channel").text
    assert stack.job(job_id)["state"] == "waiting" and not stack.redis.xrange("adops:audit")


def test_jobs_all_shows_other_channels_and_dms_only_to_admins(stack: InProcessStack, vendor: Sandbox) -> None:
    vendor.set_ready_after(600)
    here = queued_job(stack.command("export instal yesterday", user="UBOB"))
    in_a_dm = queued_job(stack.command("export instal last7d", user="UCAROL", channel="DCAROL"))
    seen = str(stack.command("jobs all", user="UALICE").json())
    assert here in seen and in_a_dm not in seen and "admins see every channel" in seen and "ADOPS_" not in seen
    seen = str(stack.command("jobs all", user="UADMIN").json())
    assert here in seen and in_a_dm in seen


# -- integrations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["filters integration=int-9", "fraud yesterday integration=int-9",
             "export 24metrics clicks yesterday integration=int-9"],
)
def test_integration_must_be_the_default_or_a_listed_one(
    make_stack: Callable[..., InProcessStack], vendor: Sandbox, text: str
) -> None:
    stack = make_stack(METRICS24_INTEGRATIONS="int-2,int-3")
    answer = stack.command(text).json()["text"]
    assert "`int-9` is not allowed" in answer and "nothing was queued" in answer.lower()
    assert all(f"`{i}`" in answer for i in (DEFAULT_INTEGRATION, "int-2", "int-3")), answer
    _nothing_recorded_or_queued(stack)
    assert not any(k.startswith("24metrics") for k in vendor.stats())
    queued_job(stack.command(text.replace("int-9", "int-2")))


def test_without_a_list_only_the_default_integration_is_allowed(stack: InProcessStack) -> None:
    assert "not allowed" in stack.command("filters integration=int-2").json()["text"]
    queued_job(stack.command(f"filters integration={DEFAULT_INTEGRATION}"))


def test_a_button_naming_another_integration_is_refused(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    forged = json.dumps({"g": GROUP, "i": "int-evil", "f": "monitoring_mode", "to": True})
    stack.click("fg_toggle", forged, user="UADMIN", response_url=slack.response_url(CHANNEL, "UADMIN"))
    assert DEFAULT_INTEGRATION in _ephemeral(slack, CHANNEL, "`int-evil` is not allowed").text
    _nothing_recorded_or_queued(stack)
    assert not any(k.startswith("24metrics") for k in vendor.stats())


# -- admins ------------------------------------------------------------------------------------


def _vendor_changes(vendor: Sandbox) -> dict[str, Any]:
    return {k: v for k, v in vendor.stats().items() if k.split(".")[-1] in ("update", "delete", "bulk_update")}


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("fg_toggle", {"g": GROUP, "i": DEFAULT_INTEGRATION, "f": "monitoring_mode", "to": True}),
        ("fg_toggle", {"g": GROUP, "i": DEFAULT_INTEGRATION, "f": "active", "to": False}),
        ("fg_delete", {"g": GROUP, "i": DEFAULT_INTEGRATION}),
        # Hand-written: keys no button writes, and values no button of ours ever carried.
        ("fg_toggle", {"g": GROUP, "i": DEFAULT_INTEGRATION, "to": True, "admin": True, "user": "UADMIN"}),
        ("fg_delete", {"g": "", "i": DEFAULT_INTEGRATION}),
        ("fg_toggle", "not json at all"),
    ],
    ids=["monitoring", "active", "delete", "extra-keys", "empty-group", "garbage"],
)
def test_no_button_lets_a_non_admin_change_state(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, action_id: str, value: Any
) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)
    response = stack.click(action_id, raw, user="UALICE", response_url=slack.response_url(CHANNEL, "UALICE"))
    assert response.status_code == 200
    assert "Only admins" in _ephemeral(slack, CHANNEL, "Only admins").text
    stack.wait_idle()
    _nothing_recorded_or_queued(stack)
    assert not _vendor_changes(vendor) and not stack.redis.xrange("adops:audit")


def test_no_command_lets_a_non_admin_change_state(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox) -> None:
    vendor.set_ready_after(60)
    theirs = queued_job(stack.command("export instal yesterday", user="UBOB"))
    stack.wait_job(theirs, ("waiting",))
    for text in ("monitor all on", f"monitor {GROUP} on", f"filters active {GROUP} off", f"filters delete {GROUP}",
                 "export 24metrics delete abc", f"jobs cancel {theirs}"):
        answer = stack.command(text, user="UALICE").json()["text"]
        assert "Only" in answer, (text, answer)
    stack.click("job_cancel", theirs, user="UALICE", response_url=slack.response_url(CHANNEL, "UALICE"))
    _ephemeral(slack, CHANNEL, "Only <@UBOB>")
    assert stack.job(theirs)["state"] == "waiting"
    assert len(stack.redis.keys("adops:job:*")) == 1
    assert not _vendor_changes(vendor) and not stack.redis.xrange("adops:audit")


# -- secrets -----------------------------------------------------------------------------------

LINK_SECRET = "link-secret-6f1c2a9e"
REDIS_PASSWORD = "redis-password-93ab1"


def test_no_configured_secret_reaches_a_log_line_a_message_or_an_error(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox
) -> None:
    # REDIS_URL here is only read (the stack's Redis client is its own): it must not be printed.
    stack = make_stack(ADOPS_LINK_SECRET=LINK_SECRET, REDIS_URL=f"redis://adops:{REDIS_PASSWORD}@127.0.0.1:1/0")
    answers: list[httpx.Response] = []
    ok = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(ok, ("waiting", "delivered"))  # its create is done: the fault below is the next job's
    vendor.inject("instal", "create", "status", status=401)
    refused = queued_job(stack.command("export instal last7d"))
    vendor.inject("24metrics", "filter_groups.list", "status", status=401)
    m24 = queued_job(stack.command("filters"))
    answers.append(stack.command("export instal yesterday", secret="forged"))
    answers.append(stack.command("jobs all", user="UADMIN"))
    answers.append(stack.command("exprot instal yesterday"))
    answers.append(stack.click("fg_toggle", "{}", response_url=slack.response_url(CHANNEL, "UALICE")))
    stack.wait_job(ok, ("delivered",))
    errors = [stack.wait_job(job_id, ("failed",))["error"] for job_id in (refused, m24)]
    # People read that an admin must check the key; the log names the setting.
    assert all("an admin needs to check it" in e and "INSTAL_TOKEN" not in e and "METRICS24" not in e for e in errors)
    assert "INSTAL_TOKEN" in stack.logs() and "METRICS24_API_KEY" in stack.logs()
    stack.wait_idle()
    _ephemeral(slack, CHANNEL, "Only admins")
    shown = "\n".join([
        stack.logs(), *errors, *(r.text for r in answers),
        *(json.dumps(c.params, default=str) for c in slack.calls),
        *(str(stack.job(j)) for j in (ok, refused, m24)),
    ])
    for secret in (SIGNING_SECRET, BOT_TOKEN, Sandbox.TOKEN, LINK_SECRET, REDIS_PASSWORD):
        assert secret not in shown, secret
    assert stack.rt is not None and REDIS_PASSWORD not in repr(stack.rt.settings)

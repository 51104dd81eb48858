"""LocalSlack driven by the real slack_sdk clients, the way the bot and the console use it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from devkit.slack import Event, LocalSlack, block_errors
from devkit.slack.signing import signed_headers

TOKEN = "xoxb-test-token"
CHANNEL = "C0GENERAL"
USER = "U0ALICE"

# Some cases post blocks without top-level text on purpose; slack_sdk warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    with LocalSlack(bot_token=TOKEN) as local:
        yield local


@pytest.fixture
def client(slack: LocalSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url)


def error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def button(**overrides: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain("Go"), "action_id": "go", "value": "v", **overrides}


def confirm(title: str = "Sure?", text: str = "Really?", yes: str = "Yes", no: str = "No") -> dict[str, Any]:
    return {"title": plain(title), "text": plain(text), "confirm": plain(yes), "deny": plain(no)}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


# -- messages ------------------------------------------------------------------------------------


def test_post_then_update_edits_the_same_message(slack: LocalSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="queued", blocks=[section("*queued*")])
    assert posted["channel"] == CHANNEL
    assert posted["message"]["blocks"] == [section("*queued*")]

    updated = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="running 40%")

    assert updated["ts"] == posted["ts"]
    [message] = slack.messages(CHANNEL)
    assert (message.ts, message.text, message.edited, message.via) == (posted["ts"], "running 40%", 1, "api")
    assert message.blocks == [section("*queued*")], "chat.update without blocks keeps them, like Slack"

    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="done", blocks=[])
    [message] = slack.messages(CHANNEL)
    assert (message.text, message.blocks, message.edited) == ("done", [], 2)


def test_ts_strictly_increase_across_threads(slack: LocalSlack, client: WebClient) -> None:
    stamps: list[str] = []

    def post(n: int) -> None:
        for i in range(25):
            stamps.append(client.chat_postMessage(channel=CHANNEL, text=f"{n}-{i}")["ts"])

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(stamps)) == 100
    stored = [m.ts for m in slack.messages(CHANNEL)]
    assert stored == sorted(stored, key=float) and len(stored) == 100
    sec, micro = stored[0].split(".")
    assert len(sec) == 10 and len(micro) == 6


def test_update_of_unknown_or_ephemeral_message_is_message_not_found(client: WebClient) -> None:
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x")).response["error"] == (
        "message_not_found"
    )
    eph = client.chat_postEphemeral(channel=CHANNEL, user=USER, text="only you")
    err = error_of(lambda: client.chat_update(channel=CHANNEL, ts=eph["message_ts"], text="x"))
    assert err.response["error"] == "message_not_found"


def test_ephemeral_is_stored_for_its_one_user(slack: LocalSlack, client: WebClient) -> None:
    eph = client.chat_postEphemeral(channel=CHANNEL, user=USER, text="queued job j1")
    [message] = slack.messages(CHANNEL)
    assert (message.ts, message.user, message.response_type, message.ephemeral) == (
        eph["message_ts"],
        USER,
        "ephemeral",
        True,
    )


def test_form_encoded_json_strings_are_decoded(slack: LocalSlack, client: WebClient) -> None:
    # slack_sdk form-encodes most methods, with blocks as a JSON string; the fake must read both
    client.api_call("chat.postMessage", params={"channel": CHANNEL, "text": "t", "blocks": json.dumps([section("x")])})
    [call] = slack.calls_of("chat.postMessage")
    assert call.params["blocks"] == [section("x")]
    assert "token" not in call.params
    assert slack.messages(CHANNEL)[0].blocks == [section("x")]


def test_no_text_when_message_is_empty(client: WebClient) -> None:
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL)).response["error"] == "no_text"


def test_permalink_users_and_conversations(slack: LocalSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    link = client.chat_getPermalink(channel=CHANNEL, message_ts=ts)["permalink"]
    assert link == f"{slack.url}/archives/{CHANNEL}/p{ts.replace('.', '')}"

    assert client.users_info(user=USER)["user"]["tz"] == "UTC"
    slack.add_user("U0BOB", tz="Europe/Berlin")
    assert client.users_info(user="U0BOB")["user"]["tz"] == "Europe/Berlin"

    slack.restrict_channel("G0PRIVATE")
    assert client.conversations_info(channel=CHANNEL)["channel"]["is_member"] is True
    assert client.conversations_info(channel="G0PRIVATE")["channel"]["is_member"] is False


def test_dm_by_user_id_lands_in_the_im_channel(slack: LocalSlack, client: WebClient) -> None:
    dm = client.conversations_open(users=USER)["channel"]["id"]
    posted = client.chat_postMessage(channel=USER, text="your export is ready")
    assert dm.startswith("D") and posted["channel"] == dm
    assert [m.text for m in slack.messages(dm)] == ["your export is ready"]


# -- auth and faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("token, error", [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
def test_bad_token_is_refused_with_http_200(slack: LocalSlack, token: str | None, error: str) -> None:
    other = WebClient(token=token, base_url=slack.api_url)
    err = error_of(lambda: other.chat_postMessage(channel=CHANNEL, text="x"))
    assert (err.response.status_code, err.response["error"]) == (200, error)
    assert slack.messages(CHANNEL) == []


def test_ratelimited_answers_429_with_retry_after(slack: LocalSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", count=2, retry_after=7)

    for _ in range(2):
        err = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x"))
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "7"
        assert err.response["error"] == "ratelimited"

    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"] is True
    assert [c.error for c in slack.calls_of("chat.postMessage")] == ["ratelimited", "ratelimited", None]


def test_fail_next_only_hits_its_method(client: WebClient, slack: LocalSlack) -> None:
    slack.fail_next("chat.update", "internal_error", status=500)
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    err = error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, text="y"))
    assert (err.response.status_code, err.response["error"]) == (500, "internal_error")


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("files.upload")).response["error"] == "unknown_method"


def test_restricted_channel_refuses_posts_and_files(slack: LocalSlack, client: WebClient) -> None:
    slack.restrict_channel("D0ALICE")
    err = error_of(lambda: client.chat_postMessage(channel="D0ALICE", text="x"))
    assert err.response["error"] == "not_in_channel"
    err = error_of(lambda: client.files_upload_v2(channel="D0ALICE", content="a", filename="a.csv"))
    assert err.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"] is True

    slack.restrict_channel("C0GONE", "channel_not_found")
    err = error_of(lambda: client.chat_postMessage(channel="C0GONE", text="x"))
    assert err.response["error"] == "channel_not_found"


# -- Block Kit limits ----------------------------------------------------------------------------

LIMIT_CASES = [
    # (id, blocks, accepted)
    ("50 blocks", [section("x")] * 50, True),
    ("51 blocks", [section("x")] * 51, False),
    ("section text 3000", [section("x" * 3000)], True),
    ("section text 3001", [section("x" * 3001)], False),
    ("empty section text", [section("")], False),
    ("header 150", [{"type": "header", "text": plain("h" * 150)}], True),
    ("header 151", [{"type": "header", "text": plain("h" * 151)}], False),
    ("header mrkdwn", [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], False),
    ("10 fields", [{"type": "section", "fields": [plain("f")] * 10}], True),
    ("11 fields", [{"type": "section", "fields": [plain("f")] * 11}], False),
    ("25 elements", [actions(*(button(action_id=f"a{i}") for i in range(25)))], True),
    ("26 elements", [actions(*(button(action_id=f"a{i}") for i in range(26)))], False),
    ("button value 2000", [actions(button(value="v" * 2000))], True),
    ("button value 2001", [actions(button(value="v" * 2001))], False),
    ("action_id 255", [actions(button(action_id="a" * 255))], True),
    ("action_id 256", [actions(button(action_id="a" * 256))], False),
    ("accessory action_id 256", [{**section("x"), "accessory": button(action_id="a" * 256)}], False),
    ("duplicate action_id", [actions(button(), button())], False),
    ("duplicate block_id", [{**section("x"), "block_id": "b"}, {**section("y"), "block_id": "b"}], False),
    ("confirm at limits", [actions(button(confirm=confirm("t" * 100, "x" * 300, "y" * 30, "n" * 30)))], True),
    ("confirm title 101", [actions(button(confirm=confirm(title="t" * 101)))], False),
    ("confirm text 301", [actions(button(confirm=confirm(text="x" * 301)))], False),
    ("confirm button 31", [actions(button(confirm=confirm(yes="y" * 31)))], False),
    ("confirm deny 31", [actions(button(confirm=confirm(no="n" * 31)))], False),
    ("confirm without deny", [actions(button(confirm={k: v for k, v in confirm().items() if k != "deny"}))], False),
    ("unknown block type", [{"type": "sektion", "text": plain("x")}], False),
]


@pytest.mark.parametrize("blocks, accepted", [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES])
def test_block_kit_limits(slack: LocalSlack, client: WebClient, blocks: list[dict[str, Any]], accepted: bool) -> None:
    if accepted:
        assert client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)["ok"] is True
        return
    err = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert err.response["errors"] and all("[json-pointer:/blocks" in e for e in err.response["errors"])
    assert slack.messages(CHANNEL) == []


def test_chat_update_is_validated_too(client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    err = error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, blocks=[section("x" * 3001)]))
    assert err.response["error"] == "invalid_blocks"


def test_block_errors_points_at_the_field() -> None:
    assert block_errors([section("ok")]) == []
    assert block_errors([section("ok"), {"type": "header", "text": plain("h" * 151)}]) == [
        "must be less than 151 characters [json-pointer:/blocks/1/text/text]"
    ]


# -- files ----------------------------------------------------------------------------------------


def test_files_upload_v2_lands_in_the_thread(slack: LocalSlack, client: WebClient) -> None:
    progress = client.chat_postMessage(channel=CHANNEL, text="exporting")["ts"]
    body = b"date,clicks\n2024-11-01,12\n" * 100

    result = client.files_upload_v2(
        channel=CHANNEL, thread_ts=progress, content=body, filename="clicks.csv", initial_comment="clicks export"
    )

    [upload] = slack.calls_of("upload")  # the bytes reached the absolute upload_url on this server
    assert upload.params["size"] == len(body)
    [stored] = slack.files(CHANNEL)
    assert (stored.id, stored.name, stored.content, stored.thread_ts) == (
        result["file"]["id"],
        "clicks.csv",
        body,
        progress,
    )
    assert result["file"]["size"] == len(body)
    assert result["file"]["shares"]["public"][CHANNEL][0]["thread_ts"] == progress
    shared = slack.wait_for_message(CHANNEL, lambda m: bool(m.files))
    assert (shared.thread_ts, shared.text, shared.files[0].name) == (progress, "clicks export", "clicks.csv")
    [complete] = slack.calls_of("files.completeUploadExternal")
    assert complete.params["channel_id"] == CHANNEL


def test_complete_without_uploaded_bytes_is_refused(client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="a.csv", length=3)["file_id"]
    err = error_of(lambda: client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL))
    assert err.response["error"] == "file_not_found"


# -- response_url ---------------------------------------------------------------------------------


def test_response_url_allows_five_uses(slack: LocalSlack) -> None:
    hook = WebhookClient(slack.response_url(CHANNEL, USER))
    for i in range(5):
        resp = hook.send(text=f"update {i}")
        assert (resp.status_code, resp.body) == (200, "ok")

    resp = hook.send(text="one too many")

    assert (resp.status_code, resp.body) == (404, "used_url")
    texts = [m.text for m in slack.messages(CHANNEL)]
    assert texts == [f"update {i}" for i in range(5)]
    assert all(m.via == "response_url" and m.ephemeral and m.user == USER for m in slack.messages(CHANNEL))


def test_response_url_expires(slack: LocalSlack) -> None:
    url = slack.response_url(CHANNEL, USER)
    slack.expire_response_url(url)
    resp = WebhookClient(url).send(text="late")
    assert (resp.status_code, resp.body) == (404, "expired_url")


def test_replace_original_edits_what_the_url_posted(slack: LocalSlack) -> None:
    hook = WebhookClient(slack.response_url(CHANNEL, USER))
    hook.send(text="queued", response_type="in_channel")
    hook.send(text="done", replace_original=True)

    [message] = slack.messages(CHANNEL)
    assert (message.text, message.edited, message.response_type) == ("done", 1, "in_channel")
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    err = error_of(lambda: client.chat_update(channel=CHANNEL, ts=message.ts, text="x"))
    assert err.response["error"] == "cant_update_message", "PITFALLS: response_url messages cannot be edited"


def test_button_response_url_replaces_and_deletes_the_clicked_message(slack: LocalSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="monitoring: off", blocks=[actions(button())])["ts"]
    hook = WebhookClient(slack.response_url(CHANNEL, USER, message_ts=ts))

    assert hook.send(text="monitoring: on", replace_original=True).status_code == 200
    [message] = slack.messages(CHANNEL)
    assert (message.ts, message.text, message.blocks, message.edited) == (ts, "monitoring: on", [], 1)

    assert hook.send(delete_original=True).status_code == 200
    assert slack.messages(CHANNEL) == []


def test_response_url_validates_blocks(slack: LocalSlack) -> None:
    resp = WebhookClient(slack.response_url(CHANNEL, USER)).send(text="t", blocks=[section("x" * 3001)])
    assert (resp.status_code, resp.body) == (400, "invalid_blocks")


# -- observers -------------------------------------------------------------------------------------


def test_subscribers_see_every_change_in_order(slack: LocalSlack, client: WebClient) -> None:
    seen: list[Event] = []
    slack.subscribe(seen.append)
    slack.subscribe(lambda e: 1 / 0)  # a broken subscriber must not break the API

    ts = client.chat_postMessage(channel=CHANNEL, text="a")["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="b")
    client.chat_postEphemeral(channel=CHANNEL, user=USER, text="c")
    WebhookClient(slack.response_url(CHANNEL, USER)).send(text="d", response_type="in_channel")
    client.files_upload_v2(channel=CHANNEL, content="x", filename="x.csv")

    assert [(e.kind, e.message.text) for e in seen] == [
        ("posted", "a"),
        ("updated", "b"),
        ("ephemeral", "c"),
        ("posted", "d"),
        ("file_shared", ""),
    ]
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)


def test_wait_for_times_out_with_a_dump(slack: LocalSlack, client: WebClient) -> None:
    client.chat_postMessage(channel=CHANNEL, text="something else")
    with pytest.raises(AssertionError, match="something else"):
        slack.wait_for_message(CHANNEL, "never posted", timeout=0.2)


def test_reset_forgets_state(slack: LocalSlack, client: WebClient) -> None:
    client.chat_postMessage(channel=CHANNEL, text="x")
    slack.restrict_channel(CHANNEL)
    slack.reset()
    assert slack.calls == [] and slack.messages(CHANNEL) == []
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"] is True


# -- signing requests as Slack does ----------------------------------------------------------------


def test_signed_headers_pass_slacks_verifier_and_a_tampered_body_fails() -> None:
    secret, body = "8f742231b10e8888abcd99yyyzzz85a5", "command=%2Fadops&text=export+instal+yesterday"
    headers = signed_headers(secret, body, content_type="application/json")
    verifier = SignatureVerifier(secret)

    assert headers["Content-Type"] == "application/json"
    assert abs(int(headers["X-Slack-Request-Timestamp"]) - time.time()) < 60
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body.replace("yesterday", "today"), headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)


def test_signed_headers_for_a_fixed_timestamp() -> None:
    # Known answer: HMAC-SHA256(secret, "v0:<timestamp>:<body>") in hex, computed independently
    body = "command=%2Fadops&text=export+instal+yesterday"
    headers = signed_headers("8f742231b10e8988abcd99ec85a28ad9", body, timestamp=1531420618)
    assert headers == {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=73419734cb7b7d90b38bdaee01ad26bd9fb583b3272b3fc21b4f3a9ec456888c",
    }

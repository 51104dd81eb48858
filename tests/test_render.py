"""Rendering is pure: records in, Block Kit out, within Slack's limits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from bot.console import plain
from devkit.slack import block_errors
from workers import render
from workers.jobs import Job
from workers.vendors.metrics24 import bulk_render, groups_render

NOW = 1_795_000_000.0


def job(**kw: object) -> Job:
    fields: dict[str, object] = dict(
        id="J7K2P9QXM", kind="export", vendor="instal", command="export instal yesterday",
        summary="Instal export 2026-11-21, daily", user_id="UALICE", channel_id="C1",
        created_at=NOW - 125, deadline=NOW + 3600,
    )
    fields.update(kw)
    return Job.model_validate(fields)


@pytest.mark.parametrize(
    ("state", "expect", "has_cancel"),
    [
        ("queued", ":hourglass: *Instal export 2026-11-21, daily*: queued", True),
        ("requesting", "asking Instal for the export", True),
        ("waiting", "waiting for Instal to build the file (in progress)", True),
        ("cancelled", "cancelled", False),
    ],
)
def test_progress(state: str, expect: str, has_cancel: bool) -> None:
    out = render.progress(job(state=state, vendor_state="STARTED", polls=3), NOW, "Instal")
    text = str(out.blocks)
    assert expect in text
    assert "running 2 min" in text and "<@UALICE>" in text
    assert ("job_cancel" in text) is has_cancel
    assert block_errors(out.blocks) == []


@pytest.mark.parametrize(
    ("fields", "expect", "absent"),
    [
        ({"state": "delivered", "result": {"url": "https://d.example/f.csv", "rows": 12345}},
         ["is ready: <https://d.example/f.csv|download the file>", "12,345 rows"], ["job_cancel"]),
        ({"state": "delivered", "result": {"url": "https://d.example/f.csv", "expires_at": NOW + 86400}},
         ["link expires <!date^1795086400^"], []),
        ({"state": "failed", "error": "Instal refused our token; an admin needs to check it."},
         [":x: *Instal export 2026-11-21, daily* failed: Instal refused our token; an admin needs to check it."], []),
        ({"state": "failed", "error": "bad <input> & more"}, ["bad &lt;input&gt; &amp; more"], ["<input>"]),
        ({"state": "cancelled", "finished_by": "UBOB"}, ["was cancelled by <@UBOB>"], ["job_cancel"]),
    ],
)
def test_outcome(fields: dict[str, object], expect: list[str], absent: list[str]) -> None:
    out = render.outcome(job(finished_at=NOW, **fields))
    text = str(out.blocks)
    for part in expect:
        assert part in text
    for part in absent:
        assert part not in text
    assert "took 2 min" in text and "`/adops export instal yesterday`" in text
    assert block_errors(out.blocks) == []


def test_huge_vendor_error_is_clipped_to_slack_limits() -> None:
    out = render.outcome(job(state="failed", error="x" * 10_000, finished_at=NOW))
    assert block_errors(out.blocks) == []
    assert len(out.text) <= 3000


def test_jobs_list_for_many_jobs_stays_valid() -> None:
    jobs = [job(id=f"J{i:08d}", state="failed", error="e" * 500) for i in range(20)]
    out = render.jobs_list(jobs, NOW, everyone=True)
    assert block_errors(out.blocks) == []
    text = str(out.blocks)
    assert "J00000019" in text and "<@UALICE>" in text and "&lt;id&gt;" in text


def test_empty_jobs_list() -> None:
    assert "You have no recent jobs" in render.jobs_list([], NOW, everyone=False).text
    # Everyone's list, empty: said once, without a double negative.
    assert render.jobs_list([], NOW, everyone=True).text == "Nobody has any recent jobs here."


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (-3, "0 s"), (45, "45 s"), (59.9, "59 s"), (60, "1 min"), (173, "2 min 53 s"), (720, "12 min"),
    (3599, "59 min 59 s"), (3660, "1 h 01 min"), (3900, "1 h 05 min"), (90_000, "25 h 00 min"),
])
def test_age(seconds: float, text: str) -> None:
    assert render.age(seconds) == text


def test_help_escapes_placeholders() -> None:
    out = render.help_message(["`/adops export instal <range>`"])
    assert "&lt;range&gt;" in str(out.blocks)


# -- nothing a vendor or a person typed becomes a ping, a link or formatting -------------------

HOSTILE = "<!channel> <https://evil.example|Re-authenticate> <!here> <@U0BOSS> *bold* _it_ ~s~ `code` a&b |> x"
_TOKEN = re.compile(r"<([^<>]*)>")
# The tokens render writes itself: neutral characters, and dates with a fallback.
_NEUTRAL = re.compile(r"!date\^0\^\{_\}\|[*_~`]")
_OUR_DATE = re.compile(r"!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>|]+")


def mrkdwn_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every mrkdwn text object in a block tree."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            yield node
        for value in node.values():
            yield from mrkdwn_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_objects(item)


def live_tokens(message: render.Rendered, *, users: Iterable[str] = (), links: Iterable[str] = ()) -> list[str]:
    """The ``<…>`` sequences Slack would act on in ``text`` or any mrkdwn of ``message``, other
    than render's own neutral and date tokens, mentions of ``users`` and the ``links`` we built."""
    allowed = {f"@{u}" for u in users} | {link[1:-1] for link in links}
    texts = [message.text, *(o.get("text", "") for o in mrkdwn_objects(message.blocks))]
    return [
        token for text in texts for token in _TOKEN.findall(text)
        if not (_NEUTRAL.fullmatch(token) or _OUR_DATE.fullmatch(token) or token in allowed)
    ]


def assert_safe(message: render.Rendered, *, users: Iterable[str] = (), links: Iterable[str] = ()) -> None:
    assert live_tokens(message, users=users, links=links) == []
    assert block_errors(message.blocks) == []
    assert all(o.get("verbatim") is True for o in mrkdwn_objects(message.blocks)), "Slack must not auto-link values"


def test_hostile_text_in_every_export_message_stays_text() -> None:
    url = "https://d.example/f.csv?a=1&b=2"
    hostile = job(summary=HOSTILE, command=f"export instal {HOSTILE}", vendor_state=HOSTILE, polls=1)
    for message in (
        render.progress(hostile.model_copy(update={"state": "waiting"}), NOW, "Instal"),
        render.outcome(hostile.model_copy(update={"state": "failed", "error": HOSTILE, "finished_at": NOW})),
        render.outcome(hostile.model_copy(update={"state": "cancelled", "finished_by": "UBOB", "finished_at": NOW})),
        render.jobs_list([hostile.model_copy(update={"state": "failed", "error": HOSTILE})], NOW, everyone=True),
        render.audit_entry("UBOB", HOSTILE, HOSTILE, HOSTILE, NOW),
        render.with_meta(render.failure_message(HOSTILE), hostile),
    ):
        assert_safe(message, users=("UALICE", "UBOB"))
        assert "&lt;!channel&gt;" in message.text + str(message.blocks)
    delivered = render.outcome(hostile.model_copy(update={
        "state": "delivered", "result": {"url": url, "note": HOSTILE}, "finished_at": NOW,
    }))
    assert_safe(delivered, users=("UALICE",), links=(render.link(url, "download the file"),))
    assert "<https://d.example/f.csv?a=1&amp;b=2|download the file>" in delivered.text


def test_the_text_field_is_escaped_like_the_blocks() -> None:
    out = render.progress(job(summary="<!here> please re-authenticate"), NOW, "Instal")
    assert "<!here>" not in out.text and out.text.startswith("&lt;!here&gt; please")


@pytest.mark.parametrize("text", [HOSTILE, "", "a > b\n> quote", "&lt; &amp;", "aff_sub_id *x* _y_ ~z~", "`", "<<>>|"])
def test_escaped_text_reads_as_typed(text: str) -> None:
    escaped = render.escape(text)
    assert plain(escaped) == text
    assert render.sanitize(str(escaped)) == escaped, "escaping twice changes nothing"
    outside = _TOKEN.sub("", escaped)
    assert "`" not in outside and not re.search(r"(?<![^\W_])[*_~]|[*_~](?![^\W_])", outside)


def test_markers_inside_words_stay_as_typed() -> None:
    assert render.escape("aff_sub_id 3*4") == "aff_sub_id 3*4"
    assert render.escape("*bold*") == "<!date^0^{_}|*>bold<!date^0^{_}|*>"


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "data:text/html,x", "ftp://x.example/f", "https://", "//evil.example/x", "mailto:a@b.example",
    "slack://channel?id=C1", " ",
])
def test_link_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(render.UnsafeLink):
        render.link(url, "download")


def test_link_escapes_the_url_and_the_label() -> None:
    made = render.link("https://d.example/f?a=1&b=2|x>y <z", "a|b *c* <!here>")
    assert made == "<https://d.example/f?a=1&amp;b=2%7Cx%3Ey%20%3Cz|a\u2223b \u2217c\u2217 &lt;!here&gt;>"


def test_a_delivered_export_with_a_strange_url_shows_no_link() -> None:
    out = render.outcome(job(state="delivered", result={"url": "javascript:alert(1)//|x>"}, finished_at=NOW))
    assert_safe(out, users=("UALICE",))
    assert "not an http(s) address" in str(out.blocks)


@pytest.mark.parametrize(("user", "live"), [
    ("UALICE", True), ("W0123ABC", True), ("<!channel>", False), ("U1|x", False), ("ualice", False), ("", False),
])
def test_mentions_only_for_slack_user_ids(user: str, live: bool) -> None:
    assert (render.mention(user) == f"<@{user}>") is live
    assert "<!" not in render.mention(user)


def test_rendered_sanitizes_what_a_renderer_forgot_to_escape() -> None:
    forgot = {"type": "section", "text": {"type": "mrkdwn", "text": "*x* <@UBOSS> `<!here>`"}}
    out = render.Rendered("hi <!channel>", [forgot])
    assert_safe(out)
    assert out.blocks[0]["text"]["text"] == "<!date^0^{_}|*>x<!date^0^{_}|*> &lt;@UBOSS&gt; `&lt;!here&gt;`"


def test_notices_keep_our_mentions_and_failures_keep_none() -> None:
    notice = render.text_message("Only <@UALICE> or an admin can cancel `J7K2P9QXM`. <!here>")
    assert notice.text == "Only <@UALICE> or an admin can cancel `J7K2P9QXM`. &lt;!here&gt;"
    assert_safe(notice, users=("UALICE",))
    failure = render.failure_message("24Metrics has no click `<@UBOSS>` for offer <@UBOSS>")
    assert_safe(failure)
    assert "`&lt;@UBOSS&gt;`" in failure.text, "the code span stays a code span"


def test_clip_never_cuts_a_token_or_an_entity() -> None:
    long_mention = render.md("{} {}", "x" * 95, render.mention("UALICE"))
    for text in (render.escape("*" * 400), render.escape("<" * 400), long_mention):
        for limit in range(10, 120, 7):
            clipped = render.clip(text, limit)
            assert len(clipped) <= limit
            assert clipped.count("<") == clipped.count(">") and not re.search(r"&[a-z]*…$", clipped)


def test_filter_group_messages_with_a_hostile_name() -> None:
    group = {"id": "g-1", "name": HOSTILE, "priority": 3, "active": False, "monitoring_mode": True}
    listing = {"integration": "int<!here>", "name": HOSTILE, "page": 0, "groups": [group], "total": 1, "pages": 2,
               "monitoring": 1}
    changes = [groups_render.change_line("UADMIN", group, "monitoring_mode", True, True)]
    board = groups_render.list_message(listing, changes)
    assert_safe(board, users=("UADMIN",))
    assert "<@UADMIN> turned monitoring on" in str(board.blocks), "our own mention stays"
    result = {"group": group, "field": "monitoring_mode", "after": True, "before": False, "changed": True,
              "integration": "int-1", "to": True, "unchanged": 0, "changed_groups": [], "deleted": True}
    for render_one in (groups_render.set_message, groups_render.delete_prompt_message, groups_render.delete_message):
        assert_safe(render_one(job(kind="task", result=result)), users=("UALICE",))
    items = [{"id": "g-1", "name": HOSTILE, "mode": False, "to": True}] * 20
    asked = {"kind": "restore", "integration": HOSTILE, "audit_id": "1-0", "items": items, "unchanged": 2,
             "missing": [{"id": "g-2", "name": HOSTILE}]}
    assert_safe(bulk_render.prompt_message(job(kind="task", result=asked)))
    done = {"kind": "all", "integration": HOSTILE, "to": True, "by": "UADMIN", "changed": items, "missing": [HOSTILE],
            "audit_id": "1-0", "source": None}
    assert_safe(bulk_render.apply_message(job(kind="task", result=done)), users=("UADMIN",))

"""Properties over arbitrary text (Hypothesis): the command grammar, and the renderers.

- Whatever is typed after `/adops`, parsing raises nothing but `UsageError`, and gives either a
  command whose handler answers with a `Submit` or a `Reply`, or a usage message; neither lets
  what was typed become a mention or a link.
- Whatever a vendor sends or a person types (group names, job summaries, errors, URLs, lookup
  rows, fraud reasons, audit entries), nothing rendered from it holds a live mention or a link
  other than ours, in the blocks or in ``text``, and every block list is one Slack accepts.

Example counts are modest so the suite stays fast; with ``CI`` set the examples are derandomized
(the same every run, so CI is reproducible), otherwise each run explores new ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.builtin import build_registry
from tests.test_render import NOW, assert_safe, job, live_tokens
from workers import render
from workers.boot import boot, load_settings
from workers.errors import UsageError
from workers.intake import Context, Reply, Submit
from workers.runtime import Runtime
from workers.vendors.metrics24 import bulk_render, download_center, fraud, groups_render, lookups
from workers.vendors.metrics24.api import ID_PATTERN
from workers.vendors.registry import CATALOGUE

TODAY = date(2026, 11, 22)
REGISTRY = build_registry(CATALOGUE)
USER = "UALICE"


def _settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# -- strategies ---------------------------------------------------------------------------------

#: What Slack would act on, what mrkdwn would format, and what our own escaping writes.
NASTY = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0BOSS>",
    "<@W12345|boss>",
    "<#C0GENERAL>",
    "<!subteam^S0TEAM>",
    "<https://evil.example|Re-authenticate>",
    "<mailto:a@evil.example>",
    "<!date^0^{_}|*>",
    "<!date^1^{x}|y>",
    "*",
    "_",
    "~",
    "`",
    "```",
    "&",
    "&amp;",
    "&lt;",
    "&gt;",
    "|",
    ">",
    "<",
    "\n",
    "\n> ",
    ":x:",
    "{}",
    "{0}",
    "https://evil.example/x",
    "@here",
    "\u200b",
    "\u00ad",
    "é",
    "\u202e",
)
hostile = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)), max_size=8).map("".join)
user_ids = st.one_of(st.sampled_from(["UALICE", "UBOB", "W0123ABC"]), hostile)
ids = st.from_regex(ID_PATTERN, fullmatch=True).map(lambda s: s[:40])
urls = st.one_of(
    st.builds(lambda host, path: f"https://{host}/{path}", st.sampled_from(["d.example", "x.example:8443"]), hostile),
    hostile,
    st.sampled_from(["javascript:alert(1)", "data:text/html,<b>", "http://", "https://ok.example/a?b=1&c=2|x>"]),
)


def _valid(users: list[str]) -> list[str]:
    return [u for u in users if re.fullmatch(r"[UW][A-Z0-9]{2,20}", u)]


def _vocabulary() -> list[str]:
    """Words the grammar knows: command words, option keys, choices, flags, example words."""
    words = {"help", "all", "on", "off", "yesterday", "today", "last7d", "2026-11-01..2026-11-07", "J7K2P9QXM"}
    for spec in REGISTRY.values():
        words.update(spec.words)
        words.update(spec.flags)
        words.update(f"{o.name}=" for o in spec.options)
        words.update(f"{key}~" for key in spec.filters)
        words.update(choice for p in spec.positionals for choice in p.choices)
        words.update(choice for o in spec.options for choice in o.choices)
        for example in spec.examples:
            words.update(example.split())
    return sorted(words)


VOCABULARY = _vocabulary()
EXAMPLES = [example for spec in REGISTRY.values() for example in spec.examples]
command_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(VOCABULARY), hostile, st.sampled_from(NASTY)), max_size=7).map(" ".join),
    st.builds(lambda example, extra: f"{example} {extra}", st.sampled_from(EXAMPLES), hostile),
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=5).flatmap(
        lambda ws: st.builds(lambda v: " ".join(w + v if w.endswith(("=", "~")) else w for w in ws), hostile)
    ),
)


# -- the grammar ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rt() -> Iterator[Runtime]:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-properties",
        "SLACK_SIGNING_SECRET": "properties",
        **CATALOGUE.sandbox_env({}, lambda name: f"http://127.0.0.1:9/{name}", "sandbox-token"),
    }
    runtime = boot(load_settings(env, CATALOGUE), CATALOGUE)  # in-memory Redis and broker
    yield runtime
    runtime.broker.close()


@_settings(250)
@given(text=command_text)
def test_any_text_parses_to_a_command_or_a_usage_message(rt: Runtime, text: str) -> None:
    try:
        parsed = REGISTRY.parse(text, today=TODAY)
    except UsageError as exc:
        usage = render.sanitize(str(exc))
        assert usage.strip() and exc.usage.strip()
        assert live_tokens(render.text_message(usage)) == []
        return
    assert parsed.spec.handler is not None, parsed.name
    answer = parsed.spec.handler(parsed, Context(rt, USER, "C1", TODAY))
    assert isinstance(answer, Submit | Reply)
    assert REGISTRY.parse(parsed.text, today=TODAY).args == parsed.args, "the canonical text parses the same"
    if isinstance(answer, Reply):
        reply = render.Rendered(render.sanitize(answer.text, mentions=True), answer.blocks)  # as the ingress does
        assert_safe(reply, users=(USER,))
    else:
        # What was typed reaches the channel as the job's summary and command.
        shown = job(summary=answer.summary, command=parsed.text, state="queued")
        assert_safe(render.progress(shown, NOW, "Vendor"), users=("UALICE",))
        assert live_tokens(render.text_message(render.queued(shown))) == []


# -- the renderers --------------------------------------------------------------------------------


@_settings(60)
@given(
    summary=hostile,
    command=hostile,
    error=hostile,
    state=hostile,
    url=urls,
    note=hostile,
    users=st.lists(user_ids, min_size=2, max_size=2),
)
def test_export_messages(
    summary: str, command: str, error: str, state: str, url: str, note: str, users: list[str]
) -> None:
    owner, other = users
    base = job(summary=summary, command=command, user_id=owner, vendor_state=state, polls=2)
    try:
        links = [render.link(url, "download the file")]
    except render.UnsafeLink:
        links = []
    ours = _valid(users)
    for message in (
        render.progress(base.model_copy(update={"state": "waiting"}), NOW, "Instal"),
        render.outcome(base.model_copy(update={"state": "failed", "error": error, "finished_at": NOW})),
        render.outcome(base.model_copy(update={"state": "cancelled", "finished_by": other, "finished_at": NOW})),
        render.outcome(
            base.model_copy(
                update={
                    "state": "delivered",
                    "result": {"url": url, "note": note, "rows": 7, "expires_at": NOW},
                    "finished_at": NOW,
                }
            )
        ),
        render.jobs_list([base.model_copy(update={"state": "failed", "error": error})] * 3, NOW, everyone=True),
        render.with_meta(render.failure_message(error), base),
        render.failure_message(error),
        # A notice is ours, its values escaped where it is written (steps.cancel_for); it comes
        # through the queue as a plain string and keeps only the mentions render.mention made.
        render.text_message(
            f"Only {render.mention(owner)} or an admin can cancel `J7K2P9QXM` ({render.escape(error)})."
        ),
        render.audit_entry(other, summary, error, note, NOW),
    ):
        assert_safe(message, users=ours, links=links)


@_settings(40)
@given(
    names=st.lists(hostile, min_size=1, max_size=6),
    group_ids=st.lists(ids, min_size=6, max_size=6, unique=True),
    integration=hostile,
    name=st.one_of(st.none(), hostile),
    user=user_ids,
    flags=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_filter_group_messages(
    names: list[str], group_ids: list[str], integration: str, name: str | None, user: str, flags: list[bool]
) -> None:
    groups = [
        {"id": gid, "name": n, "priority": i, "active": flags[0], "monitoring_mode": flags[1]}
        for i, (gid, n) in enumerate(zip(group_ids, names, strict=False))
    ]
    changes = [
        groups_render.change_line(user, g, "monitoring_mode", flags[2], flags[i % 2]) for i, g in enumerate(groups)
    ]
    listing = {
        "integration": integration,
        "name": name,
        "page": 1,
        "groups": groups,
        "total": 90,
        "pages": 3,
        "monitoring": 2,
    }
    ours = _valid([user, USER])
    assert_safe(groups_render.list_message(listing, changes), users=ours)
    first = groups[0]
    result = {
        "group": first,
        "field": "active",
        "after": flags[0],
        "before": flags[1],
        "changed": flags[2],
        "integration": integration,
        "deleted": flags[1],
    }
    for render_one in (groups_render.set_message, groups_render.delete_prompt_message, groups_render.delete_message):
        assert_safe(render_one(job(kind="task", user_id=user, result=result)), users=ours)
    items = [{"id": g["id"], "name": g["name"], "mode": flags[1], "to": flags[0]} for g in groups] * 4
    asked = {"kind": "all", "integration": integration, "to": flags[0], "items": items, "unchanged": 3,
             "missing": [{"id": "x", "name": n} for n in names]}
    assert_safe(bulk_render.prompt_message(job(kind="task", result=asked)))
    done = {"kind": "restore", "integration": integration, "to": None, "by": user, "changed": items, "missing": names,
            "audit_id": "1-0", "source": "0-1"}
    assert_safe(bulk_render.apply_message(job(kind="task", result=done)), users=ours)


row_values = st.one_of(hostile, st.integers(), st.none(), st.booleans())


@_settings(40)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "publisher": hostile,
                "publisher_name": st.one_of(st.none(), hostile),
                "status": st.sampled_from(["Approved", "Rejected"]),
                "rejected_simple_reason": hostile,
                "rejected_advanced_reason": hostile,
            }
        ),
        max_size=30,
    ),
    span=st.tuples(hostile, hostile),
    complete=st.booleans(),
)
def test_fraud_summary(rows: list[dict[str, Any]], span: tuple[str, str], complete: bool) -> None:
    part = fraud.summarize(rows) | {"complete": complete}
    result = {"start_date": span[0], "end_date": span[1], "clicks": part, "conversions": fraud.summarize(rows[::-1])}
    assert_safe(fraud.fraud_message(result))


@_settings(40)
@given(
    what=st.sampled_from(["click", "conversion"]),
    record_id=hostile,
    row=st.dictionaries(
        st.one_of(st.sampled_from(lookups.FIRST + ("rejected", "blocked", "status")), hostile), row_values, max_size=25
    ),
)
def test_lookup_card(what: str, record_id: str, row: dict[str, Any]) -> None:
    assert_safe(lookups.card({"what": what, "id": record_id, "row": row}))


@_settings(40)
@given(
    exports=st.lists(
        st.fixed_dictionaries(
            {
                "id": hostile,
                "kind": hostile,
                "status": hostile,
                "rows": st.one_of(st.none(), st.integers(0, 10**9)),
                "range": hostile,
                "created_at": hostile,
                "error": st.one_of(st.none(), hostile),
            }
        ),
        max_size=8,
    ),
    user=user_ids,
    export_id=hostile,
)
def test_download_center_messages(exports: list[dict[str, Any]], user: str, export_id: str) -> None:
    assert_safe(download_center.exports_message({"exports": exports}))
    assert_safe(
        download_center.TASKS[1].render(job(kind="task", user_id=user, result={"export_id": export_id})),
        users=_valid([user]),
    )


# -- the escaping itself --------------------------------------------------------------------------


@_settings(200)
@given(text=hostile)
def test_escaping_is_lossless_inert_and_idempotent(text: str) -> None:
    from bot.console import plain

    escaped = render.escape(text)
    assert plain(escaped) == text.replace("\u00ad", "")
    assert render.sanitize(str(escaped)) == escaped and render.sanitize(str(escaped), mentions=True) == escaped
    assert live_tokens(render.Rendered(escaped, [])) == []


@_settings(200)
@given(url=urls, label=hostile)
def test_links_are_http_and_one_token(url: str, label: str) -> None:
    try:
        made = render.link(url, label)
    except render.UnsafeLink:
        assert not re.match(r"(?i)\s*https?://[^/?#\s]", url)
        return
    assert re.fullmatch(r"<https?://[^<>|\s]+\|[^<>|]*>", made), made

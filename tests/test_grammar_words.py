"""Names with spaces, required options and one-day options: the grammar, table-driven, on its
own registry and on the deployment's commands."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.builtin import build_registry
from workers.errors import UsageError
from workers.grammar.helptext import describe, usage
from workers.grammar.parser import Registry
from workers.grammar.spec import CommandSpec, Option, Positional
from workers.vendors.registry import CATALOGUE

TODAY = date(2026, 3, 15)
REGISTRY = build_registry(CATALOGUE)

NAMED = CommandSpec(
    words=("switch",),
    summary="A name with spaces, then a mode.",
    positionals=(
        Positional("name", "word", "The name.", rest=True),
        Positional("mode", "choice", "Mode.", choices=("on", "off")),
    ),
    options=(
        Option("where", "text", "Where."),
        Option("day", "day", "Which day.", required=True),
        Option("who", "text", "Who.", required=True, metavar="<id>"),
    ),
)
LISTING = CommandSpec(words=("list",), summary="Filters only.", filters=("name",), options=(Option("where", "text", "."),))


@pytest.fixture(scope="module")
def words() -> Registry:
    return Registry((NAMED, LISTING))


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("switch EU Mobile on day=yesterday who=1", {"name": "EU Mobile", "mode": "on"}),
        ("switch EU   Mobile – strict OFF who=1 day=2026-03-01", {"name": "EU Mobile – strict", "mode": "off"}),
        ('switch "EU Mobile" on day=today who=1', {"name": "EU Mobile", "mode": "on"}),
        ("switch who=1 EU day=yesterday Mobile where=x on", {"name": "EU Mobile", "mode": "on", "where": "x"}),
        ("switch 12 on day=yesterday who=1", {"name": "12", "mode": "on"}),
        ("switch on on day=yesterday who=1", {"name": "on", "mode": "on"}),
    ],
)
def test_a_rest_positional_takes_the_words_the_others_leave(words: Registry, text: str, args: dict[str, Any]) -> None:
    parsed = words.parse(text, today=TODAY)
    assert {key: parsed.args[key] for key in args} == args
    again = words.parse(parsed.text, today=TODAY)
    assert again.args == parsed.args


@pytest.mark.parametrize(
    ("text", "filters"),
    [
        ("list name~EU Mobile", {"name": "EU Mobile"}),
        ("list name~EU Mobile – strict where=x", {"name": "EU Mobile – strict"}),
        ('list name~"EU Mobile"', {"name": "EU Mobile"}),
    ],
)
def test_a_filter_takes_the_bare_words_after_it_when_no_positional_could(
    words: Registry, text: str, filters: dict[str, str]
) -> None:
    parsed = words.parse(text, today=TODAY)
    assert parsed.filters == filters
    assert words.parse(parsed.text, today=TODAY).filters == filters


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("switch on day=yesterday who=1", "Missing `<name...>`: The name."),
        ("switch EU Mobile day=yesterday who=1", "`Mobile` is not a valid mode"),
        ("switch EU on", "Missing `day=<day>`, `who=<id>`: `switch` needs them."),
        ("switch EU on day=yesterday", "Missing `who=<id>`: `switch` needs it."),
        ("switch EU on who=1 day=2026-03-16", "which is in the future"),
        ("switch EU on who=1 day=last7d", "`day=last7d` covers 7 days; give one day, such as `day=yesterday`."),
        ("switch EU on who=1 day=yestrday", "Did you mean `yesterday`?"),
        ("list EU", "Unexpected word `EU`."),
    ],
)
def test_word_errors(words: Registry, text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        words.parse(text, today=TODAY)
    assert message in raised.value.message
    assert raised.value.usage == usage(words[text.split()[0]])


def test_required_options_are_shown_without_brackets_and_said_required() -> None:
    assert usage(NAMED) == "/adops switch <name...> on|off day=<day> who=<id> [where=<where>]"
    text = describe(NAMED)
    assert "• `day=<day>` Which day. _Required._ One day: `YYYY-MM-DD`, `today` or `yesterday`." in text
    assert "• `where=<where>` Where.\n" in text


# -- the deployment's commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("monitor EU Mobile on", "monitor", {"group": "EU Mobile", "mode": "on"}),
        ("monitor EU Mobile – strict off integration=x", "monitor", {"group": "EU Mobile – strict", "mode": "off"}),
        ('monitor "EU Mobile" on', "monitor", {"group": "EU Mobile", "mode": "on"}),
        ("monitor all on", "monitor", {"group": "all", "mode": "on"}),
        ("filters active EU Mobile off", "filters active", {"group": "EU Mobile", "mode": "off"}),
        ("filters delete EU Mobile – legacy", "filters delete", {"group": "EU Mobile – legacy"}),
    ],
)
def test_group_names_with_spaces(text: str, name: str, args: dict[str, Any]) -> None:
    parsed = REGISTRY.parse(text, today=TODAY)
    assert parsed.name == name
    assert {key: parsed.args[key] for key in args} == args


def test_filters_name_with_spaces() -> None:
    assert REGISTRY.parse("filters name~EU Mobile", today=TODAY).filters == {"name": "EU Mobile"}


def test_lookup_needs_offer_publisher_and_a_day_in_any_date_form() -> None:
    parsed = REGISTRY.parse("lookup click abc offer=311 publisher=1077 date=yesterday", today=TODAY)
    assert parsed.args["date"] == date(2026, 3, 14)
    assert "date=yesterday" in parsed.text  # stays relative
    with pytest.raises(UsageError) as raised:
        REGISTRY.parse("lookup click abc offer=311", today=TODAY)
    assert "Missing `publisher=<id>`, `date=<day>`" in raised.value.message
    assert raised.value.usage.startswith("/adops lookup click <tx_id> offer=<id> publisher=<id> date=<day> [")
    assert "_Required._" in REGISTRY.help_text("lookup click")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("export 24metrics clicks yesterday fields=tx_id,publsher", "`publsher` is not a field of 24Metrics clicks. Did you mean `publisher`?"),
        ("export 24metrics clicks yesterday fields=hash", "`hash` is not a field of 24Metrics clicks."),
        ("export 24metrics impressions yesterday fields=site_ur", "Did you mean `site_url`?"),
    ],
)
def test_export_fields_are_checked_per_table(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        REGISTRY.parse(text, today=TODAY)
    assert message in raised.value.message


def test_export_fields_parse_and_help_lists_them_per_table() -> None:
    parsed = REGISTRY.parse("export 24metrics conversions yesterday fields=hash,publisher_name", today=TODAY)
    assert parsed.args["fields"] == ("hash", "publisher_name")
    text = REGISTRY.help_text("export 24metrics")
    assert "Every table: `real_tx_id`" in text and "Conversions also: `hash`" in text and "`site_url`" in text

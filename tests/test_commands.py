from __future__ import annotations

import shlex
from datetime import date
from typing import Any

import pytest

from bot.builtin import build_registry
from workers.errors import UsageError
from workers.grammar.dates import RANGE_FORMS, DateRange
from workers.grammar.helptext import SECTION_LIMIT, usage
from workers.grammar.lexer import tokenize
from workers.grammar.parser import Registry
from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.vendors.registry import CATALOGUE

#: Every command of this deployment, as the ingress builds them.
REGISTRY = build_registry(CATALOGUE)
parse = REGISTRY.parse
help_sections = REGISTRY.help_sections
help_text = REGISTRY.help_text

TODAY = date(2026, 3, 15)
INSTAL = (
    "/adops export instal <range> [interval=hourly|daily|monthly] "
    "[sort=time|campaign|aff_sub_id|cr] [headers=on|off]"
)
JOBS = "/adops jobs [all]"
CANCEL = "/adops jobs cancel <job-id>"
HELP = "/adops help [topic...]"
#: The usage shown for a mistyped export: every export command's.
EXPORTS = "\n".join(usage(spec) for spec in REGISTRY.values() if spec.words[0] == "export")
#: The command list every "unknown command" error shows: each registered command's synopsis.
COMMANDS = "\n".join(
    " ".join(["/adops", *spec.words, *(p.synopsis for p in spec.positionals)]) for spec in REGISTRY.values()
)


def fails(text: str, registry: Registry = REGISTRY) -> UsageError:
    with pytest.raises(UsageError) as raised:
        registry.parse(text, today=TODAY)
    return raised.value


# -- tokenizer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("help payload", ["help", "payload"]),
        ("  export   instal\tyesterday \n", ["export", "instal", "yesterday"]),
        ("filters name~&quot;x", ["filters", "name~&quot;x"]),
        ("streams name~a&amp;b", ["streams", "name~a&b"]),
        ("streams name~&lt;US&gt;", ["streams", "name~<US>"]),
        ("streams name~&amp;lt;", ["streams", "name~&lt;"]),
        ("filters name~\u201cmy group\u201d", ["filters", "name~my group"]),
        ("filters name~\u2018my group\u2019", ["filters", "name~my group"]),
        ("digest add \u201c0 9 * * 1-5\u201d funnel", ["digest", "add", "0 9 * * 1-5", "funnel"]),
        ("jobs\u00a0all", ["jobs", "all"]),
        ("jobs\u202fall", ["jobs", "all"]),
        ("filters name~\"a\u00a0b\"", ["filters", "name~a b"]),
        ("jo\u200bbs", ["jobs"]),
        ('filters name~"my group"', ["filters", "name~my group"]),
        ("filters name~'say \"hi\"'", ["filters", 'name~say "hi"']),
        ('filters name~"O\'Brien"', ["filters", "name~O'Brien"]),
        ('a "" b', ["a", "", "b"]),
        ('"a b"c', ["a bc"]),
        (r"lookup click C:\path\n", ["lookup", "click", r"C:\path\n"]),
        ("", []),
        ("   ", []),
    ],
)
def test_tokenize(text: str, words: list[str]) -> None:
    assert tokenize(text) == words


@pytest.mark.parametrize(
    "text",
    ['a "b c" d', "x='1 2' y=3", 'k~"a b"\'c d\'', '""', "a\tb", r"back\slash 'q\'"],
)
def test_tokenize_agrees_with_shlex_without_escapes(text: str) -> None:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""
    assert tokenize(text) == list(lexer)


@pytest.mark.parametrize(
    ("text", "usage_shown"),
    [
        ('export instal "yesterday', INSTAL),
        ("export instal yesterday interval=\u201cdaily", INSTAL),
        ("jobs cancel 'J7K2P9QXM", CANCEL),
        ("name~O\u2019Brien", COMMANDS),
    ],
)
def test_unclosed_quote(text: str, usage_shown: str) -> None:
    error = fails(text)
    assert error.message.startswith("Unclosed quote (")
    assert "wrap the whole text in double quotes" in error.message
    assert error.usage == usage_shown


# -- the declared commands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("", "help", {"topic": None}),
        ("  ", "help", {"topic": None}),
        ("help", "help", {"topic": None}),
        ("HELP Export", "help", {"topic": "Export"}),
        ("help export   instal", "help", {"topic": "export instal"}),
        ("help jobs cancel", "help", {"topic": "jobs cancel"}),
        (
            "export instal yesterday",
            "export instal",
            {
                "range": DateRange(date(2026, 3, 14), date(2026, 3, 14), "yesterday"),
                "interval": "daily",
                "sort": None,
                "headers": True,
            },
        ),
        (
            "Export Instal interval=Hourly 2026-03-01..2026-03-10 sort=aff_sub_id headers=off",
            "export instal",
            {
                "range": DateRange(date(2026, 3, 1), date(2026, 3, 10), "2026-03-01..2026-03-10"),
                "interval": "hourly",
                "sort": "aff_sub_id",
                "headers": False,
            },
        ),
        (
            "export instal last-month interval=monthly sort=CR headers=YES",
            "export instal",
            {
                "range": DateRange(date(2026, 2, 1), date(2026, 2, 28), "last-month"),
                "interval": "monthly",
                "sort": "cr",
                "headers": True,
            },
        ),
        ("jobs", "jobs", {"scope": "mine"}),
        ("jobs all", "jobs", {"scope": "all"}),
        ("Jobs ALL", "jobs", {"scope": "all"}),
        ("jobs cancel J7K2P9QXM", "jobs cancel", {"job_id": "J7K2P9QXM"}),
        ("jobs cancel j7k2p9qxm", "jobs cancel", {"job_id": "J7K2P9QXM"}),
        # Crockford: I and L read as 1, O as 0.
        ("jobs cancel jI2L4o6AB", "jobs cancel", {"job_id": "J121406AB"}),
    ],
)
def test_commands_parse(text: str, name: str, args: dict[str, Any]) -> None:
    parsed = parse(text, today=TODAY)
    assert parsed.name == name
    assert parsed.spec is REGISTRY[name]
    assert parsed.args == args
    assert parsed.filters == {}
    assert parsed.flags == frozenset()


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("", "help"),
        ("EXPORT instal Yesterday", "export instal Yesterday"),
        ("export instal last7d interval=Hourly sort=CR headers=no", "export instal last7d interval=hourly sort=cr headers=off"),
        ("jobs  ALL", "jobs all"),
        ("jobs cancel j7k2p9qxm", "jobs cancel J7K2P9QXM"),
        ("help  export\u00a0instal", "help export instal"),
    ],
)
def test_parsed_text_is_normalized_and_parses_the_same(text: str, normalized: str) -> None:
    parsed = parse(text, today=TODAY)
    assert parsed.text == normalized
    again = parse(parsed.text, today=TODAY)
    assert (again.name, again.args) == (parsed.name, parsed.args)


@pytest.mark.parametrize(
    ("text", "message", "usage_shown"),
    [
        ("exprot instal yesterday", "Unknown command `exprot`. Did you mean `export`?", COMMANDS),
        ("jbos", "Unknown command `jbos`. Did you mean `jobs`?", COMMANDS),
        ("frobnicate", "Unknown command `frobnicate`.", COMMANDS),
        ("export", "`export` needs a subcommand: `export instal`, `export 24metrics`", EXPORTS),
        ("export insta yesterday", "Unknown subcommand `export insta`. Did you mean `export instal`?", EXPORTS),
        ("export everything", "Unknown subcommand `export everything`.", EXPORTS),
        ("jobs cancle J7K2P9QXM", "Unknown subcommand `jobs cancle`. Did you mean `jobs cancel`?", f"{JOBS}\n{CANCEL}"),
        ("jobs mine", "`mine` is not a valid scope; use `all`.", JOBS),
        ("jobs all extra", "Unexpected word `extra`.", JOBS),
        ("jobs all interval=daily", "`jobs` takes no options (`interval=`).", JOBS),
        ("jobs name~x", "`jobs` takes no filters (`name~`).", JOBS),
        ("jobs cancel", "Missing `<job-id>`: The id from the job's queued line, such as `J7K2P9QXM`.", CANCEL),
        ("jobs cancel J7K2", "`J7K2` is not a job id: J followed by 8 letters or digits, like `J7K2P9QXM`.", CANCEL),
        ("jobs cancel K7K2P9QXA", "`K7K2P9QXA` is not a job id", CANCEL),
        ("jobs cancel J7K2P9QUM", "`J7K2P9QUM` is not a job id", CANCEL),
        ("jobs cancel J7K2P9QXMM", "`J7K2P9QXMM` is not a job id", CANCEL),
        ("jobs cancel J7K2P9QXM J7K2P9QYM", "Unexpected word `J7K2P9QYM`.", CANCEL),
        ("export instal", "Missing `<range>`: Days to export (dates only).", INSTAL),
        ("export instal interval=hourly", "Missing `<range>`", INSTAL),
        ("export instal yesterday today", "Unexpected word `today`.", INSTAL),
        ("export instal 2026-02-30", "2026-02-30 is not a date: February 2026 has 28 days.", INSTAL),
        ("export instal 2026-03-16", "which is in the future (today is 2026-03-15)", INSTAL),
        ("export instal 2025-03-01..2026-03-14", "The range covers 379 days; at most 366 are allowed here.", INSTAL),
        ("export instal lastweek", "`lastweek` is not a date range. Use one of: " + RANGE_FORMS, INSTAL),
        (
            "export instal 2026-03-01T10:00..2026-03-02",
            "2026-03-01T10:00: this command takes dates, not times",
            INSTAL,
        ),
        ("export instal yesterday intervl=daily", "Unknown option `intervl=`. Did you mean `interval=`?", INSTAL),
        ("export instal yesterday colour=red", "Unknown option `colour=`.", INSTAL),
        ("export instal yesterday interval=daily Interval=hourly", "`interval=` is given twice.", INSTAL),
        ("export instal yesterday interval=weekly", "`interval=weekly` is not valid; use `hourly`, `daily` or `monthly`.", INSTAL),
        ("export instal yesterday sort=campain", "Did you mean `campaign`?", INSTAL),
        ("export instal yesterday headers=maybe", "`headers=maybe` is not valid; use `on` or `off`.", INSTAL),
        ("export instal yesterday interval=", "`interval=` needs a value, with no space after `=`", INSTAL),
        ("export instal yesterday interval~daily", "`interval` is an option: write `interval=daily`.", INSTAL),
        ("help payload", "Unknown help topic `payload`.", COMMANDS),
        ("help exprot", "Unknown help topic `exprot`. Did you mean `export`?", COMMANDS),
        ("help export instal interval=daily", "`help` takes no options (`interval=`).", HELP),
    ],
)
def test_usage_errors(text: str, message: str, usage_shown: str) -> None:
    error = fails(text)
    assert message in error.message
    assert error.usage == usage_shown


def test_usage_error_str_shows_message_and_usage() -> None:
    single = fails("jobs cancel")
    assert str(single) == f"{single.message}\nUsage: `{CANCEL}`"
    assert str(UsageError("Just the message.", "")) == "Just the message."
    several = fails("exprot")
    assert str(several) == f"{several.message}\nUsage:\n" + "\n".join(f"`{line}`" for line in COMMANDS.splitlines())


def test_quoted_separator_is_text_not_an_option() -> None:
    # The `=` is inside quotes, so the word is a positional (and not a known scope).
    assert fails('jobs "interval=daily"').message == "`interval=daily` is not a valid scope; use `all`."


# -- usage and help ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line"),
    [("help", HELP), ("export instal", INSTAL), ("jobs", JOBS), ("jobs cancel", CANCEL)],
)
def test_usage_lines(name: str, line: str) -> None:
    assert usage(REGISTRY[name]) == line


def test_help_overview_lists_every_command_and_the_range_forms() -> None:
    text = help_text()
    for spec in REGISTRY.values():
        assert f"`/adops {spec.name}" in text
        assert spec.summary in text
    assert RANGE_FORMS in text
    assert help_text(None) == help_text("") == text


@pytest.mark.parametrize(
    ("topic", "names"),
    [
        ("export", ["export instal", "export 24metrics", "export 24metrics list", "export 24metrics delete",
                    "export everflow impressions", "export adspect clicks"]),
        ("EXPORT instal", ["export instal"]),
        ("export instal yesterday", ["export instal"]),
        ("jobs", ["jobs", "jobs cancel"]),
        ("jobs cancel", ["jobs cancel"]),
        ("/adops jobs cancel", ["jobs cancel"]),
        ("help", ["help"]),
    ],
)
def test_help_topic_shows_usage_options_and_examples(topic: str, names: list[str]) -> None:
    sections = help_sections(topic)
    assert len(sections) == len(names)
    for section, name in zip(sections, names):
        spec = REGISTRY[name]
        assert section.startswith(f"`{usage(spec)}`")
        for option in spec.options:
            assert f"`{option.synopsis}` {option.help}" in section
        for example in spec.examples:
            assert f"`/adops {example}`" in section
    assert help_text(topic) == "\n\n".join(sections)


def test_help_details_defaults_and_range_forms() -> None:
    text = help_text("export instal")
    assert "`interval=hourly|daily|monthly` Report time resolution. Default: `daily`." in text
    assert "`headers=on|off` Header row on top of the CSV. Default: `on`." in text
    assert f"Date range: {RANGE_FORMS}. At most 366 days." in text


def test_every_registered_command_has_short_help_and_examples_that_parse() -> None:
    for spec in REGISTRY.values():
        # A job id, an audit id or a digest id exists only once its job, change or digest does: such a command
        # cannot have an example that runs as printed.
        assert spec.examples or any(p.kind == "job" or p.metavar in ("audit-id", "digest-id") for p in spec.positionals), spec.name
        for example in spec.examples:
            assert parse(example, today=TODAY).name == spec.name
        for section in help_sections(spec.name):
            assert len(section) <= SECTION_LIMIT
    for section in help_sections():
        assert len(section) <= SECTION_LIMIT


@pytest.mark.parametrize(
    ("topic", "message"),
    [("exprot", "Unknown help topic `exprot`. Did you mean `export`?"), ("payload", "Unknown help topic `payload`.")],
)
def test_help_unknown_topic(topic: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        help_text(topic)
    assert raised.value.message == message
    assert raised.value.usage == COMMANDS


# -- the machinery, on a registry of its own -------------------------------------------------


def _no_everything(parsed: Parsed) -> str | None:
    if parsed.args["metrics"] and len(parsed.args["metrics"]) > 2 and "all" in parsed.flags:
        return "`all` and more than two metrics cannot be combined."
    return None


@pytest.fixture(scope="module")
def kinds() -> Registry:
    registry = Registry()
    registry.register(
        CommandSpec(
            words=("report",),
            summary="Every option kind.",
            positionals=(
                Positional("range", "range", "When.", allow_time=True, max_days=14),
                Positional("mode", "choice", "Mode.", choices=("Filter", "Review"), optional=True, default="Review"),
            ),
            options=(
                Option("metrics", "list", "Metrics.", choices=("clicks", "leads", "sales")),
                Option("fields", "list", "Any fields.", default=("a",)),
                Option("label", "text", "A label."),
                Option("limit", "int", "Rows.", min=1, max=100, default=10),
                Option("raw", "bool", "Raw.", default=False),
                Option("tz", "tz", "Zone.", default="UTC"),
            ),
            examples=("report yesterday",),
            filters=("name", "country"),
            flags=("skip-empty", "all"),
            validate=_no_everything,
        )
    )
    registry.register(
        CommandSpec(
            words=("monitor",),
            summary="Optional before required.",
            admin_only=True,
            positionals=(
                Positional("group", "word", "Group.", optional=True, default="all"),
                Positional("state", "choice", "State.", choices=("on", "off")),
            ),
        )
    )
    return registry


REPORT_USAGE = (
    "/adops report <range> [Filter|Review] [metrics=v1,v2,...] [fields=v1,v2,...] [label=<label>] "
    "[limit=<n>] [raw=on|off] [tz=Area/City] [name~text] [country~text] [skip-empty] [all]"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "report yesterday",
            {"mode": "Review", "metrics": None, "fields": ("a",), "label": None, "limit": 10, "raw": False, "tz": "UTC"},
        ),
        (
            "report yesterday filter metrics=Leads,clicks,,leads fields=\"x, y\" label='my label' limit=100 raw=ON "
            "tz=europe/berlin",
            {
                "mode": "Filter",
                "metrics": ("leads", "clicks"),
                "fields": ("x", "y"),
                "label": "my label",
                "limit": 100,
                "raw": True,
                "tz": "Europe/Berlin",
            },
        ),
        ("report yesterday tz=America/Argentina/Buenos_Aires limit=1", {"tz": "America/Argentina/Buenos_Aires", "limit": 1}),
        ("report yesterday label=a=b~c", {"label": "a=b~c"}),
    ],
)
def test_option_kinds(kinds: Registry, text: str, expected: dict[str, Any]) -> None:
    args = kinds.parse(text, today=TODAY).args
    assert {key: args[key] for key in expected} == expected


def test_time_range_positional(kinds: Registry) -> None:
    found = kinds.parse("report 2026-03-01T10:00..2026-03-02", today=TODAY).args["range"]
    assert found.has_time and str(found) == "2026-03-01T10:00..2026-03-02T23:59"


def test_filters_flags_and_text_round_trip(kinds: Registry) -> None:
    parsed = kinds.parse(
        "report Skip-Empty yesterday name~\u201cmy group\u201d country~&lt;US&gt; label=\u2018a&amp;b\u2019",
        today=TODAY,
    )
    assert parsed.filters == {"name": "my group", "country": "<US>"}
    assert parsed.flags == frozenset({"skip-empty"})
    assert parsed.args["label"] == "a&b"
    assert parsed.text == 'report skip-empty yesterday name~"my group" country~<US> label=a&b'

    again = kinds.parse(parsed.text, today=TODAY)
    assert (again.args, again.filters, again.flags) == (parsed.args, parsed.filters, parsed.flags)


def test_text_keeps_awkward_values_intact(kinds: Registry) -> None:
    parsed = kinds.parse("""report yesterday label='say "hi"'"it's" name~a=b""", today=TODAY)
    assert parsed.args["label"] == """say "hi"it's"""
    assert parsed.filters == {"name": "a=b"}
    again = kinds.parse(parsed.text, today=TODAY)
    assert (again.args, again.filters) == (parsed.args, parsed.filters)


@pytest.mark.parametrize(
    ("text", "args"),
    [("monitor on", {"group": "all", "state": "on"}), ("monitor 123 OFF", {"group": "123", "state": "off"})],
)
def test_optional_positional_before_required(kinds: Registry, text: str, args: dict[str, Any]) -> None:
    assert kinds.parse(text, today=TODAY).args == args


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("report", "Missing `<range>`: When."),
        ("report last30d", "The range covers 30 days; at most 14 are allowed here."),
        ("report yesterday money", "`money` is not a valid mode; use `Filter` or `Review`."),
        ("report yesterday metrics=clicks,lead", "`lead` in `metrics=` is not valid; use `clicks`, `leads` or `sales`. Did you mean `leads`?"),
        ("report yesterday metrics=,", "`metrics=` needs at least one value, as in `metrics=v1,v2,...`."),
        ("report yesterday limit=ten", "`limit=ten` is not a whole number."),
        ("report yesterday limit=0", "`limit=` must be at least 1."),
        ("report yesterday limit=101", "`limit=` must be at most 100."),
        ("report yesterday tz=Mars/Olympus", "`tz=Mars/Olympus` is not a time zone; use an IANA name such as `Europe/Berlin`."),
        ("report yesterday tz=Europe/Berln", "Did you mean `Europe/Berlin`?"),
        ("report yesterday tz=../etc/passwd", "`tz=../etc/passwd` is not a time zone"),
        ("report yesterday label=", "`label=` needs a value"),
        ("report yesterday name~a name~b", "`name~` is given twice."),
        ("report yesterday name~", "`name~` needs text to look for, as in `name~text`."),
        ("report yesterday nme~x", "Unknown filter `nme~`. Did you mean `name~`?"),
        ("report yesterday name=x", "`name` is a filter: write `name~x`."),
        ("report yesterday skip-empty skip-empty", "`skip-empty` is given twice."),
        ("report yesterday Review skip-emty", "Unexpected word `skip-emty`. Did you mean `skip-empty`?"),
        ("report yesterday all metrics=clicks,leads,sales", "`all` and more than two metrics cannot be combined."),
        ("monitor", "Missing `on|off`: State."),
        ("monitor 1 2 on", "Unexpected word `on`."),
    ],
)
def test_machinery_errors(kinds: Registry, text: str, message: str) -> None:
    error = fails(text, kinds)
    assert message in error.message
    assert error.usage == (REPORT_USAGE if text.startswith("report") else "/adops monitor [group] on|off")


def test_registry_without_help_rejects_empty_text(kinds: Registry) -> None:
    error = fails("", kinds)
    assert error.message == "Missing command."
    assert error.usage == "/adops report <range> [Filter|Review]\n/adops monitor [group] on|off"


def test_help_of_machinery_kinds(kinds: Registry) -> None:
    text = kinds.help_text("report")
    assert "`metrics=v1,v2,...` Metrics. Any of: `clicks`, `leads`, `sales`." in text
    assert "`limit=<n>` Rows. From 1 to 100. Default: `10`." in text
    assert "`raw=on|off` Raw. Default: `off`." in text
    assert "`fields=v1,v2,...` Any fields. Default: `a`." in text
    assert "`name~text` Only those whose name contains the text" in text
    assert "`skip-empty` (flag)" in text
    assert "`YYYY-MM-DDTHH:MM` at either end of a range" in text
    assert "`report` also takes `YYYY-MM-DDTHH:MM`" in kinds.help_text()
    assert "• `/adops monitor [group] on|off` Optional before required. _(admins)_" in kinds.help_text()
    assert "Optional before required. _Admins only._" in kinds.help_text("monitor")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (CommandSpec(words=("Bad",), summary="."), "lowercase words"),
        (CommandSpec(words=(), summary="."), "lowercase words"),
        (CommandSpec(words=("x",), summary=".", options=(Option("a", "choice", "."),)), "needs choices"),
        (CommandSpec(words=("x",), summary=".", options=(Option("a", "float", "."),)), "unknown kind"),  # type: ignore[arg-type]
        (CommandSpec(words=("x",), summary=".", options=(Option("A", "text", "."),)), "lowercase key"),
        (
            CommandSpec(words=("x",), summary=".", positionals=(Positional("a", "word", "."),), options=(Option("a", "text", "."),)),
            "must be unique",
        ),
        (
            CommandSpec(
                words=("x",),
                summary=".",
                positionals=(Positional("a", "word", ".", rest=True), Positional("b", "word", ".", rest=True)),
            ),
            "only one positional may take the rest",
        ),
        (
            CommandSpec(
                words=("x",),
                summary=".",
                positionals=(Positional("a", "word", ".", rest=True), Positional("b", "word", ".", optional=True)),
            ),
            "allows no other optional one",
        ),
        (
            CommandSpec(words=("x",), summary=".", options=(Option("a", "text", ".", required=True, default="d"),)),
            "cannot have a default",
        ),
        (CommandSpec(words=("x",), summary=".", positionals=(Positional("a", "choice", "."),)), "needs choices"),
        (CommandSpec(words=("x",), summary=".", filters=("a",), options=(Option("a", "text", "."),)), "not an option"),
        (CommandSpec(words=("x",), summary=".", flags=("Skip Empty",)), "lowercase word"),
    ],
)
def test_malformed_specs_are_refused(spec: CommandSpec, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Registry().register(spec)


def test_duplicate_registration_is_refused() -> None:
    registry = Registry()
    registry.register(CommandSpec(words=("x",), summary="."))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(CommandSpec(words=("x",), summary="again"))


def test_every_command_that_needs_an_admin_says_whether_it_changes_state() -> None:
    # An admin-only vendor command is one that changes vendor state; a digest refuses those by
    # `changes_state`, so a new one that forgot the flag would run unattended. Fail here first.
    assert [s.name for s in CATALOGUE.commands if s.admin_only and not s.changes_state] == []
    assert {s.name for s in CATALOGUE.commands if s.changes_state} >= {"monitor", "stream", "filters delete"}

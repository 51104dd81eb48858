"""The `/adops` grammar: declarative command specs, the parser and the help built from them.

A command is a `CommandSpec` registered once; the parser, the usage line shown with every
error and `/adops help` are all derived from it, so they cannot drift apart. Adding a command
means declaring a spec and switching on `Parsed.name` where the job is built.

Text reaches `parse` as Slack sends it: `&`, `<`, `>` HTML-escaped, quotes made curly by
phones, non-breaking spaces. It is normalized, then split with shell-like quoting (single or
double quotes, no backslash escapes, so a backslash a user types stays a backslash). Every
word after the command's own words is one of:

- `key=value`   an option (`key=a,b,c` for lists),
- `key~text`    a contains-filter,
- a flag        a bare word the spec declares, such as `skip-empty`,
- a positional  anything else, assigned in order.

A `=` or `~` inside quotes is text, not a separator: `"a=b"` is a positional.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from bot.dates import RANGE_FORMS, TIME_FORM, RangeError, parse_range

__all__ = [
    "COMMAND",
    "CommandSpec",
    "Option",
    "Parsed",
    "Positional",
    "REGISTRY",
    "Registry",
    "UsageError",
    "help_sections",
    "help_text",
    "parse",
    "register",
    "tokenize",
    "usage",
]

COMMAND = "/adops"
#: Slack's section text limit; each help section stays under it.
SECTION_LIMIT = 3000

OptionKind = Literal["choice", "list", "text", "int", "bool", "tz"]
PositionalKind = Literal["range", "word", "choice", "job"]

_OPTION_KINDS = frozenset(("choice", "list", "text", "int", "bool", "tz"))
_POSITIONAL_KINDS = frozenset(("range", "word", "choice", "job"))
_BOOLS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_WORD = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Job ids are "J" + 8 symbols of Crockford's base32 (see workers.jobs.new_job_id). Crockford
# decoding reads I and L as 1 and O as 0, which forgives the usual misreadings of an id.
_JOB_ID = re.compile(r"J[0-9A-HJKMNP-TV-Z]{8}")
_CROCKFORD_ALIASES = str.maketrans("ILO", "110")

# Slack escapes exactly these three; `&amp;` goes last so `&amp;lt;` stays the text `&lt;`.
_SLACK_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_TYPOGRAPHY = str.maketrans(
    {
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u201b": "'",  # ‛
        "\u00a0": " ",  # no-break space
        "\u2007": " ",  # figure space
        "\u202f": " ",  # narrow no-break space
        "\u200b": None,  # zero-width space
        "\u2060": None,  # word joiner
        "\ufeff": None,  # byte order mark
    }
)


class UsageError(Exception):
    """The text is not a valid command. `message` says why; `usage` shows what would be.

    `usage` is one usage line for the command the user meant, several lines when the text
    named a group (`export`), or the command list when no command could be recognized.
    """

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def __str__(self) -> str:
        lines = self.usage.splitlines()
        if not lines:
            return self.message
        if len(lines) == 1:
            return f"{self.message}\nUsage: `{lines[0]}`"
        return f"{self.message}\nUsage:\n" + "\n".join(f"`{line}`" for line in lines)


@dataclass(frozen=True)
class Option:
    """A `key=value` option. `default` is used when it is absent (and is not validated)."""

    name: str
    kind: OptionKind
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None
    min: int | None = None
    max: int | None = None
    #: Shown after `name=` in usage lines; derived from the kind when unset.
    metavar: str | None = None

    @property
    def synopsis(self) -> str:
        if self.metavar:
            shape = self.metavar
        elif self.kind == "choice":
            shape = "|".join(self.choices)
        elif self.kind == "bool":
            shape = "on|off"
        elif self.kind == "int":
            shape = "<n>"
        elif self.kind == "tz":
            shape = "Area/City"
        elif self.kind == "list":
            shape = "v1,v2,..."
        else:
            shape = f"<{self.name}>"
        return f"{self.name}={shape}"


@dataclass(frozen=True)
class Positional:
    """A positional argument. `range` positionals read `allow_time` and `max_days`.

    `rest` takes every remaining positional word, joined by single spaces (help topics).
    """

    name: str
    kind: PositionalKind
    help: str
    choices: tuple[str, ...] = ()
    optional: bool = False
    default: Any = None
    allow_time: bool = False
    max_days: int | None = None
    rest: bool = False
    metavar: str | None = None

    @property
    def synopsis(self) -> str:
        label = self.metavar or self.name.replace("_", "-")
        dots = "..." if self.rest else ""
        if self.kind == "choice" and not self.metavar:
            shape = "|".join(self.choices)
            return f"[{shape}]" if self.optional else shape
        return f"[{label}{dots}]" if self.optional else f"<{label}{dots}>"


@dataclass(frozen=True)
class CommandSpec:
    """One command. `validate` sees the parsed command and returns an error message or None
    (it may also raise `UsageError` itself)."""

    words: tuple[str, ...]
    summary: str
    positionals: tuple[Positional, ...] = ()
    options: tuple[Option, ...] = ()
    examples: tuple[str, ...] = ()
    admin_only: bool = False
    filters: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    validate: Callable[[Parsed], str | None] | None = None

    @property
    def name(self) -> str:
        return " ".join(self.words)

    def option(self, name: str) -> Option | None:
        return next((option for option in self.options if option.name == name), None)


@dataclass(frozen=True)
class Parsed:
    spec: CommandSpec
    name: str
    #: Positionals and options by name, defaults filled in.
    args: dict[str, Any]
    filters: dict[str, str] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    #: The command re-assembled from what was typed (canonical words, quoting where needed);
    #: parsing it again gives the same result, relative ranges such as `yesterday` included.
    text: str = ""


def usage(spec: CommandSpec) -> str:
    """The one-line usage, e.g. `/adops jobs cancel <job-id>`."""
    parts = [COMMAND, *spec.words]
    parts += [positional.synopsis for positional in spec.positionals]
    parts += [f"[{option.synopsis}]" for option in spec.options]
    parts += [f"[{key}~text]" for key in spec.filters]
    parts += [f"[{flag}]" for flag in spec.flags]
    return " ".join(parts)


def tokenize(text: str) -> list[str]:
    """Split Slack text into words, the way `parse` sees them."""
    return [token.text for token in _lex(_normalize(text))]


class Registry(Mapping[str, CommandSpec]):
    """Command specs by name, in registration order (which is the order help lists them)."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}

    def __getitem__(self, name: str) -> CommandSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def register(self, spec: CommandSpec) -> CommandSpec:
        _check_spec(spec)
        if spec.name in self._specs:
            raise ValueError(f"command {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    # -- parsing ----------------------------------------------------------------------

    def parse(self, text: str, *, today: date) -> Parsed:
        normalized = _normalize(text)
        try:
            tokens = _lex(normalized)
        except _UnclosedQuote as error:
            spec = self._match([token.text for token in _lex(normalized[: error.position])])
            raise UsageError(
                f"Unclosed quote ({error.quote}): add the closing one. To type an apostrophe, "
                "wrap the whole text in double quotes, as in `name~\"O'Brien\"`.",
                usage(spec) if spec else self.command_list(),
            ) from None
        if not tokens:
            if "help" not in self._specs:
                raise UsageError("Missing command.", self.command_list())
            tokens = [_Token("help", -1)]
        words = [token.text for token in tokens]
        spec = self._match(words)
        if spec is None:
            raise self._unknown(words)
        return _Parser(self, spec, tokens[len(spec.words) :], today).run()

    def _match(self, words: list[str]) -> CommandSpec | None:
        """The spec whose words are the longest prefix of `words`."""
        lowered = tuple(word.lower() for word in words)
        best: CommandSpec | None = None
        for spec in self._specs.values():
            if lowered[: len(spec.words)] == spec.words and (best is None or len(spec.words) > len(best.words)):
                best = spec
        return best

    def _unknown(self, words: list[str]) -> UsageError:
        lowered = [word.lower() for word in words]
        depth = 0
        while depth < len(lowered) and self._group(lowered[: depth + 1]):
            depth += 1
        if depth == 0:
            message = f"Unknown command `{words[0]}`." + _did_you_mean(
                lowered[0], {spec.words[0] for spec in self._specs.values()}
            )
            return UsageError(message, self.command_list())
        group = self._group(lowered[:depth])
        prefix = " ".join(lowered[:depth])
        if depth == len(lowered):
            names = ", ".join(f"`{spec.name}`" for spec in group)
            return UsageError(f"`{prefix}` needs a subcommand: {names}.", _usages(group))
        nexts = {spec.words[depth] for spec in group if len(spec.words) > depth}
        message = f"Unknown subcommand `{prefix} {words[depth]}`." + _did_you_mean(
            lowered[depth], nexts, prefix=f"{prefix} "
        )
        return UsageError(message, _usages(group))

    def _group(self, prefix: list[str]) -> list[CommandSpec]:
        """Specs whose words start with `prefix`."""
        size = len(prefix)
        return [spec for spec in self._specs.values() if list(spec.words[:size]) == prefix]

    # -- help -------------------------------------------------------------------------

    def command_list(self) -> str:
        return "\n".join(_synopsis(spec) for spec in self._specs.values())

    def help_topic(self, topic: str | None) -> list[CommandSpec]:
        """The specs `help <topic>` explains; all of them for no topic. Raises `UsageError`."""
        if not topic or not topic.strip():
            return list(self._specs.values())
        words = topic.lower().split()
        if words[0] == COMMAND:
            words = words[1:]
        if not words:
            return list(self._specs.values())
        if group := self._group(words):
            return group
        # `help export instal yesterday` explains `export instal`.
        if spec := self._match(words):
            return [spec]
        names = {spec.name for spec in self._specs.values()} | {spec.words[0] for spec in self._specs.values()}
        message = f"Unknown help topic `{topic.strip()}`." + _did_you_mean(" ".join(words), names)
        raise UsageError(message, self.command_list())

    def help_sections(self, topic: str | None = None) -> list[str]:
        """Help as mrkdwn sections, each within Slack's section limit."""
        if not topic or not topic.strip():
            return self._overview()
        return [_describe(spec) for spec in self.help_topic(topic)]

    def help_text(self, topic: str | None = None) -> str:
        """Help as one mrkdwn string; sections are separated by blank lines."""
        return "\n\n".join(self.help_sections(topic))

    def _overview(self) -> list[str]:
        lines = [f"*`{COMMAND}` commands* (`{COMMAND} help <command>` for options and examples)"]
        for spec in self._specs.values():
            admin = " _(admins)_" if spec.admin_only else ""
            lines.append(f"• `{_synopsis(spec)}` {spec.summary}{admin}")
        sections = _chunk(lines)
        dates = f"*Date ranges:* {RANGE_FORMS}."
        timed = [spec.name for spec in self._specs.values() if any(p.allow_time for p in spec.positionals)]
        if timed:
            dates += f" {', '.join(f'`{name}`' for name in timed)} also takes {TIME_FORM}."
        return [*sections, dates]


@dataclass(frozen=True)
class _Token:
    text: str
    #: Index in `text` of the first unquoted `=` or `~`, or -1.
    sep: int


class _UnclosedQuote(Exception):
    def __init__(self, quote: str, position: int) -> None:
        super().__init__(quote)
        self.quote = quote
        self.position = position


def _normalize(text: str) -> str:
    for entity, char in _SLACK_ENTITIES:
        text = text.replace(entity, char)
    return text.translate(_TYPOGRAPHY)


def _lex(text: str) -> list[_Token]:
    """POSIX-shell-style words without backslash escapes, remembering unquoted separators."""
    tokens: list[_Token] = []
    chars: list[str] = []
    sep = -1
    started = False
    quote = ""
    opened_at = 0
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
            else:
                chars.append(char)
        elif char in "\"'":
            quote, opened_at, started = char, index, True
        elif char.isspace():
            if started:
                tokens.append(_Token("".join(chars), sep))
                chars, sep, started = [], -1, False
        else:
            if char in "=~" and sep < 0:
                sep = len(chars)
            chars.append(char)
            started = True
    if quote:
        raise _UnclosedQuote(quote, opened_at)
    if started:
        tokens.append(_Token("".join(chars), sep))
    return tokens


class _Parser:
    """One parse of the words after a command's own words."""

    def __init__(self, registry: Registry, spec: CommandSpec, tokens: list[_Token], today: date) -> None:
        self.registry = registry
        self.spec = spec
        self.tokens = tokens
        self.today = today
        self.usage = usage(spec)

    def fail(self, message: str) -> UsageError:
        return UsageError(message, self.usage)

    def run(self) -> Parsed:
        spec = self.spec
        args: dict[str, Any] = {}
        filters: dict[str, str] = {}
        flags: set[str] = set()
        words: list[_Token] = []
        # Each word as it will appear in `Parsed.text`; an int stands for the n-th positional.
        canonical: list[str | int] = []
        for token in self.tokens:
            if token.sep >= 0 and _KEY.fullmatch(token.text[: token.sep]):
                key, value = token.text[: token.sep].lower(), token.text[token.sep + 1 :]
                if token.text[token.sep] == "=":
                    args[key] = self.option(key, value, args)
                    canonical.append(f"{key}={_quote(_render(args[key], value))}")
                else:
                    filters[key] = self.filter(key, value, filters)
                    canonical.append(f"{key}~{_quote(value)}")
            elif token.text.lower() in spec.flags:
                flag = token.text.lower()
                if flag in flags:
                    raise self.fail(f"`{flag}` is given twice.")
                flags.add(flag)
                canonical.append(flag)
            else:
                words.append(token)
                canonical.append(len(words) - 1)
        values, shown = self.positionals(words)
        args = {**values, **{option.name: args.get(option.name, option.default) for option in spec.options}}
        text = " ".join([*spec.words, *(shown[part] if isinstance(part, int) else part for part in canonical)])
        parsed = Parsed(spec, spec.name, args, filters, frozenset(flags), text)
        if spec.validate is not None and (problem := spec.validate(parsed)):
            raise self.fail(problem)
        return parsed

    # -- options and filters ----------------------------------------------------------

    def option(self, key: str, value: str, seen: Mapping[str, Any]) -> Any:
        spec = self.spec
        option = spec.option(key)
        if option is None:
            if key in spec.filters:
                raise self.fail(f"`{key}` is a filter: write `{key}~{value}`.")
            if spec.options:
                hint = _did_you_mean(key, [o.name for o in spec.options], suffix="=")
                raise self.fail(f"Unknown option `{key}=`.{hint}")
            raise self.fail(f"`{spec.name}` takes no options (`{key}=`).")
        if key in seen:
            raise self.fail(f"`{key}=` is given twice.")
        if value == "":
            raise self.fail(f"`{key}=` needs a value, with no space after `=`, as in `{option.synopsis}`.")
        return _convert_option(option, value, self.fail)

    def filter(self, key: str, value: str, seen: Mapping[str, str]) -> str:
        spec = self.spec
        if key not in spec.filters:
            if spec.option(key) is not None:
                raise self.fail(f"`{key}` is an option: write `{key}={value}`.")
            if spec.filters:
                hint = _did_you_mean(key, spec.filters, suffix="~")
                raise self.fail(f"Unknown filter `{key}~`.{hint}")
            raise self.fail(f"`{spec.name}` takes no filters (`{key}~`).")
        if key in seen:
            raise self.fail(f"`{key}~` is given twice.")
        if value == "":
            raise self.fail(f"`{key}~` needs text to look for, as in `{key}~text`.")
        return value

    # -- positionals ------------------------------------------------------------------

    def positionals(self, words: list[_Token]) -> tuple[dict[str, Any], list[str]]:
        """Values by name, and each word as `Parsed.text` shows it."""
        spec = self.spec
        if words and (typo := self.misspelt_subcommand(words[0].text)):
            raise typo
        required = sum(1 for p in spec.positionals if not p.optional)
        if len(words) < required:
            missing = self.unfilled(len(words))
            raise self.fail(f"Missing `{missing.synopsis}`: {missing.help}")
        if len(words) > len(spec.positionals) and not any(p.rest for p in spec.positionals):
            # Too many words: name the first one over, rather than misassign the others.
            extra = words[len(spec.positionals)].text
            raise self.wrong_word(f"Unexpected word `{extra}`.", extra)
        spare = len(words) - required
        values: dict[str, Any] = {}
        shown = [_quote(word.text, positional=True) for word in words]
        position = 0
        for positional in spec.positionals:
            if positional.rest:
                taken = words[position:]
                position = len(words)
                values[positional.name] = " ".join(t.text for t in taken) if taken else positional.default
                continue
            if positional.optional:
                if spare == 0:
                    values[positional.name] = positional.default
                    continue
                spare -= 1
            token = words[position]
            value = self.convert(positional, token.text)
            values[positional.name] = value
            shown[position] = _quote(_render(value, token.text), positional=True)
            position += 1
        return values, shown

    def unfilled(self, count: int) -> Positional:
        """The first required positional that `count` words leave empty."""
        seen = 0
        for positional in self.spec.positionals:
            if not positional.optional:
                if seen == count:
                    return positional
                seen += 1
        raise AssertionError("called with enough words")

    def convert(self, positional: Positional, value: str) -> Any:
        try:
            return _convert_positional(positional, value, self.today)
        except UsageError as error:
            raise self.wrong_word(error.message, value) from None

    def wrong_word(self, message: str, word: str) -> UsageError:
        """The error for a word that does not fit, with a did-you-mean if it is a misspelt flag."""
        flags = difflib.get_close_matches(word.lower(), self.spec.flags, n=1, cutoff=0.75)
        if flags:
            return self.fail(f"{message} Did you mean `{flags[0]}`?")
        return self.fail(message)

    def misspelt_subcommand(self, word: str) -> UsageError | None:
        """`jobs cancle J...` is a misspelt `jobs cancel`, not a bad argument of `jobs`."""
        depth = len(self.spec.words)
        group = self.registry._group(list(self.spec.words))
        nexts = [spec.words[depth] for spec in group if len(spec.words) > depth]
        match = difflib.get_close_matches(word.lower(), nexts, n=1, cutoff=0.75)
        if not match:
            return None
        first = next((p for p in self.spec.positionals if not p.rest), None)
        if first is not None:
            try:
                _convert_positional(first, word, self.today)
                return None  # the word is a fine argument that happens to look like a subcommand
            except UsageError:
                pass
        return UsageError(
            f"Unknown subcommand `{self.spec.name} {word}`. Did you mean `{self.spec.name} {match[0]}`?",
            _usages(group),
        )


def _convert_option(option: Option, value: str, fail: Callable[[str], UsageError]) -> Any:
    key = option.name
    if option.kind == "choice":
        return _choose(value, option.choices, f"`{key}={value}` is not valid", fail)
    if option.kind == "list":
        items = list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        if not items:
            raise fail(f"`{key}=` needs at least one value, as in `{option.synopsis}`.")
        if option.choices:
            items = list(dict.fromkeys(_choose(item, option.choices, f"`{item}` in `{key}=` is not valid", fail) for item in items))
        return tuple(items)
    if option.kind == "int":
        try:
            number = int(value)
        except ValueError:
            raise fail(f"`{key}={value}` is not a whole number.") from None
        if option.min is not None and number < option.min:
            raise fail(f"`{key}=` must be at least {option.min}.")
        if option.max is not None and number > option.max:
            raise fail(f"`{key}=` must be at most {option.max}.")
        return number
    if option.kind == "bool":
        if value.lower() not in _BOOLS:
            raise fail(f"`{key}={value}` is not valid; use `on` or `off`.")
        return _BOOLS[value.lower()]
    if option.kind == "tz":
        return _zone(key, value, fail)
    return value


def _convert_positional(positional: Positional, value: str, today: date) -> Any:
    def fail(message: str) -> UsageError:
        return UsageError(message, "")

    label = positional.name.replace("_", " ")
    if positional.kind == "range":
        try:
            return parse_range(value, today, allow_time=positional.allow_time, max_days=positional.max_days)
        except RangeError as error:
            raise fail(str(error)) from None
    if positional.kind == "choice":
        return _choose(value, positional.choices, f"`{value}` is not a valid {label}", fail)
    if positional.kind == "job":
        job_id = value.upper()
        job_id = job_id[:1] + job_id[1:].translate(_CROCKFORD_ALIASES)
        if not _JOB_ID.fullmatch(job_id):
            raise fail(f"`{value}` is not a job id: J followed by 8 letters or digits, like `J7K2P9QXM`.")
        return job_id
    return value


def _choose(value: str, choices: Iterable[str], what: str, fail: Callable[[str], UsageError]) -> str:
    choices = tuple(choices)
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    listed = _or(choices)
    raise fail(f"{what}; use {listed}." + _did_you_mean(value, choices))


def _zone(key: str, value: str, fail: Callable[[str], UsageError]) -> str:
    try:
        zoneinfo.ZoneInfo(value)
        return value
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    # Zone files are case-sensitive; people type `europe/berlin`.
    if canonical := _zones_by_lowercase().get(value.lower()):
        return canonical
    hint = _did_you_mean(value, _zones())
    raise fail(f"`{key}={value}` is not a time zone; use an IANA name such as `Europe/Berlin`.{hint}")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1)
def _zones_by_lowercase() -> dict[str, str]:
    return {zone.lower(): zone for zone in _zones()}


def _did_you_mean(word: str, candidates: Iterable[str], *, prefix: str = "", suffix: str = "") -> str:
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean `{prefix}{by_lower[match[0]]}{suffix}`?" if match else ""


def _or(choices: tuple[str, ...]) -> str:
    quoted = [f"`{choice}`" for choice in choices]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def _quote(value: str, *, positional: bool = False) -> str:
    """Quote `value` so that `_lex` gives it back unchanged (and as a positional if one)."""
    special = any(char.isspace() or char in "\"'" for char in value)
    if positional and any(char in "=~" for char in value):
        special = True
    if value and not special:
        return value
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _render(value: Any, raw: str) -> str:
    """A converted value written back as a word: canonical choice, `on`/`off`, `a,b`."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, (str, int)):
        return str(value)
    # Ranges keep their text: `yesterday` must stay relative when a digest re-parses it.
    return raw


def _usages(specs: Iterable[CommandSpec]) -> str:
    return "\n".join(usage(spec) for spec in specs)


def _synopsis(spec: CommandSpec) -> str:
    """Usage without options: the short form used in the command list."""
    return " ".join([COMMAND, *spec.words, *(p.synopsis for p in spec.positionals)])


def _describe(spec: CommandSpec) -> str:
    """One command's help section."""
    lines = [f"`{usage(spec)}`", spec.summary + (" _Admins only._" if spec.admin_only else "")]
    for positional in spec.positionals:
        detail = positional.help
        if positional.kind == "range":
            forms = f"{RANGE_FORMS}, or {TIME_FORM}" if positional.allow_time else RANGE_FORMS
            detail += f" Date range: {forms}."
            if positional.max_days:
                detail += f" At most {positional.max_days} days."
        lines.append(f"• `{positional.synopsis}` {detail}")
    for option in spec.options:
        lines.append(f"• `{option.synopsis}` {option.help}{_option_detail(option)}")
    for key in spec.filters:
        lines.append(f"• `{key}~text` Only those whose {key} contains the text (any case).")
    for flag in spec.flags:
        lines.append(f"• `{flag}` (flag)")
    if spec.examples:
        lines.append("Examples: " + " · ".join(f"`{COMMAND} {example}`" for example in spec.examples))
    return "\n".join(lines)


def _option_detail(option: Option) -> str:
    details = []
    if option.kind == "list" and option.choices:
        details.append("Any of: " + ", ".join(f"`{choice}`" for choice in option.choices) + ".")
    if option.kind == "int" and (option.min is not None or option.max is not None):
        details.append(f"From {option.min if option.min is not None else '…'} to {option.max if option.max is not None else '…'}.")
    if option.default is not None:
        shown = ("on" if option.default else "off") if option.kind == "bool" else option.default
        if isinstance(shown, tuple):
            shown = ",".join(shown)
        details.append(f"Default: `{shown}`.")
    return (" " + " ".join(details)) if details else ""


def _chunk(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    sections: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + 1 + len(line) > limit:
            sections.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + (1 if size else 0)
    if current:
        sections.append("\n".join(current))
    return sections


def _check_spec(spec: CommandSpec) -> None:
    """Catch a malformed spec when it is declared, not when a user first trips on it."""
    if not spec.words or any(not _WORD.fullmatch(word) for word in spec.words):
        raise ValueError(f"command words must be lowercase words: {spec.words!r}")
    names = [p.name for p in spec.positionals] + [o.name for o in spec.options]
    if len(names) != len(set(names)):
        raise ValueError(f"{spec.name}: positional and option names must be unique: {names}")
    for option in spec.options:
        if option.kind not in _OPTION_KINDS:
            raise ValueError(f"{spec.name}: option {option.name!r} has unknown kind {option.kind!r}")
        if not _KEY.fullmatch(option.name) or option.name != option.name.lower():
            raise ValueError(f"{spec.name}: option name {option.name!r} must be a lowercase key")
        if option.kind == "choice" and not option.choices:
            raise ValueError(f"{spec.name}: choice option {option.name!r} needs choices")
    for index, positional in enumerate(spec.positionals):
        if positional.kind not in _POSITIONAL_KINDS:
            raise ValueError(f"{spec.name}: positional {positional.name!r} has unknown kind {positional.kind!r}")
        if positional.kind == "choice" and not positional.choices:
            raise ValueError(f"{spec.name}: choice positional {positional.name!r} needs choices")
        if positional.rest and index != len(spec.positionals) - 1:
            raise ValueError(f"{spec.name}: only the last positional may take the rest")
    for key in spec.filters:
        if not _KEY.fullmatch(key) or key != key.lower() or spec.option(key):
            raise ValueError(f"{spec.name}: filter {key!r} must be a lowercase key and not an option")
    for flag in spec.flags:
        if not _WORD.fullmatch(flag):
            raise ValueError(f"{spec.name}: flag {flag!r} must be a lowercase word")


# -- the registry and the commands ---------------------------------------------------------

REGISTRY = Registry()


def register(spec: CommandSpec) -> CommandSpec:
    return REGISTRY.register(spec)


def parse(text: str, *, today: date) -> Parsed:
    return REGISTRY.parse(text, today=today)


def help_sections(topic: str | None = None) -> list[str]:
    return REGISTRY.help_sections(topic)


def help_text(topic: str | None = None) -> str:
    return REGISTRY.help_text(topic)


def _check_help_topic(parsed: Parsed) -> None:
    # Resolving now turns `help exprot` into a usage error at once, like any other typo.
    REGISTRY.help_topic(parsed.args["topic"])


register(
    CommandSpec(
        words=("help",),
        summary="How to use a command: its usage, options and examples.",
        positionals=(
            Positional(
                "topic",
                "word",
                "A command, or its first words (`export` explains every export).",
                optional=True,
                rest=True,
            ),
        ),
        examples=("help", "help export", "help export instal"),
        validate=_check_help_topic,
    )
)

register(
    CommandSpec(
        words=("export", "instal"),
        summary="Instal advertiser report export; posts the download link when it is ready.",
        positionals=(Positional("range", "range", "Days to export (dates only).", max_days=366),),
        options=(
            Option(
                "interval",
                "choice",
                "Report time resolution.",
                choices=("hourly", "daily", "monthly"),
                default="daily",
            ),
            Option(
                "sort",
                "choice",
                "Column to sort by; Instal sorts by campaign id when unset.",
                choices=("time", "campaign", "aff_sub_id", "cr"),
            ),
            Option("headers", "bool", "Header row on top of the CSV.", default=True),
        ),
        examples=(
            "export instal yesterday",
            "export instal last7d interval=hourly",
            "export instal last-month interval=monthly sort=cr headers=off",
        ),
    )
)

register(
    CommandSpec(
        words=("jobs",),
        summary="Your recent jobs and their state; `all` for everyone's.",
        positionals=(
            Positional(
                "scope",
                "choice",
                "`all` lists everyone's jobs, not only yours.",
                choices=("all",),
                optional=True,
                default="mine",
            ),
        ),
        examples=("jobs", "jobs all"),
    )
)

register(
    CommandSpec(
        words=("jobs", "cancel"),
        summary="Cancel a queued or running job.",
        positionals=(Positional("job_id", "job", "The id from the job's queued line."),),
        examples=("jobs cancel J7K2P9QXM",),
    )
)


# -- 24Metrics ---------------------------------------------------------------------------------

INTEGRATION = Option(
    "integration", "text", "24Metrics integration id; `METRICS24_INTEGRATION_ID` when unset.", metavar="<id>"
)
GROUP = Positional(
    "group", "word", "A filter group's id, its name (quote names with spaces) or a unique part of it.", metavar="group"
)
ON_OFF = Positional("mode", "choice", "Switch it on or off.", choices=("on", "off"))


register(
    CommandSpec(
        words=("export", "24metrics"),
        summary="24Metrics Download Center export; posts the signed download link with its row count.",
        positionals=(
            Positional("kind", "choice", "What to export.", choices=("clicks", "conversions", "impressions")),
            Positional("range", "range", "Days to export (dates only).", max_days=366),
        ),
        options=(
            Option("fields", "list", "Columns to include, by 24Metrics field name; all when unset."),
            Option("extra", "list", "Extra parameters to add as columns, e.g. `sub1,sub2`."),
            Option("delimiter", "choice", "CSV delimiter.", choices=("comma", "semicolon", "tab", "pipe")),
            INTEGRATION,
        ),
        examples=(
            "export 24metrics clicks yesterday",
            "export 24metrics conversions last7d fields=transaction_id,payout extra=sub1",
            "export 24metrics impressions last-month delimiter=semicolon",
        ),
    )
)

register(
    CommandSpec(
        words=("export", "24metrics", "list"),
        summary="Recent 24Metrics Download Center exports and their state.",
        examples=("export 24metrics list",),
    )
)

register(
    CommandSpec(
        words=("export", "24metrics", "delete"),
        summary="Delete a 24Metrics Download Center export.",
        positionals=(Positional("export_id", "word", "The export's id, from `export 24metrics list`.", metavar="export-id"),),
        admin_only=True,
        examples=("export 24metrics delete 6a1f0c",),
    )
)

register(
    CommandSpec(
        words=("filters",),
        summary="24Metrics filter groups with their monitoring mode, each with a button to switch it.",
        options=(INTEGRATION,),
        filters=("name",),
        examples=("filters", 'filters name~"EU Mobile"', "filters integration=int-2"),
    )
)

register(
    CommandSpec(
        words=("monitor",),
        summary="Switch a filter group's monitoring mode (matches are recorded, not rejected), or every group's.",
        positionals=(
            Positional(
                "group",
                "word",
                "A filter group's id, its name (quote names with spaces), a unique part of it, or `all`.",
                metavar="group-id|name|all",
            ),
            ON_OFF,
        ),
        options=(INTEGRATION,),
        admin_only=True,
        examples=("monitor 12 on", 'monitor "EU Mobile – strict" off', "monitor all on"),
    )
)

register(
    CommandSpec(
        words=("filters", "active"),
        summary="Activate or deactivate a filter group (an inactive group is not used at all).",
        positionals=(GROUP, ON_OFF),
        options=(INTEGRATION,),
        admin_only=True,
        examples=("filters active 12 off",),
    )
)

register(
    CommandSpec(
        words=("filters", "delete"),
        summary="Delete a filter group; posts a button that asks for confirmation first.",
        positionals=(GROUP,),
        options=(INTEGRATION,),
        admin_only=True,
        examples=("filters delete 12",),
    )
)

register(
    CommandSpec(
        words=("fraud",),
        summary="24Metrics rejected clicks and conversions by reason and by publisher.",
        positionals=(Positional("range", "range", "Days to summarise.", max_days=92),),
        options=(INTEGRATION,),
        examples=("fraud yesterday", "fraud last7d integration=int-2"),
    )
)


def _check_lookup(parsed: Parsed) -> str | None:
    # 24Metrics finds one record only within a day, an offer and a publisher.
    missing = [f"`{key}=`" for key in ("offer", "publisher", "date") if parsed.args.get(key) is None]
    if missing:
        return f"24Metrics needs {', '.join(missing)} to find one {parsed.spec.words[1]}."
    value = parsed.args["date"]
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        return f"`date={value}` is not a day: use YYYY-MM-DD."
    return None


_LOOKUP_OPTIONS = (
    Option("offer", "text", "The offer id (required).", metavar="<id>"),
    Option("publisher", "text", "The publisher id (required).", metavar="<id>"),
    Option("date", "text", "The day it happened, `YYYY-MM-DD` (required).", metavar="YYYY-MM-DD"),
    INTEGRATION,
)

register(
    CommandSpec(
        words=("lookup", "click"),
        summary="One 24Metrics click, as a card: where it came from and whether it was rejected, and why.",
        positionals=(Positional("tx_id", "word", "The click's transaction id.", metavar="tx_id"),),
        options=_LOOKUP_OPTIONS,
        validate=_check_lookup,
        examples=("lookup click 102a3b4c5d offer=17 publisher=5 date=2026-11-20",),
    )
)

register(
    CommandSpec(
        words=("lookup", "conversion"),
        summary="One 24Metrics conversion, as a card.",
        positionals=(Positional("hash", "word", "The conversion's hash.", metavar="hash"),),
        options=_LOOKUP_OPTIONS,
        validate=_check_lookup,
        examples=("lookup conversion 9f8e7d6c offer=17 publisher=5 date=2026-11-20",),
    )
)

"""The `/adops` parser: a `Registry` of command specs, and matching typed text against it.

The registry finds the spec whose words are the longest prefix of what was typed (suggesting
the nearest command or subcommand when none is), then every word after the command's own
words is one of:

- `key=value`   an option (`key=a,b,c` for lists),
- `key~text`    a contains-filter,
- a flag        a bare word the spec declares, such as `skip-empty`,
- a positional  anything else, assigned in order.

The registry also answers `help` from the same specs, so usage, errors and help cannot drift
apart. Nothing here knows any particular command: callers build a `Registry` from their specs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from workers.errors import UsageError
from workers.grammar import helptext
from workers.grammar.lexer import Token, UnclosedQuote, lex, normalize, quote
from workers.grammar.spec import COMMAND, KEY, CommandSpec, Parsed, Positional, check_spec
from workers.grammar.suggest import did_you_mean
from workers.grammar.values import convert_option, convert_positional

__all__ = ["Registry"]


class Registry(Mapping[str, CommandSpec]):
    """Command specs by name, in registration order (which is the order help lists them)."""

    def __init__(self, specs: Iterable[CommandSpec] = ()) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for spec in specs:
            self.register(spec)

    def __getitem__(self, name: str) -> CommandSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def register(self, spec: CommandSpec) -> CommandSpec:
        check_spec(spec)
        if spec.name in self._specs:
            raise ValueError(f"command {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    # -- parsing ----------------------------------------------------------------------

    def parse(self, text: str, *, today: date) -> Parsed:
        normalized = normalize(text)
        try:
            tokens = lex(normalized)
        except UnclosedQuote as error:
            spec = self._match([token.text for token in lex(normalized[: error.position])])
            raise UsageError(
                f"Unclosed quote ({error.quote}): add the closing one. To type an apostrophe, "
                "wrap the whole text in double quotes, as in `name~\"O'Brien\"`.",
                helptext.usage(spec) if spec else self.command_list(),
            ) from None
        if not tokens:
            if "help" not in self._specs:
                raise UsageError("Missing command.", self.command_list())
            tokens = [Token("help", -1)]
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
            message = f"Unknown command `{words[0]}`." + did_you_mean(
                lowered[0], {spec.words[0] for spec in self._specs.values()}
            )
            return UsageError(message, self.command_list())
        group = self._group(lowered[:depth])
        prefix = " ".join(lowered[:depth])
        if depth == len(lowered):
            names = ", ".join(f"`{spec.name}`" for spec in group)
            return UsageError(f"`{prefix}` needs a subcommand: {names}.", helptext.usages(group))
        nexts = {spec.words[depth] for spec in group if len(spec.words) > depth}
        message = f"Unknown subcommand `{prefix} {words[depth]}`." + did_you_mean(
            lowered[depth], nexts, prefix=f"{prefix} "
        )
        return UsageError(message, helptext.usages(group))

    def _group(self, prefix: list[str]) -> list[CommandSpec]:
        """Specs whose words start with `prefix`."""
        size = len(prefix)
        return [spec for spec in self._specs.values() if list(spec.words[:size]) == prefix]

    # -- help -------------------------------------------------------------------------

    def command_list(self) -> str:
        return helptext.command_list(self._specs.values())

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
        # `help jobs cancel J7K2P9QXM` explains `jobs cancel`.
        if spec := self._match(words):
            return [spec]
        names = {spec.name for spec in self._specs.values()} | {spec.words[0] for spec in self._specs.values()}
        message = f"Unknown help topic `{topic.strip()}`." + did_you_mean(" ".join(words), names)
        raise UsageError(message, self.command_list())

    def help_sections(self, topic: str | None = None) -> list[str]:
        """Help as mrkdwn sections, each within Slack's section limit."""
        if not topic or not topic.strip():
            return helptext.overview(self._specs.values())
        return [helptext.describe(spec) for spec in self.help_topic(topic)]

    def help_text(self, topic: str | None = None) -> str:
        """Help as one mrkdwn string; sections are separated by blank lines."""
        return "\n\n".join(self.help_sections(topic))


class _Parser:
    """One parse of the words after a command's own words."""

    def __init__(self, registry: Registry, spec: CommandSpec, tokens: list[Token], today: date) -> None:
        self.registry = registry
        self.spec = spec
        self.tokens = tokens
        self.today = today
        self.usage = helptext.usage(spec)

    def fail(self, message: str) -> UsageError:
        return UsageError(message, self.usage)

    def run(self) -> Parsed:
        spec = self.spec
        args: dict[str, Any] = {}
        filters: dict[str, str] = {}
        flags: set[str] = set()
        words: list[Token] = []
        # Each word as it will appear in `Parsed.text`; an int stands for the n-th positional.
        canonical: list[str | int] = []
        for token in self.tokens:
            if token.sep >= 0 and KEY.fullmatch(token.text[: token.sep]):
                key, value = token.text[: token.sep].lower(), token.text[token.sep + 1 :]
                if token.text[token.sep] == "=":
                    args[key] = self.option(key, value, args)
                    canonical.append(f"{key}={quote(_render(args[key], value))}")
                else:
                    filters[key] = self.filter(key, value, filters)
                    canonical.append(f"{key}~{quote(value)}")
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
                hint = did_you_mean(key, [o.name for o in spec.options], suffix="=")
                raise self.fail(f"Unknown option `{key}=`.{hint}")
            raise self.fail(f"`{spec.name}` takes no options (`{key}=`).")
        if key in seen:
            raise self.fail(f"`{key}=` is given twice.")
        if value == "":
            raise self.fail(f"`{key}=` needs a value, with no space after `=`, as in `{option.synopsis}`.")
        return convert_option(option, value, self.fail)

    def filter(self, key: str, value: str, seen: Mapping[str, str]) -> str:
        spec = self.spec
        if key not in spec.filters:
            if spec.option(key) is not None:
                raise self.fail(f"`{key}` is an option: write `{key}={value}`.")
            if spec.filters:
                hint = did_you_mean(key, spec.filters, suffix="~")
                raise self.fail(f"Unknown filter `{key}~`.{hint}")
            raise self.fail(f"`{spec.name}` takes no filters (`{key}~`).")
        if key in seen:
            raise self.fail(f"`{key}~` is given twice.")
        if value == "":
            raise self.fail(f"`{key}~` needs text to look for, as in `{key}~text`.")
        return value

    # -- positionals ------------------------------------------------------------------

    def positionals(self, words: list[Token]) -> tuple[dict[str, Any], list[str]]:
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
        shown = [quote(word.text, positional=True) for word in words]
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
            shown[position] = quote(_render(value, token.text), positional=True)
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
            return convert_positional(positional, value, self.today)
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
                convert_positional(first, word, self.today)
                return None  # the word is a fine argument that happens to look like a subcommand
            except UsageError:
                pass
        return UsageError(
            f"Unknown subcommand `{self.spec.name} {word}`. Did you mean `{self.spec.name} {match[0]}`?",
            helptext.usages(group),
        )


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

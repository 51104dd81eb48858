"""Reading the words after a command's own words, against its spec.

Every word is one of:

- `key=value`   an option (`key=a,b,c` for lists),
- `key~text`    a contains-filter; the bare words right after it continue its text when the
  spec has no positional to take them (`filters name~EU Mobile` looks for "EU Mobile"),
- a flag        a bare word the spec declares, such as `skip-empty`,
- a positional  anything else, assigned in order; a `rest` positional takes every word the
  other positionals leave (`monitor EU Mobile on`: the group is "EU Mobile").

Nothing here knows any particular command. `Registry.parse` finds the spec and calls `read`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from workers.errors import UsageError
from workers.grammar import helptext
from workers.grammar.lexer import Token, quote
from workers.grammar.spec import KEY, CommandSpec, Parsed, Positional
from workers.grammar.suggest import did_you_mean
from workers.grammar.values import convert_option, convert_positional

__all__ = ["read"]


def read(spec: CommandSpec, tokens: list[Token], today: date, siblings: Sequence[CommandSpec]) -> Parsed:
    """Parse `tokens` (what follows `spec.words`); `siblings` are the specs that share its
    words, for telling a misspelt subcommand from a bad argument. Raises `UsageError`."""
    return _Reader(spec, tokens, today, siblings).run()


class _Reader:
    """One parse of the words after a command's own words."""

    def __init__(self, spec: CommandSpec, tokens: list[Token], today: date, siblings: Sequence[CommandSpec]) -> None:
        self.spec = spec
        self.tokens = tokens
        self.today = today
        self.siblings = siblings
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
        # The filter that bare words still continue (only where no positional could take them).
        extending: str | None = None
        filter_at = -1
        raw = spec.positionals[-1] if spec.positionals and spec.positionals[-1].raw else None
        for index, token in enumerate(self.tokens):
            if raw is not None and len(words) == len(spec.positionals) - 1 and not _own(spec, token):
                # The words from here on belong to the inner command, whose own parse reads them.
                rest = self.tokens[index:]
                # A command typed in quotes as one word is that command, not a one-word one.
                single = len(rest) == 1 and rest[0].sep < 0
                text = rest[0].text if single else " ".join(_as_typed(t) for t in rest)
                words.append(Token(text, -1))
                canonical.append(len(words) - 1)
                break
            if token.sep >= 0 and KEY.fullmatch(token.text[: token.sep]):
                key, value = token.text[: token.sep].lower(), token.text[token.sep + 1 :]
                extending = None
                if token.text[token.sep] == "=":
                    args[key] = self.option(key, value, args)
                    canonical.append(f"{key}={quote(_render(args[key], value))}")
                else:
                    filters[key] = self.filter(key, value, filters)
                    canonical.append(f"{key}~{quote(filters[key])}")
                    filter_at = len(canonical) - 1
                    extending = key if not spec.positionals else None
            elif token.text.lower() in spec.flags:
                flag = token.text.lower()
                if flag in flags:
                    raise self.fail(f"`{flag}` is given twice.")
                flags.add(flag)
                canonical.append(flag)
                extending = None
            elif extending is not None:
                filters[extending] = f"{filters[extending]} {token.text}"
                canonical[filter_at] = f"{extending}~{quote(filters[extending])}"
            else:
                words.append(token)
                canonical.append(len(words) - 1)
        values, shown = self.positionals(words)
        self.required_options(args)
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
        return convert_option(option, value, self.fail, self.today)

    def required_options(self, given: Mapping[str, Any]) -> None:
        missing = [option for option in self.spec.options if option.required and option.name not in given]
        if missing:
            names = ", ".join(f"`{option.synopsis}`" for option in missing)
            raise self.fail(f"Missing {names}: `{self.spec.name}` needs {'it' if len(missing) == 1 else 'them'}.")

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
                # The words the others leave: `check_spec` allows no optional one beside it.
                after = len(spec.positionals) - spec.positionals.index(positional) - 1
                taken = words[position : len(words) - after]
                position += len(taken)
                values[positional.name] = self.convert(positional, " ".join(t.text for t in taken)) if taken \
                    else positional.default
                continue
            if positional.optional:
                if spare == 0:
                    values[positional.name] = positional.default
                    continue
                spare -= 1
            token = words[position]
            value = self.convert(positional, token.text)
            values[positional.name] = value
            # A raw positional is already written as typed, word by word.
            shown[position] = token.text if positional.raw else quote(_render(value, token.text), positional=True)
            position += 1
        return values, shown

    def unfilled(self, count: int) -> Positional:
        """The first required positional that `count` words leave empty. A `rest` positional
        takes what the others leave, so it is the one left empty when only it lacks words."""
        others = [p for p in self.spec.positionals if not p.rest and not p.optional]
        rest = next((p for p in self.spec.positionals if p.rest and not p.optional), None)
        if rest is not None and count >= len(others):
            return rest
        seen = 0
        for positional in self.spec.positionals:
            if positional.rest:
                continue
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
        nexts = [spec.words[depth] for spec in self.siblings if len(spec.words) > depth]
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
            helptext.usages(self.siblings),
        )


def _own(spec: CommandSpec, token: Token) -> bool:
    """Whether ``token`` is one of ``spec``'s own options or flags (read before a raw positional)."""
    if token.sep >= 0:
        return spec.option(token.text[: token.sep].lower()) is not None
    return token.text.lower() in spec.flags


def _as_typed(token: Token) -> str:
    """A word written back so that lexing it again gives the same token."""
    if token.sep >= 0 and KEY.fullmatch(token.text[: token.sep]):
        return token.text[: token.sep + 1] + quote(token.text[token.sep + 1 :])
    return quote(token.text, positional=True)


def _render(value: Any, raw: str) -> str:
    """A converted value written back as a word: canonical choice, `on`/`off`, `a,b`."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, (str, int)):
        return str(value)
    # Ranges and days keep their text: `yesterday` must stay relative when a digest re-parses it.
    return raw

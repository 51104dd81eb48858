"""The `/adops` parser: a `Registry` of command specs, and matching typed text against it.

The registry finds the spec whose words are the longest prefix of what was typed (suggesting
the nearest command or subcommand when none is); `workers.grammar.reader` reads the words
after the command's own words (options, filters, flags, positionals).

The registry also answers `help` from the same specs, so usage, errors and help cannot drift
apart. Nothing here knows any particular command: callers build a `Registry` from their specs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date

from workers.errors import UsageError
from workers.grammar import helptext
from workers.grammar.lexer import Token, UnclosedQuote, lex, normalize
from workers.grammar.reader import read
from workers.grammar.spec import COMMAND, CommandSpec, Parsed, check_spec
from workers.grammar.suggest import did_you_mean

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
        return read(spec, tokens[len(spec.words) :], today, self._group(list(spec.words)))

    def spec_for(self, text: str) -> CommandSpec | None:
        """The command ``text`` names (its longest matching words), without reading the rest."""
        try:
            return self._match([token.text for token in lex(normalize(text))])
        except UnclosedQuote:
            return None

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

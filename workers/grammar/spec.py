"""The declaration types of the `/adops` grammar: what a command is, and what parsing yields.

`CommandSpec` (with its `Option`s and `Positional`s) is all a command declares; the parser,
the usage line shown with every error and the help are derived from it. `Parsed` is one
successful parse; a failed one raises `workers.errors.UsageError`. `check_spec` refuses a
malformed spec when it is registered, so a typo in a declaration fails at import rather than
in front of a user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COMMAND",
    "KEY",
    "CommandSpec",
    "Option",
    "OptionKind",
    "Parsed",
    "Positional",
    "PositionalKind",
    "check_spec",
]

COMMAND = "/adops"

OptionKind = Literal["choice", "list", "text", "int", "bool", "tz", "day"]
PositionalKind = Literal["range", "word", "choice", "job"]

_OPTION_KINDS = frozenset(("choice", "list", "text", "int", "bool", "tz", "day"))
_POSITIONAL_KINDS = frozenset(("range", "word", "choice", "job"))
#: What may stand before `=` or `~`; the parser reads any other such word as a positional.
KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_WORD = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Option:
    """A `key=value` option. `default` is used when it is absent (and is not validated).

    A `required` one is shown without brackets in usage lines, and its absence is refused with
    the usage. A `day` option takes one day in any date form (`yesterday`, `2026-03-14`).
    """

    name: str
    kind: OptionKind
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None
    min: int | None = None
    max: int | None = None
    #: Shown after `name=` in usage lines; derived from the kind when unset.
    metavar: str | None = None
    required: bool = False

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
        elif self.kind == "day":
            shape = "<day>"
        elif self.kind == "list":
            shape = "v1,v2,..."
        else:
            shape = f"<{self.name}>"
        return f"{self.name}={shape}"


@dataclass(frozen=True)
class Positional:
    """A positional argument. `range` positionals read `allow_time` and `max_days`.

    `rest` takes, joined by single spaces, every positional word the others leave: at the end
    (help topics) or before them (`monitor EU Mobile on`: a name with spaces, no quotes needed).
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
    #: Takes every word from its place on as typed, options and flags included: a command
    #: inside a command (`digest add "<cron>" funnel yesterday by=stream_id`). Last positional only.
    raw: bool = False
    metavar: str | None = None

    @property
    def synopsis(self) -> str:
        label = self.metavar or self.name.replace("_", "-")
        # A metavar is written as it should read; a bare name of several words gets the dots.
        dots = "..." if self.rest and not self.metavar else ""
        if self.kind == "choice" and not self.metavar:
            shape = "|".join(self.choices)
            return f"[{shape}]" if self.optional else shape
        return f"[{label}{dots}]" if self.optional else f"<{label}{dots}>"


@dataclass(frozen=True)
class CommandSpec:
    """One command. `validate` sees the parsed command and returns an error message or None
    (it may also raise `UsageError` itself).

    `handler` is what the ingress runs for the command; the grammar only carries it, and it
    takes no part in equality so two declarations of the same command still compare equal.
    """

    words: tuple[str, ...]
    summary: str
    positionals: tuple[Positional, ...] = ()
    options: tuple[Option, ...] = ()
    examples: tuple[str, ...] = ()
    admin_only: bool = False
    #: Changes vendor state (a mode, a deletion): never run unattended as a digest.
    changes_state: bool = False
    filters: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    validate: Callable[[Parsed], str | None] | None = None
    handler: Callable[..., Any] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return " ".join(self.words)

    def option(self, name: str) -> Option | None:
        return next((option for option in self.options if option.name == name), None)


@dataclass(frozen=True)
class Parsed:
    """One command as parsed: which spec matched and the values typed for it."""

    spec: CommandSpec
    name: str
    #: Positionals and options by name, defaults filled in.
    args: dict[str, Any]
    filters: dict[str, str] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    #: The command re-assembled from what was typed (canonical words, quoting where needed);
    #: parsing it again gives the same result, relative ranges such as `yesterday` included.
    text: str = ""


def check_spec(spec: CommandSpec) -> None:
    """Raise `ValueError` if `spec` is malformed.

    Catch a malformed spec when it is declared, not when a user first trips on it.
    """
    if not spec.words or any(not _WORD.fullmatch(word) for word in spec.words):
        raise ValueError(f"command words must be lowercase words: {spec.words!r}")
    names = [p.name for p in spec.positionals] + [o.name for o in spec.options]
    if len(names) != len(set(names)):
        raise ValueError(f"{spec.name}: positional and option names must be unique: {names}")
    for option in spec.options:
        if option.kind not in _OPTION_KINDS:
            raise ValueError(f"{spec.name}: option {option.name!r} has unknown kind {option.kind!r}")
        if not KEY.fullmatch(option.name) or option.name != option.name.lower():
            raise ValueError(f"{spec.name}: option name {option.name!r} must be a lowercase key")
        if option.kind == "choice" and not option.choices:
            raise ValueError(f"{spec.name}: choice option {option.name!r} needs choices")
    for positional in spec.positionals:
        if positional.kind not in _POSITIONAL_KINDS:
            raise ValueError(f"{spec.name}: positional {positional.name!r} has unknown kind {positional.kind!r}")
        if positional.kind == "choice" and not positional.choices:
            raise ValueError(f"{spec.name}: choice positional {positional.name!r} needs choices")
    raws = [p for p in spec.positionals if p.raw]
    if raws and (raws[0] is not spec.positionals[-1] or raws[0].optional or raws[0].rest):
        raise ValueError(f"{spec.name}: a raw positional must be the last one, required, and not also rest")
    rests = [p for p in spec.positionals if p.rest]
    if len(rests) > 1:
        raise ValueError(f"{spec.name}: only one positional may take the rest")
    if rests and any(p.optional for p in spec.positionals if not p.rest):
        # Which words would an optional one take? The split must not depend on guessing.
        raise ValueError(f"{spec.name}: a positional that takes the rest allows no other optional one")
    for option in spec.options:
        if option.required and option.default is not None:
            raise ValueError(f"{spec.name}: required option {option.name!r} cannot have a default")
    for key in spec.filters:
        if not KEY.fullmatch(key) or key != key.lower() or spec.option(key):
            raise ValueError(f"{spec.name}: filter {key!r} must be a lowercase key and not an option")
    for flag in spec.flags:
        if not _WORD.fullmatch(flag):
            raise ValueError(f"{spec.name}: flag {flag!r} must be a lowercase word")

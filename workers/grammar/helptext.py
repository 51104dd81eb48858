"""Help derived from command specs: usage lines, synopses, per-command help, the overview.

All output is Slack mrkdwn. Every section stays under Slack's section text limit, because
Slack refuses a message with a longer one: a long command list becomes several sections.
"""

from __future__ import annotations

from collections.abc import Iterable

from workers.grammar.dates import RANGE_FORMS, TIME_FORM
from workers.grammar.spec import COMMAND, CommandSpec, Option

__all__ = ["SECTION_LIMIT", "chunk", "command_list", "describe", "overview", "synopsis", "usage", "usages"]

#: Slack's section text limit; each help section stays under it.
SECTION_LIMIT = 3000


def usage(spec: CommandSpec) -> str:
    """The one-line usage, e.g. `/adops jobs cancel <job-id>`."""
    parts = [COMMAND, *spec.words]
    parts += [positional.synopsis for positional in spec.positionals]
    # Required options first and without brackets: they read as part of the command.
    parts += [option.synopsis for option in spec.options if option.required]
    parts += [f"[{option.synopsis}]" for option in spec.options if not option.required]
    parts += [f"[{key}~text]" for key in spec.filters]
    parts += [f"[{flag}]" for flag in spec.flags]
    return " ".join(parts)


def usages(specs: Iterable[CommandSpec]) -> str:
    """One usage line per spec: what a group of commands (`export`) shows with an error."""
    return "\n".join(usage(spec) for spec in specs)


def synopsis(spec: CommandSpec) -> str:
    """Usage without options: the short form used in the command list."""
    return " ".join([COMMAND, *spec.words, *(p.synopsis for p in spec.positionals)])


def command_list(specs: Iterable[CommandSpec]) -> str:
    """Every command's synopsis, one a line: the usage shown when no command was recognized."""
    return "\n".join(synopsis(spec) for spec in specs)


def describe(spec: CommandSpec) -> str:
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
        required = " _Required._" if option.required else ""
        lines.append(f"• `{option.synopsis}` {option.help}{required}{_option_detail(option)}")
    for key in spec.filters:
        lines.append(f"• `{key}~text` Only those whose {key} contains the text (any case).")
    for flag in spec.flags:
        lines.append(f"• `{flag}` (flag)")
    if spec.examples:
        lines.append("Examples: " + " · ".join(f"`{COMMAND} {example}`" for example in spec.examples))
    return "\n".join(lines)


def overview(specs: Iterable[CommandSpec]) -> list[str]:
    """`/adops help` with no topic: every command in a line, then the date range forms."""
    listed = list(specs)
    lines = [f"*`{COMMAND}` commands* (`{COMMAND} help <command>` for options and examples)"]
    for spec in listed:
        admin = " _(admins)_" if spec.admin_only else ""
        lines.append(f"• `{synopsis(spec)}` {spec.summary}{admin}")
    sections = chunk(lines)
    dates = f"*Date ranges:* {RANGE_FORMS}."
    timed = [spec.name for spec in listed if any(p.allow_time for p in spec.positionals)]
    if timed:
        dates += f" {', '.join(f'`{name}`' for name in timed)} also takes {TIME_FORM}."
    return [*sections, dates]


def chunk(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Join `lines` into as few sections as fit under `limit`, never splitting a line."""
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


def _option_detail(option: Option) -> str:
    details = []
    if option.kind == "list" and option.choices:
        details.append("Any of: " + ", ".join(f"`{choice}`" for choice in option.choices) + ".")
    if option.kind == "day":
        details.append("One day: `YYYY-MM-DD`, `today` or `yesterday`.")
    if option.kind == "int" and (option.min is not None or option.max is not None):
        details.append(f"From {option.min if option.min is not None else '…'} to {option.max if option.max is not None else '…'}.")
    if option.default is not None:
        shown = ("on" if option.default else "off") if option.kind == "bool" else option.default
        if isinstance(shown, tuple):
            shown = ",".join(shown)
        details.append(f"Default: `{shown}`.")
    return (" " + " ".join(details)) if details else ""

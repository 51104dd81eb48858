"""The `/adops` command grammar: declare commands as specs, parse Slack text, derive help.

This package is the engine only; it declares no command. Import each name from its module:

- `spec`: `CommandSpec`, `Option`, `Positional` (declarations) and `Parsed`; errors are
  `workers.errors.UsageError`.
- `lexer`: Slack text normalization and the shell-like lexer (`tokenize`).
- `values`: what each option and positional kind accepts, converted to a typed value.
- `parser`: `Registry`, which matches text to a spec (and answers help).
- `reader`: the words after the command: options, filters, flags, positionals.
- `suggest`: did-you-mean for typos.
- `helptext`: usage lines, per-command help and the overview.
- `dates`: the date ranges a `range` positional accepts.

It lives under `workers` because vendor folders declare their own commands and may not import
from `bot`.
"""

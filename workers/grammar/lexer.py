"""Slack text into words: normalization, the shell-like lexer, and quoting back.

Text arrives as Slack sends it: `&`, `<`, `>` HTML-escaped, quotes made curly by phones,
non-breaking spaces. `normalize` undoes that; `lex` then splits with shell-like quoting
(single or double quotes, no backslash escapes, so a backslash a user types stays a
backslash) and remembers where each word's first unquoted `=` or `~` is, because a `=` or `~`
inside quotes is text, not a separator: `"a=b"` is a positional. `quote` is the inverse of
`lex` for one word.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Token", "UnclosedQuote", "lex", "normalize", "quote", "tokenize"]

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


@dataclass(frozen=True)
class Token:
    """One word, quotes removed."""

    text: str
    #: Index in `text` of the first unquoted `=` or `~`, or -1.
    sep: int


class UnclosedQuote(Exception):
    """The text ends inside a quote; `position` is where that quote opened."""

    def __init__(self, quote: str, position: int) -> None:
        super().__init__(quote)
        self.quote = quote
        self.position = position


def tokenize(text: str) -> list[str]:
    """Split Slack text into words, the way `parse` sees them."""
    return [token.text for token in lex(normalize(text))]


def normalize(text: str) -> str:
    """Undo Slack's HTML escaping and phones' typography."""
    for entity, char in _SLACK_ENTITIES:
        text = text.replace(entity, char)
    return text.translate(_TYPOGRAPHY)


def lex(text: str) -> list[Token]:
    """POSIX-shell-style words without backslash escapes, remembering unquoted separators."""
    tokens: list[Token] = []
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
                tokens.append(Token("".join(chars), sep))
                chars, sep, started = [], -1, False
        else:
            if char in "=~" and sep < 0:
                sep = len(chars)
            chars.append(char)
            started = True
    if quote:
        raise UnclosedQuote(quote, opened_at)
    if started:
        tokens.append(Token("".join(chars), sep))
    return tokens


def quote(value: str, *, positional: bool = False) -> str:
    """Quote `value` so that `lex` gives it back unchanged (and as a positional if one)."""
    special = any(char.isspace() or char in "\"'" for char in value)
    if positional and any(char in "=~" for char in value):
        special = True
    if value and not special:
        return value
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "'\"'\"'") + "'"

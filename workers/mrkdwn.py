"""Text to Slack mrkdwn, safely: the escaping every renderer uses (through ``workers.render``).

Slack reads mrkdwn in a message's ``text`` (notifications, previews, screen readers) as well as in
its blocks, so both are built from these helpers, and nothing else in adops writes mrkdwn:

- Values that are not ours (a vendor's names, reasons, errors and URLs, what a person typed, a
  job's summary) go in through :func:`escape`, :func:`code`, :func:`code_block` or :func:`link`.
  Our own sentences are templates filled by :func:`md` (and :func:`fallback` for ``text``), which
  escapes every value unless it is :class:`Mrkdwn` already, as ``markupsafe`` does for HTML.
- ``&``, ``<`` and ``>`` become entities (Slack's own rule), so no ``<!channel>``, ``<@U…>`` or
  ``<https://…|label>`` can be formed from a value. Our mentions come from :func:`mention`, which
  checks Slack's id shape; links from :func:`link`, which takes http(s) only, percent-encodes
  ``|``, ``<``, ``>``, spaces and controls in the URL, writes ``&`` as ``&amp;``, and gives the
  label look-alike characters for ``|``, ``*``, ``_``, ``~`` and the backtick.
- Formatting characters: mrkdwn has no escape for ``*``, ``_``, ``~`` or the backtick. We use the
  approach documented by jsx-slack ("About escape and exact mode"): a date token with an invalid
  format, ``<!date^0^{_}|*>``, which Slack always shows as its fallback text, unformatted. A marker
  between two letters or digits is left as it is, because Slack formats only at word boundaries
  (``aff_sub_id`` stays readable in the JSON). Zero-width characters were rejected: Slack treats a
  zero-width space as a word boundary, so it *enables* formatting, and what it makes of a
  zero-width joiner is undocumented; both would also travel into names people copy. A ``>`` that
  starts a line (a quote) gets a soft hyphen before it, as jsx-slack does. Inside code spans
  formatting is inert and only a backtick would end the span, so it becomes ``ˋ`` (U+02CB).
- :func:`sanitize` is for text written by our code that carries values we did not escape (a
  vendor error with our code spans, a notice that came through the queue as a plain string): it
  keeps code spans, entities and the neutral tokens, and makes everything else inert.

Long text is cut with :func:`clip`, never inside an entity or a ``<…>`` sequence.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, LiteralString
from urllib.parse import quote, urlsplit

__all__ = [
    "TEXT_LIMIT", "Mrkdwn", "UnsafeLink", "clip", "code", "code_block", "date", "ellipsize", "escape", "fallback",
    "join", "link", "md", "mention", "sanitize",
]

#: Characters of a message's ``text`` we send (Slack takes more; nobody reads more in a preview).
TEXT_LIMIT = 3000


class Mrkdwn(str):
    """mrkdwn built by this module's helpers, safe to send as it is. Never wrap outside text in it."""

    __slots__ = ()


class UnsafeLink(ValueError):
    """A URL that is not http(s), or has no host: we do not make it a link."""


_MARKERS = "*_~"
_NEUTRAL = {c: f"<!date^0^{{_}}|{c}>" for c in "*_~`"}
_LOOKALIKE = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb", "|": "\u2223"})
_SOFT_HYPHEN = "\u00ad"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
# What sanitize keeps of a string: entities, our neutral tokens, and (when asked) user mentions.
_KEEP = re.compile(r"&(?:amp|lt|gt);|<!date\^0\^\{_\}\|[*_~`]>")
_MENTION = re.compile(r"<@[UW][A-Z0-9]{2,20}>")
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
# The characters :func:`_char` may change; most values (ids, numbers, names) have none.
_SPECIAL = re.compile(r"[*_~`>&<]")


def _char(text: str, i: int) -> str:
    """Character ``i`` of ``text`` as inert mrkdwn (outside code)."""
    ch = text[i]
    if ch in _MARKERS:
        # Slack formats only at word boundaries: a marker inside a word is plain already.
        inside = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        return ch if inside else _NEUTRAL[ch]
    if ch == "`":
        return _NEUTRAL[ch]
    if ch == ">":
        return ("" if i and text[i - 1] != "\n" else _SOFT_HYPHEN) + "&gt;"
    return {"&": "&amp;", "<": "&lt;"}.get(ch, ch)


def escape(value: object) -> Mrkdwn:
    """A value that is not ours, as mrkdwn that shows it as typed and does nothing else."""
    if isinstance(value, Mrkdwn):
        return value
    text = str(value)
    if not _SPECIAL.search(text):  # a rendered report escapes hundreds of plain cells
        return Mrkdwn(text)
    return Mrkdwn("".join(_char(text, i) for i in range(len(text))))


_CODE_RAW = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "\u02cb"})
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_NEUTRAL_TOKEN = re.compile(r"<!date\^0\^\{_\}\|([*_~`])>")


def _code_text(text: str) -> str:
    """The inside of a code span found by :func:`sanitize`: entities kept, neutral tokens back to
    their character (formatting is inert in code), the rest of ``&<>`` escaped, no backtick."""
    text = _NEUTRAL_TOKEN.sub(lambda m: m.group(1), text)
    pieces = _ENTITY.split(text)
    entities = _ENTITY.findall(text)
    out = [pieces[0].translate(_CODE_RAW)]
    for entity, piece in zip(entities, pieces[1:], strict=True):
        out += [entity, piece.translate(_CODE_RAW)]
    return "".join(out)


def code(value: object) -> Mrkdwn:
    """A value as an inline code span (one line: Slack's code spans do not cross lines)."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return Mrkdwn(f"`{text.translate(_CODE_RAW) or ' '}`")


def code_block(text: str) -> Mrkdwn:
    """Lines as a preformatted block; a backtick inside could end it, so none is left."""
    return Mrkdwn("```\n" + text.translate(_CODE_RAW) + "\n```")


def sanitize(text: str, *, mentions: bool = False) -> Mrkdwn:
    """Text written by our code that may carry values that are not ours (an error, a notice from
    the queue), made inert: its code spans stay code spans, its entities and neutral tokens stay,
    everything else is escaped; with ``mentions``, ``<@U…>`` of a valid id stays a mention.
    ``sanitize(escape(x)) == escape(x)``: text that was escaped once is left as it is."""
    if isinstance(text, Mrkdwn):
        return text
    return Mrkdwn("\n".join(_sanitize_line(line, mentions) for line in str(text).split("\n")))


def _sanitize_line(line: str, mentions: bool) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        kept = _KEEP.match(line, i) or (_MENTION.match(line, i) if mentions else None)
        if kept:
            out.append((_SOFT_HYPHEN if i == 0 and kept.group() == "&gt;" else "") + kept.group())
            i = kept.end()
            continue
        if line[i] == "`":
            end = line.find("`", i + 1)
            # A code span with something in it, at word boundaries as Slack wants them (else Slack
            # would show the backticks and format what is between); `` and ``` runs are not code.
            bounded = (i == 0 or not line[i - 1].isalnum()) and (end + 1 >= len(line) or not line[end + 1].isalnum())
            if end > i + 1 and bounded:
                out.append(f"`{_code_text(line[i + 1:end])}`")
                i = end + 1
                continue
        out.append(_char(line, i))
        i += 1
    return "".join(out)


def mention(user_id: str) -> Mrkdwn:
    """A mention of a user id Slack gave us; anything not shaped like one is shown as text."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.fullmatch(user_id or "") else escape(user_id or "someone")


def link(url: str, label: str) -> Mrkdwn:
    """``<url|label>`` for an http(s) URL; raises :class:`UnsafeLink` for anything else."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise UnsafeLink(f"not a URL: {url[:80]!r}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UnsafeLink(f"not an http(s) URL: {url[:80]!r}")
    target = quote(url.strip(), safe=_URL_SAFE).replace("&", "&amp;")
    text = label.translate(_LOOKALIKE).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Mrkdwn(f"<{target}|{text or target}>")


def date(epoch: float) -> Mrkdwn:
    # Slack renders <!date^...> in each reader's own time zone; the fallback is UTC.
    fallback_text = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Mrkdwn(f"<!date^{int(epoch)}^{{date_short_pretty}} {{time}}|{fallback_text}>")


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn):
            return str(value) if not format_spec else format(str(value), format_spec)
        return escape(format(value, format_spec))


_FORMAT = _Formatter()


def md(template: LiteralString, /, *args: object, **kwargs: object) -> Mrkdwn:
    """Our mrkdwn ``template`` (a literal in our code) filled with values, each escaped unless it
    is :class:`Mrkdwn`: ``md("*{name}* by {who}", name=group_name, who=mention(user))``."""
    return Mrkdwn(_FORMAT.vformat(template, args, kwargs))


def fallback(template: LiteralString, /, *args: object, **kwargs: object) -> Mrkdwn:
    """A message's ``text``: what notifications, previews and screen readers show. Plain words on
    one line: values are escaped like :func:`md`'s and their line breaks become spaces."""
    def flat(value: object) -> object:
        return value.replace("\n", " ") if isinstance(value, str) and not isinstance(value, Mrkdwn) else value

    named = {key: flat(value) for key, value in kwargs.items()}
    return clip(md(template, *map(flat, args), **named), TEXT_LIMIT)


def join(separator: LiteralString, parts: Iterable[object]) -> Mrkdwn:
    return Mrkdwn(separator.join(escape(p) for p in parts))


def ellipsize(text: str, limit: int) -> str:
    """Raw text cut to ``limit`` characters (before it is escaped)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: Mrkdwn, limit: int) -> Mrkdwn:
    """mrkdwn cut to ``limit`` characters, never inside an entity or a ``<…>`` sequence."""
    if len(text) <= limit:
        return text
    head = str(text)[: limit - 1]
    opened = head.rfind("<")
    if opened >= 0 and head.find(">", opened) < 0:
        head = head[:opened]
    amp = head.rfind("&")
    if amp >= 0 and ";" not in head[amp:]:
        head = head[:amp]
    return Mrkdwn(head + "…")

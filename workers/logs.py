"""Logging set-up shared by every process, with a filter that keeps secrets out of log lines.

The filter masks what looks like a credential (Slack tokens, ``key=value`` pairs, URL passwords,
``response_url``s, which carry a token in their path) and every secret value this process was
configured with (:func:`register_settings`, called at boot), in the message and in tracebacks.

With ``ADOPS_LOG_FORMAT=json`` every line is one JSON object (:class:`JsonLines`) carrying the
job it is about (:mod:`workers.logcontext`), for log stores that index fields; plain text stays
the default, for a person reading a console.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from workers.logcontext import FIELDS, AddContext

__all__ = ["JsonLines", "RedactSecrets", "guard", "redact", "register_secrets", "register_settings", "setup"]

MASK = "***"
#: Configured secrets shorter than this are not masked by value: they would shred ordinary words
#: (the patterns below still catch them where they look like a credential).
MIN_SECRET = 6

_SECRET_PATTERNS = [
    re.compile(r"xox[abpre]-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    # A response_url is a bearer capability: anyone holding it can post as the bot for 30 minutes.
    re.compile(r"(?<=hooks\.slack\.com/)[^\s\"'<>|)]+"),
    # The password of a URL's userinfo: redis://:pw@host, rediss://user:pw@host, https://u:pw@…
    re.compile(r"(?<=://)([^\s:/@\"']*:)[^\s@/\"']+(?=@)"),
    re.compile(
        r"(?i)(authorization|api[-_]key|token|password)([\"']?\s*[:=]\s*[\"']?(?:token |bearer |basic )?)"
        r"([^\s\"',}]+)"
    ),
]

_known: set[str] = set()
_known_lock = threading.Lock()
_known_sorted: tuple[str, ...] = ()


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these values wherever they appear in a log line, from now on, in this process."""
    global _known_sorted
    with _known_lock:
        _known.update(v for v in values if v and len(v) >= MIN_SECRET)
        # Longest first, so a secret containing another is masked whole.
        _known_sorted = tuple(sorted(_known, key=len, reverse=True))


def register_settings(*models: BaseModel) -> None:
    """Every ``SecretStr`` of these settings (the core's and each vendor's), and the password of
    a secret URL such as ``REDIS_URL``: registered at boot, so that a value no pattern recognises
    is masked anyway."""
    values: list[str] = []
    for model in models:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                values.append(secret)
                if "://" in secret:
                    try:
                        values.append(urlsplit(secret).password or "")
                    except ValueError:  # not a URL after all
                        pass
    register_secrets(values)


class RedactSecrets(logging.Filter):
    """Last line of defence: secrets that slip into a message, its arguments or a traceback are masked."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:
            # Formatters use exc_text when it is set: give them the masked traceback. Recomputed
            # from exc_info each time, in case a handler without this filter cached it raw.
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact(text: str) -> str:
    for secret in _known_sorted:
        text = text.replace(secret, MASK)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)}{MASK}", text)
        else:
            text = pattern.sub(MASK, text)
    return text


class JsonLines(logging.Formatter):
    """One JSON object per line: time (ISO-8601, UTC), level, logger, message, the job fields the
    line carries (:class:`~workers.logcontext.AddContext`) and the exception's text, if any.

    Runs after :class:`RedactSecrets` (a handler's filters run before its formatter), so the
    message and ``exc_text`` it writes are the masked ones.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


#: The formatter :func:`setup` chose; :func:`guard` gives it to loggers with handlers of their
#: own (gunicorn's), set up after the fork.
_formatter: logging.Formatter | None = None


def guard(logger: logging.Logger) -> None:
    """Add the filters to every handler of ``logger`` (gunicorn's loggers have their own), and
    the JSON formatter when that is the format."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
        if not any(isinstance(f, AddContext) for f in handler.filters):
            handler.addFilter(AddContext())
        if isinstance(_formatter, JsonLines):
            handler.setFormatter(_formatter)


def setup(level: str | None = None, fmt: str = "text") -> None:
    """Log to stderr at ``level`` (LOG_LEVEL), as text or JSON lines (``ADOPS_LOG_FORMAT``)."""
    global _formatter
    level = level or os.environ.get("LOG_LEVEL", "INFO")
    _formatter = JsonLines() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    if not root.handlers:  # dramatiq's CLI installs its own; only add one where none exists
        handler = logging.StreamHandler()
        handler.setFormatter(_formatter)
        root.addHandler(handler)
    guard(root)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keep that for debugging only.
    logging.getLogger("httpx").setLevel(logging.WARNING)

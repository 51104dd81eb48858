"""Logging set-up shared by every process, with a filter that keeps secrets out of log lines."""

from __future__ import annotations

import logging
import os
import re

_SECRET_PATTERNS = [
    re.compile(r"xox[abpre]-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(
        r"(?i)(authorization|api[-_]key|token)([\"']?\s*[:=]\s*[\"']?(?:token |bearer |basic )?)"
        r"([^\s\"',}]+)"
    ),
]


class RedactSecrets(logging.Filter):
    """Last line of defence: tokens that slip into a message or its arguments are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
        else:
            text = pattern.sub("***", text)
    return text


def setup(level: str | None = None) -> None:
    level = level or os.environ.get("LOG_LEVEL", "INFO")
    root = logging.getLogger()
    if not root.handlers:  # dramatiq's CLI installs its own; only add one where none exists
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keep that for debugging only.
    logging.getLogger("httpx").setLevel(logging.WARNING)

from __future__ import annotations

import logging

import pytest

from workers.logs import RedactSecrets, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("calling with xoxb-1234-5678-abcdef", "xoxb-1234-5678-abcdef"),
        ("socket xapp-1-A0-123-abc", "xapp-1-A0-123-abc"),
        ("headers {'Authorization': 'Token s3cr3t'}", "s3cr3t"),
        ("API-KEY: k-123", "k-123"),
        ('{"api_key": "k-456"}', "k-456"),
        ("X-Eflow-API-Key=abc123", "abc123"),
    ],
)
def test_secrets_are_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_ordinary_text_is_untouched() -> None:
    line = "job J7K2P9QXM waiting for Instal (3 polls)"
    assert redact(line) == line


def test_filter_rewrites_records_with_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("xoxb-9-9",), None)
    assert RedactSecrets().filter(record)
    assert "xoxb-9-9" not in record.getMessage()

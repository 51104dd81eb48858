from __future__ import annotations

import logging
import sys

import pytest

from workers.boot import load_settings as load
from workers.logs import RedactSecrets, redact, register_settings


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


# -- tracebacks, response URLs, URL passwords, configured values -------------------------------------


def _formatted(record: logging.LogRecord) -> str:
    """The line a handler with the filter writes for ``record``."""
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactSecrets())
    assert handler.filter(record)
    return handler.format(record)


def _record_with_traceback(message: str) -> logging.LogRecord:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "step failed", None, sys.exc_info())


def test_tracebacks_are_masked_too() -> None:
    line = _formatted(_record_with_traceback("calling with xoxb-1111-2222-trace and api_key=k-trace-77"))
    assert "Traceback" in line and "RuntimeError" in line
    assert "xoxb-1111-2222-trace" not in line and "k-trace-77" not in line


def test_a_traceback_cached_raw_by_another_handler_is_masked_anyway() -> None:
    record = _record_with_traceback("token=s3cr3t-cached")
    logging.Formatter().format(record)  # a handler without the filter caches exc_text first
    assert "s3cr3t-cached" in (record.exc_text or "")
    assert "s3cr3t-cached" not in _formatted(record)


def test_stack_info_is_masked() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "here", None, None, sinfo="Stack: xoxb-5-5-stack")
    assert "xoxb-5-5-stack" not in _formatted(record)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("posting to https://hooks.slack.com/commands/T0ABC/12345/AbCdEfGhIjKl", "T0ABC/12345/AbCdEfGhIjKl"),
        ("ephemeral_notice('https://hooks.slack.com/actions/T1/99/zzTOKENzz', 'hi')", "zzTOKENzz"),
        ("Error connecting to redis://:hunter2-pw@redis.internal:6379/0", "hunter2-pw"),
        ("REDIS_URL=rediss://default:pw-9f8e7d@cache.example.com:6380", "pw-9f8e7d"),
        ("connect password=opensesame1", "opensesame1"),
    ],
)
def test_response_urls_and_url_passwords_are_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_a_url_without_a_password_is_left_alone() -> None:
    line = "GET https://api.24metrics.com:443/v2/integrations/abc and redis://cache:6379/0"
    assert redact(line) == line


def test_configured_secrets_are_masked_by_value_whatever_they_look_like() -> None:
    settings = load({"INSTAL_TOKEN": "plain-value-no-pattern", "REDIS_URL": "redis://u:only-in-the-url-77@h:6379/0",
                     "ADOPS_LINK_SECRET": "link-plain-8d2"})
    register_settings(settings, settings.vendor("instal"))
    line = redact("got plain-value-no-pattern, only-in-the-url-77 and link-plain-8d2 back")
    assert "plain-value-no-pattern" not in line and "only-in-the-url-77" not in line and "link-plain-8d2" not in line
    assert _formatted(_record_with_traceback("echo plain-value-no-pattern")).count("plain-value-no-pattern") == 0

from __future__ import annotations

import pytest

from workers.boot import load_settings as load
from workers.errors import ConfigError


def test_defaults_need_nothing() -> None:
    s = load({})
    assert s.embedded and s.redis_url is None
    assert str(s.slack_api_url) == "https://slack.com/api/"
    assert s.adops_admins == () and s.channel_allowed("Canything")


def test_lists_are_comma_separated_and_trimmed() -> None:
    s = load({"ADOPS_ADMINS": " U1, U2 ,,", "ADOPS_CHANNELS": "C1"})
    assert s.adops_admins == ("U1", "U2")
    assert s.is_admin("U2") and not s.is_admin("U3")
    assert s.channel_allowed("C1") and not s.channel_allowed("C2")


def test_empty_means_unset() -> None:
    s = load({"INSTAL_TOKEN": "", "REDIS_URL": ""})
    assert s.vendor("instal").token is None and not s.vendor("instal").configured  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ADOPS_LINK_TTL": "soon"}, "ADOPS_LINK_TTL"),
        ({"ADOPS_LINK_TTL": "5"}, "ADOPS_LINK_TTL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"SLACK_API_URL": "not a url"}, "SLACK_API_URL"),
        ({"ADOPS_TIMEZONE": "Mars/Olympus"}, "ADOPS_TIMEZONE"),
        ({"INSTAL_BASE_URL": "ftp:/nowhere"}, "INSTAL_BASE_URL"),
        ({"METRICS24_BASE_URL": "x", "ADOPS_LINK_TTL": "y"}, "ADOPS_LINK_TTL: "),
        ({"METRICS24_BASE_URL": "x", "ADOPS_LINK_TTL": "y"}, "METRICS24_BASE_URL: "),
        ({"ADOPS_ADMIN": "U1"}, "unknown setting: ADOPS_ADMIN"),
        ({"INSTAL_TOKN": "x", "ADOPS_CHANELS": "C"}, "unknown settings: ADOPS_CHANELS, INSTAL_TOKN"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(env)
    assert named in str(info.value)


def test_errors_never_echo_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        load({"ADOPS_LINK_TTL": "xoxb-secret-value"})
    assert "xoxb-secret-value" not in str(info.value)


def test_secrets_are_masked_in_repr() -> None:
    s = load({"SLACK_BOT_TOKEN": "xoxb-123-secret", "INSTAL_TOKEN": "tok-secret"})
    for value in ("xoxb-123-secret", "tok-secret"):
        assert value not in repr(s) and value not in str(s)
    assert s.vendor("instal").token.get_secret_value() == "tok-secret"  # type: ignore[attr-defined]


def test_require_names_every_missing_variable() -> None:
    s = load({"SLACK_BOT_TOKEN": "xoxb-1"})
    s.require("SLACK_BOT_TOKEN")
    with pytest.raises(ConfigError, match="missing settings: SLACK_SIGNING_SECRET, REDIS_URL"):
        s.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL")


def test_each_vendor_reads_its_own_prefix() -> None:
    s = load({"METRICS24_API_KEY": "k", "METRICS24_INTEGRATION_ID": "int-9"})
    m24 = s.vendor("24metrics")
    assert m24.configured and m24.integration_id == "int-9"  # type: ignore[attr-defined]
    assert m24.key_variable() == "METRICS24_API_KEY" and s.vendor("instal").key_variable() == "INSTAL_TOKEN"
    assert not s.vendor("instal").configured


def test_a_prefix_no_vendor_registers_is_not_ours() -> None:
    # Everflow has no folder yet: its variables are someone else's business, not a typo of ours.
    s = load({"EVERFLOW_API_KEY": "k"})
    assert s.embedded


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADOPS_ADMINS", "UA,UB")
    monkeypatch.setenv("ADOPS_EXPORT_DEADLINE", "120")
    s = load()
    assert s.adops_admins == ("UA", "UB") and s.adops_export_deadline == 120


def test_cli_reports_config_errors_in_one_line() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADOPS_", "REDIS_", "SLACK_"))}
    env["ADOPS_LINK_TTL"] = "never"
    result = subprocess.run([sys.executable, "-m", "bot.cli", "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("adops: configuration error:") and "ADOPS_LINK_TTL" in result.stderr
    assert "Traceback" not in result.stderr
    env.pop("ADOPS_LINK_TTL")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "web"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "REDIS_URL is required" in result.stderr

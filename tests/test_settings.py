from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis

from tests.harness import RedisServer
from workers.boot import load_settings as load
from workers.errors import ConfigError
from workers.runtime import check_redis


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
    # No vendor folder reads ACMEADS_*: its variables are someone else's business, not a typo of ours.
    s = load({"ACMEADS_API_KEY": "k"})
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


# -- REDIS_URL is a secret ---------------------------------------------------------------------------


def test_redis_url_is_a_secret_never_printed() -> None:
    s = load({"REDIS_URL": "redis://:hunter2-pw@cache.internal:6379/0"})
    assert not s.embedded and s.redis_url is not None
    assert s.redis_url.get_secret_value() == "redis://:hunter2-pw@cache.internal:6379/0"
    assert "hunter2-pw" not in repr(s) and "hunter2-pw" not in str(s)
    with pytest.raises(ConfigError) as info:
        load({"REDIS_URL": "cache.internal:6379?password=hunter2-pw"})
    assert "REDIS_URL" in str(info.value) and "hunter2-pw" not in str(info.value)


# -- limits and integrations -------------------------------------------------------------------------


def test_rate_limits_default_and_can_be_set() -> None:
    s = load({})
    assert (s.adops_rate_per_user, s.adops_rate_per_channel) == (10, 30)
    s = load({"ADOPS_RATE_PER_USER": "3", "ADOPS_RATE_PER_CHANNEL": "50"})
    assert (s.adops_rate_per_user, s.adops_rate_per_channel) == (3, 50)
    for name in ("ADOPS_RATE_PER_USER", "ADOPS_RATE_PER_CHANNEL"):
        with pytest.raises(ConfigError, match=name):
            load({name: "0"})


def test_integrations_allowed_are_the_default_and_the_listed_ones() -> None:
    m24 = load({"METRICS24_INTEGRATION_ID": "int-1", "METRICS24_INTEGRATIONS": " int-2, int-3,,int-1"}).vendor("24metrics")
    assert m24.allowed_integrations == ("int-1", "int-2", "int-3")  # type: ignore[attr-defined]
    assert m24.refusal({"integration": "int-3"}) is None and m24.refusal({"op": "fg_list"}) is None
    refusal = m24.refusal({"integration": "int-9"})
    assert refusal and "`int-9`" in refusal and "`int-1`, `int-2`, `int-3`" in refusal
    # Only admins, who can change them, are told the variables.
    assert "METRICS24_" not in refusal
    assert "METRICS24_INTEGRATIONS" in (m24.refusal({"integration": "int-9"}, admin=True) or "")
    # Text someone typed is repeated only when it looks like an id.
    assert "<!here>" not in (m24.refusal({"integration": "<!here>"}) or "")
    nothing = load({}).vendor("24metrics").refusal({"integration": "int-1"})
    assert nothing and "METRICS24_" not in nothing and "ask an admin" in nothing
    told = load({}).vendor("24metrics").refusal({"integration": "int-1"}, admin=True)
    assert told and "METRICS24_INTEGRATION_ID" in told


# -- Redis's own settings, checked at start-up ------------------------------------------------------


@pytest.fixture()
def redis_config(client: redis.Redis) -> Iterator[redis.Redis]:
    """The private server's client; whatever a test changes in its config is put back."""
    before = {name: client.config_get(name)[name] for name in ("maxmemory-policy", "appendonly")}
    yield client
    for name, value in before.items():
        client.config_set(name, value)


def test_aof_off_is_a_warning(redis_config: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    # The private test server runs with --appendonly no and noeviction.
    with caplog.at_level(logging.WARNING, logger="workers.runtime"):
        check_redis(redis_config)
    assert "AOF off" in caplog.text and "appendonly yes" in caplog.text


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "allkeys-random", "volatile-lfu"])
def test_an_evicting_policy_refuses_to_start(redis_config: redis.Redis, policy: str) -> None:
    redis_config.config_set("maxmemory-policy", policy)
    with pytest.raises(ConfigError) as info:
        check_redis(redis_config)
    message = str(info.value)
    assert policy in message and "noeviction" in message and "\n" not in message


def test_without_config_rights_it_says_so_and_goes_on(
    redis_server: RedisServer, redis_db: int, redis_config: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # A managed Redis that forbids CONFIG: an ACL user without it, even under an evicting policy.
    redis_config.config_set("maxmemory-policy", "allkeys-lru")
    redis_config.acl_setuser("adops-noconfig", enabled=True, passwords=["+noconfig-pw-1"], keys=["*"],
                             channels=["*"], commands=["+@all", "-config"])
    limited = redis.Redis.from_url(redis_server.url(redis_db).replace("://", "://adops-noconfig:noconfig-pw-1@"))
    try:
        with caplog.at_level(logging.WARNING, logger="workers.runtime"):
            check_redis(limited)
    finally:
        limited.close()
        redis_config.acl_deluser("adops-noconfig")
    assert "did not allow CONFIG GET" in caplog.text and "noconfig-pw-1" not in caplog.text


def test_cli_refuses_an_evicting_redis_in_one_line(redis_server: RedisServer, redis_db: int, redis_config: redis.Redis) -> None:
    import os
    import subprocess
    import sys

    redis_config.config_set("maxmemory-policy", "volatile-lru")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADOPS_", "REDIS_", "SLACK_"))}
    env["REDIS_URL"] = redis_server.url(redis_db)
    result = subprocess.run([sys.executable, "-m", "bot.cli", "clock"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("adops: configuration error:") and "volatile-lru" in lines[-1]
    assert "Traceback" not in result.stderr

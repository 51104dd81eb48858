"""A vendor is one folder plus one registration line: a throwaway vendor from a test folder,
driven through the console's stack, with nothing else edited."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from bot.console import Console
from tests.inprocess import InProcessStack
from tests.throwaway import VENDOR as ECHO
from workers.boot import load_settings
from workers.errors import ConfigError
from workers.vendors.registry import VENDORS
from workers.vendors.spec import Catalogue

WITH_ECHO = Catalogue((*VENDORS, ECHO))


def test_a_registered_vendor_runs_through_the_console_stack() -> None:
    out = io.StringIO()
    console = Console(out=out, ready_after=0.2, vendors=WITH_ECHO)
    try:
        console.handle("/adops echo hello", iter(()))
        assert console.drain(30), out.getvalue()
        console.handle("/adops help", iter(()))
    finally:
        console.close()
    text = out.getvalue()
    assert "Echo says *HELLO*" in text, text  # the task ran against the sandbox route
    assert console.sandbox.stats() == {"echo.say": 1}
    assert "/adops echo <word>" in text, "help lists the new command"


def test_its_settings_are_read_and_checked_with_everyone_elses() -> None:
    settings = load_settings({"ECHO_API_KEY": "k", "ECHO_BASE_URL": "http://127.0.0.1:9"}, WITH_ECHO)
    assert settings.vendor("echo").configured
    with pytest.raises(ConfigError, match="unknown setting: ECHO_API_KY"):
        load_settings({"ECHO_API_KY": "k"}, WITH_ECHO)


def test_without_its_key_the_command_says_what_to_set(make_stack: Callable[..., InProcessStack]) -> None:
    # A deployment whose environment has every registered vendor's key but this one's.
    stack = make_stack(vendors=WITH_ECHO)
    body = stack.command("echo hello", user="UADMIN").json()
    assert body["text"] == "Echo is not configured here: an admin needs to set ECHO_API_KEY."
    # Someone who cannot set it is told so in plain words; the variable goes to the log.
    body = stack.command("echo hello").json()
    assert body["text"] == "Echo is not set up here yet, so nothing was queued. Ask an admin to set it up."
    assert "ECHO_API_KEY is not set" in stack.logs()
    assert not stack.redis.keys("adops:job:*")


def test_two_vendors_may_not_claim_the_same_task_or_name() -> None:
    with pytest.raises(ValueError, match="vendor declared twice: echo"):
        Catalogue((ECHO, ECHO))

"""`adops console` driven the way a person types into it, through piped standard input."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.harness import REPO


def run_console(text: str, *args: str, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_", "ADOPS_", "INSTAL_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console", *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_console_runs_an_export_and_a_button_press_with_nothing_configured() -> None:
    out = run_console(
        "/adops export instal yesterday\n"
        "/adops export instal last7d interval=hourly\n"
        "1\n"
        "y\n"
        "/adops jobs\n",
        "--ready-after",
        "3",
    )
    ids = re.findall(r"Queued as job `(J[0-9A-Z]{8})`", out)
    assert len(ids) == 2, out
    # The progress message with its numbered button (the two jobs race; button 1 is on whichever
    # message came first), the confirm dialog, the cancellation.
    first_button = re.search(r"── #C0CONSOLE · new message .*\n.*waiting for Instal.*\n.*`(J[0-9A-Z]{8})`.*\n  \[1\] Cancel", out)
    assert first_button, out
    cancelled = first_button.group(1)
    other = next(i for i in ids if i != cancelled)
    assert "Cancel this job?" in out and "[y = Cancel job, n = Keep it]" in out
    assert re.search(rf"was cancelled by @U0YOU\.\n.*{cancelled}", out), out
    # The other job runs to its download link, edited into its own message.
    assert re.search(rf"is ready: download the file \(http://127\.0\.0\.1:\d+/files/instal/.*\.csv\)\n.*{other}", out), out
    assert re.search(rf"`{cancelled}` .*\*cancelled\*", out), out


def test_console_usage_error_and_help() -> None:
    out = run_console("/adops export instal 2026-02-30\n/adops help export instal\n/adops bogus\nwhat\n")
    assert "2026-02-30 is not a date" in out
    assert "Usage: `/adops export instal <range>" in out
    assert "interval=hourly|daily|monthly" in out
    assert "Unknown command `bogus`" in out
    assert "Type a command starting with /adops" in out


def test_console_declining_a_confirm_sends_nothing() -> None:
    out = run_console("/adops export instal yesterday\n1\nn\n", "--ready-after", "1")
    assert "(dismissed; nothing was sent)" in out
    assert "is ready: download the file" in out and "was cancelled" not in out


def test_console_types_as_an_admin_unless_told_otherwise() -> None:
    out = run_console('/adops monitor "EU Mobile – strict" on\n')
    assert "Monitoring *on* for *EU Mobile – strict*" in out
    out = run_console('/adops monitor "EU Mobile – strict" on\n', "--no-admin")
    assert "Only admins can use `/adops monitor`" in out and "Monitoring *on*" not in out


def test_console_names_with_spaces_examples_and_vendors_not_set_up() -> None:
    out = run_console(
        "/adops monitor EU Mobile – strict on\n"
        "/adops lookup click 102a3b4c5d offer=311 publisher=1077 date=yesterday\n"
        "/adops export everflow yesterday\n"
    )
    assert "Monitoring *on* for *EU Mobile – strict*" in out and "Unexpected word" not in out
    assert "24Metrics click" in out and "102a3b4c5d" in out and "has no click" not in out
    assert "Everflow is not set up here" in out and "Unknown subcommand" not in out

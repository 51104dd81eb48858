"""`adops console` driven the way a person types into it, through piped standard input."""

from __future__ import annotations

import os
import pty
import re
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bot.console import drain_until
from bot.console_text import duration
from tests.harness import REPO

pytestmark = pytest.mark.heavy(45)  # seconds, about: a console process per test, waits of 10 s


def run_console(text: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
                state: Path | None = None) -> str:
    return _run(text, *args, timeout=timeout, env=env, state=state)[0]


def _run(text: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
         state: Path | None = None) -> tuple[str, str]:
    """(stdout, stderr) of a console fed ``text``; its log and history stay out of the real home."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_", "ADOPS_", "INSTAL_"))}
    state = state or Path(tempfile.mkdtemp(prefix="adops-console-state-"))
    env = {**base, "XDG_STATE_HOME": str(state), **(env or {})}
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
    return result.stdout, result.stderr


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


def test_console_names_with_spaces_examples_and_every_vendor_on_its_sandbox() -> None:
    out = run_console(
        "/adops monitor EU Mobile – strict on\n"
        "/adops lookup click 102a3b4c5d offer=311 publisher=1077 date=yesterday\n"
        "/adops account\n"
    )
    assert "Monitoring *on* for *EU Mobile – strict*" in out and "Unexpected word" not in out
    assert "24Metrics click" in out and "102a3b4c5d" in out and "has no click" not in out
    assert "*Adspect account*" in out and "Balance: *" in out and "not set up" not in out


def test_a_button_an_edit_took_away_is_refused_and_sends_nothing() -> None:
    # `wait` lets the click's edit land before the next line is read, as a person would see it.
    out = run_console('/adops filters name~"EU Mobile – strict"\nwait\n1\ny\nwait\n1\n4\n')
    # The switch was pressed once: its message now shows the other switch, under a new number.
    assert out.count("\n> y\n") == 1, out
    after_edit = out.split("\n> y\n", 1)[1]
    assert re.search(r"message updated .*\n(?:.*\n)*?  \[\d+\] ", after_edit), out
    assert "[1]" not in after_edit.split("> 1")[0], "the old switch is not numbered on the edited message"
    assert "That button is no longer there (its message was edited or deleted); nothing was sent." in after_edit
    assert "[y = " not in after_edit, "no confirm dialog for a button that is gone"
    assert "There is no button [4]." in out


def test_piped_input_waits_as_long_as_the_jobs_deadline_and_logs_go_to_a_file(tmp_path: Path) -> None:
    # A vendor that never answers: the export is retried until its deadline, then failed and said.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    env = {"INSTAL_TOKEN": "x", "INSTAL_BASE_URL": f"http://127.0.0.1:{dead}", "ADOPS_EXPORT_DEADLINE": "10"}
    out, err = _run("/adops export instal yesterday\n", env=env, state=tmp_path, timeout=90)
    assert "(waiting for 1 running job: at most until its deadline, in 10 s)" in out or \
        "(waiting for 1 running job: at most until its deadline, in 9 s)" in out, out
    assert "failed: it did not finish before its deadline" in out, out
    # Library log lines (Dramatiq's retries) go to the log file, none to the terminal.
    assert err == "" and "dramatiq" not in out.lower(), err
    log = (tmp_path / "adops" / "console.log").read_text()
    assert "dramatiq.middleware.retries" in log and "Retrying message" in log
    assert f"Log lines go to {tmp_path / 'adops' / 'console.log'}" in out
    assert not (tmp_path / "adops" / "console_history").exists(), "piped input keeps no history"


def test_the_wait_at_the_end_is_the_deadline_the_jobs_were_given() -> None:
    out = run_console("/adops export instal yesterday\n", "--ready-after", "1", env={"ADOPS_EXPORT_DEADLINE": "7200"})
    waited = re.search(r"\(waiting for 1 running job: at most until its deadline, in (\d+) h(?: (\d+) min)?\)", out)
    assert waited and (int(waited.group(1)), int(waited.group(2) or 0)) >= (1, 59), out
    assert "is ready: download the file" in out


@pytest.mark.parametrize(
    ("deadlines", "grace", "expected"),
    [([], 30.0, None), ([100.0], 30.0, 130.0), ([100.0, 5000.0, 40.0], 0.0, 5000.0)],
)
def test_drain_until_the_latest_deadline(deadlines: list[float], grace: float, expected: float | None) -> None:
    assert drain_until(deadlines, grace) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (12.2, "13 s"), (60, "1 min"), (173, "2 min 53 s"), (3600, "1 h 00 min"), (3900, "1 h 05 min")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_at_a_terminal_lines_are_edited_and_remembered(tmp_path: Path) -> None:
    """Under a pseudo-terminal: the up arrow brings back the last line, and the history is kept."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_", "ADOPS_", "INSTAL_"))}
    env.update(XDG_STATE_HOME=str(tmp_path), TERM="xterm")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "console"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=REPO, env=env, close_fds=True)
    os.close(slave)
    seen = b""

    def read_until(needle: bytes, count: int = 1) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while seen.count(needle) < count:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the console closed the terminal
                    break

    try:
        read_until(b"adops> ")
        os.write(master, b"help\r")  # the console's own greeting again
        read_until(b"Log lines go to", 2)
        read_until(b"adops> ", 2)
        os.write(master, b"\x1b[A\r")  # up arrow: the same line again
        read_until(b"Log lines go to", 3)
        read_until(b"adops> ", 3)
        os.write(master, b"quit\r")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    history = (tmp_path / "adops" / "console_history").read_text()
    assert history.split() == ["help", "quit"]  # readline keeps one of two lines alike in a row


def test_a_digest_added_in_the_console_runs_at_once_with_digest_run() -> None:
    """The README's console example: `digest run` shows the digest's output at once."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_", "ADOPS_", "INSTAL_"))}
    env = {**base, "XDG_STATE_HOME": tempfile.mkdtemp(prefix="adops-console-state-")}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "console"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write('/adops digest add "0 9 * * MON-FRI" tz=Europe/Berlin account\n')
        proc.stdin.flush()
        seen = ""
        deadline = time.monotonic() + 60
        while (found := re.search(r"Digest `(D[0-9A-Z]{5})` added", seen)) is None:
            assert time.monotonic() < deadline, seen
            seen += proc.stdout.readline()
        out, err = proc.communicate(f"/adops digest run {found.group(1)}\n/adops digest list\n", timeout=120)
    finally:
        proc.kill()
    out = seen + out
    assert proc.returncode == 0, out + err
    assert "at 09:00, Monday to Friday, Berlin time" in out
    assert re.search(rf"Digest `{found.group(1)}`\*.*run now by @U0YOU", out), out
    assert "*Adspect account*" in out and "Balance: *" in out

"""The console's terminal: line editing and history, and where its log lines go.

At a terminal, lines are read with Python's ``readline`` (arrow keys, Ctrl-R, the history of
earlier sessions in ``<state dir>/console_history``); piped input is read as it comes, with no
prompt and no history. The state dir is ``$XDG_STATE_HOME/adops``, else ``~/.local/state/adops``.

Log lines never reach the terminal: the worker threads' libraries (Dramatiq's retries and
tracebacks, httpx) and our own warnings go to ``<state dir>/console.log``, secrets masked as in
production. What a person needs to know reaches them as the channel's messages, like in Slack;
the greeting says where the log is, for whoever wants the details.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from workers.logs import RedactSecrets

try:  # not built on every platform; without it the console reads plain lines
    import readline
except ImportError:  # pragma: no cover - CPython on Linux and macOS has it
    readline = None  # type: ignore[assignment]

__all__ = ["LineReader", "log_to_file", "state_dir"]

HISTORY_LENGTH = 1_000
PROMPT = "adops> "


def state_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return Path(base) / "adops"


def log_to_file(directory: Path) -> Path:
    """Send every log line of this process to ``directory/console.log`` and none to the terminal.

    A root handler also keeps Python's last-resort handler (which prints WARNING and above raw
    to stderr) from ever running. Where the state dir can't be written, a temporary file is used."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "console.log"
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        fd, name = tempfile.mkstemp(prefix="adops-console-", suffix=".log")
        os.close(fd)
        path = Path(name)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):  # a handler someone added before would print to the terminal
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # every request URL at INFO: noise
    return path


class LineReader:
    """The lines a person types; at a terminal with editing and history, piped without either."""

    def __init__(self, stdin: TextIO, history: Path | None) -> None:
        self.stdin = stdin
        # Line editing only where readline drives the real terminal: input() reads sys.stdin.
        self.interactive = stdin.isatty() and stdin is sys.stdin and readline is not None
        self.history = history if self.interactive else None
        self.reading = False
        self.prompt = PROMPT
        if self.history is not None:
            readline.set_history_length(HISTORY_LENGTH)
            try:
                readline.read_history_file(self.history)
            except OSError:
                pass  # the first session: no history yet

    def lines(self, show_prompt: Callable[[str], None]) -> Iterator[str]:
        while True:
            if self.interactive:
                self.reading = True
                try:
                    line = input(self.prompt)
                except EOFError:
                    return
                finally:
                    self.reading = False
                yield line + "\n"
                continue
            if self.stdin.isatty():  # a terminal without readline: at least say it waits
                show_prompt(self.prompt)
            line = self.stdin.readline()
            if not line:
                return
            yield line

    def interrupting(self) -> str:
        """What to write before output that arrives while the person is typing (clear the line)."""
        return "\r\x1b[K" if self.reading else ""

    def resume(self) -> str:
        """What to write after such output: the prompt and what was typed so far, again."""
        return self.prompt + readline.get_line_buffer() if self.reading and readline is not None else ""

    def save(self) -> None:
        if self.history is None:
            return
        try:
            self.history.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(self.history)
        except OSError:
            pass  # a read-only home: the session still worked

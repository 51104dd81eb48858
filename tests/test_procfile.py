"""The Procfile as a deployment runs it: each line a real process (gunicorn, Dramatiq, the clock),
on a private Redis, the fake Slack and the sandbox; one export end to end."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import REPO, Stack, _stop_all, wait_until
from tests.test_flow import outcome_text, queued_job

pytestmark = pytest.mark.heavy(8)  # seconds, about: the three processes of a deployment


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))


@pytest.fixture()
def deployed(make_process_stack: Callable[..., Stack], tmp_path: Path) -> Iterator[Stack]:
    stack = make_process_stack(start=False)
    env = {**stack.env, "PORT": str(stack.port), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{stack.env['PATH']}"}
    procs = []
    for name, command in procfile().items():
        log = open(tmp_path / f"{name}.log", "wb")
        argv = [env["PORT"] if word == "$PORT" else word for word in shlex.split(command)]
        procs.append(subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    stack.logdir = tmp_path
    try:
        wait_until(stack._healthy, timeout=30, what=lambda: f"the Procfile's web process /healthz\n{stack.logs()}")
        yield stack
    finally:
        # The client first (gunicorn's graceful stop waits for its keep-alive connection), then
        # every process at once.
        stack.http.close()
        _stop_all(procs)


def test_the_procfile_runs_the_bot(deployed: Stack, slack: LocalSlack, vendor: Sandbox) -> None:
    assert set(procfile()) == {"web", "worker", "clock"}
    job_id = queued_job(deployed.command("export instal yesterday"))
    deployed.wait_job(job_id, ("delivered",), timeout=60)
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=20)
    # The clock ticks once as it starts: it took the leader lock and sent a sweep.
    wait_until(lambda: deployed.redis.get("adops:clock:leader"), timeout=30, what=lambda: f"the clock to lead\n{deployed.logs()}")

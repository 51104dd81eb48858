"""The fault suite in CI: ``bench/faults.py`` drives jobs through the real processes (web, two
workers, clock, Redis with AOF, the fake Slack, the vendor sandbox) while it kills workers and
Redis, hangs Redis, makes the vendors and Slack fail and deletes a progress message; no job may
be lost, doubled, or end unexplained or unsettled ("other"), and every fault must have struck.

It runs as a subprocess (it starts, kills and restarts process groups of its own), leaner than
the bench's default so the whole suite stays within its budget (about 70 s here). When it fails,
the message is the suite's own report: which job, what happened on its way, and its log lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.heavy(75)

JOBS = 44
#: 44 commands over 28 s with the whole fault plan, and 30 s after the last for every job to settle.
ARGS = ["--jobs", str(JOBS), "--spread", "28", "--patience", "30"]


@pytest.mark.timeout(240)
def test_no_job_is_lost_or_doubled_under_faults(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    command = [sys.executable, str(REPO / "bench" / "faults.py"), *ARGS, "--no-write", "--quiet",
               "--json", str(out), "--logs", str(tmp_path / "logs")]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=200)
    assert out.exists(), (
        f"bench/faults.py ended (exit {proc.returncode}) without a result:\n"
        f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    )
    result = json.loads(out.read_text())
    explained = result["report"] + "\n" + "\n\n".join(result["details"])
    # Not vacuous: most commands became jobs (some are refused while Redis is down, and say so).
    assert result["jobs_started"] >= JOBS // 2, explained
    assert not result["not_fired"], "faults that never struck tested nothing:\n" + explained
    assert (result["lost"], result["duplicated"], result["other"]) == (0, 0, 0), explained

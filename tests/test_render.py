"""Rendering is pure: records in, Block Kit out, within Slack's limits."""

from __future__ import annotations

import pytest

from devkit.slack import block_errors
from workers import render
from workers.jobs import Job

NOW = 1_795_000_000.0


def job(**kw: object) -> Job:
    fields: dict[str, object] = dict(
        id="J7K2P9QXM", kind="export", vendor="instal", command="export instal yesterday",
        summary="Instal export 2026-11-21, daily", user_id="UALICE", channel_id="C1",
        created_at=NOW - 125, deadline=NOW + 3600,
    )
    fields.update(kw)
    return Job.model_validate(fields)


@pytest.mark.parametrize(
    ("state", "expect", "has_cancel"),
    [
        ("queued", ":hourglass: *Instal export 2026-11-21, daily*: queued", True),
        ("requesting", "asking Instal for the export", True),
        ("waiting", "waiting for Instal to build the file (started)", True),
        ("cancelled", "cancelled", False),
    ],
)
def test_progress(state: str, expect: str, has_cancel: bool) -> None:
    out = render.progress(job(state=state, vendor_state="STARTED", polls=3), NOW, "Instal")
    text = str(out.blocks)
    assert expect in text
    assert "running 2 min" in text and "<@UALICE>" in text
    assert ("job_cancel" in text) is has_cancel
    assert block_errors(out.blocks) == []


@pytest.mark.parametrize(
    ("fields", "expect", "absent"),
    [
        ({"state": "delivered", "result": {"url": "https://d.example/f.csv", "rows": 12345}},
         ["is ready: <https://d.example/f.csv|download the file>", "12,345 rows"], ["job_cancel"]),
        ({"state": "delivered", "result": {"url": "https://d.example/f.csv", "expires_at": NOW + 86400}},
         ["link expires <!date^1795086400^"], []),
        ({"state": "failed", "error": "Instal refused our token: check INSTAL_TOKEN"},
         [":x: *Instal export 2026-11-21, daily* failed: Instal refused our token: check INSTAL_TOKEN"], []),
        ({"state": "failed", "error": "bad <input> & more"}, ["bad &lt;input&gt; &amp; more"], ["<input>"]),
        ({"state": "cancelled", "finished_by": "UBOB"}, ["was cancelled by <@UBOB>"], ["job_cancel"]),
    ],
)
def test_outcome(fields: dict[str, object], expect: list[str], absent: list[str]) -> None:
    out = render.outcome(job(finished_at=NOW, **fields))
    text = str(out.blocks)
    for part in expect:
        assert part in text
    for part in absent:
        assert part not in text
    assert "took 2 min" in text and "`/adops export instal yesterday`" in text
    assert block_errors(out.blocks) == []


def test_huge_vendor_error_is_clipped_to_slack_limits() -> None:
    out = render.outcome(job(state="failed", error="x" * 10_000, finished_at=NOW))
    assert block_errors(out.blocks) == []
    assert len(out.text) <= 3000


def test_jobs_list_for_many_jobs_stays_valid() -> None:
    jobs = [job(id=f"J{i:08d}", state="failed", error="e" * 500) for i in range(20)]
    out = render.jobs_list(jobs, NOW, everyone=True)
    assert block_errors(out.blocks) == []
    text = str(out.blocks)
    assert "J00000019" in text and "<@UALICE>" in text and "&lt;id&gt;" in text


def test_empty_jobs_list() -> None:
    assert "You have no recent jobs" in render.jobs_list([], NOW, everyone=False).text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59, "59s"), (60, "1 min"), (3599, "59 min"), (3660, "1 h 01 min")])
def test_age(seconds: float, text: str) -> None:
    assert render.age(seconds) == text


def test_help_escapes_placeholders() -> None:
    out = render.help_message(["`/adops export instal <range>`"])
    assert "&lt;range&gt;" in str(out.blocks)

"""`/adops export everflow impressions` through the real stack: the command on the signed web
route, the build engine's plan / part / assemble actors, the Everflow builder against the sandbox,
and the file delivered into the progress message's thread in the fake Slack and by signed link.

Offer 518 keeps it fast (about 18 000 impressions in 40 days) while it still has dense days and a
quiet stretch; what comes back is compared with the sandbox's own generator.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devkit.sandbox import Sandbox
from devkit.sandbox.server import Exchange
from devkit.slack import LocalSlack
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, outcome_text, queued_job
from workers.vendors.everflow import sandbox_data as data
from workers.vendors.everflow.windows import MAX_WINDOW

PUBLIC = "http://adops.test"
LINK = re.compile(r"<(http://adops\.test/files/[^|>]+)\|")
DAY = 86400


@pytest.fixture()
def asked(vendor: Sandbox) -> Iterator[list[dict[str, Any]]]:
    """Every Everflow request the sandbox is sent."""
    seen: list[dict[str, Any]] = []

    def watch(exchange: Exchange) -> None:
        if exchange.vendor == "everflow" and not exchange.answered:
            seen.append(exchange.request.json())

    vendor.observer = watch
    yield seen
    vendor.observer = None


def _range() -> tuple[date, date, int, int]:
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=39)
    first = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    return start, end, first, first + 40 * DAY - 1


def _expected(seed: int, first: int, last: int, **filters: list[str]) -> set[str]:
    return {f"{x:016x}" for _, _, _, x, _ in data.rows(seed, first, last, filters, 10**9)}


def _run(make_stack: Callable[..., InProcessStack], tmp_path: Path, text: str) -> tuple[InProcessStack, str]:
    stack = make_stack(ADOPS_FILES_DIR=str(tmp_path / "files"), ADOPS_PUBLIC_URL=PUBLIC,
                       ADOPS_LINK_SECRET="links-s3cret", ADOPS_LINK_TTL="3600", ADOPS_PROGRESS_INTERVAL="0.1")
    job_id = queued_job(stack.command(text))
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", timeout=60,
               what=lambda: stack.logs()[-3000:])
    return stack, job_id


def _ids(content: bytes) -> list[str]:
    return [row["impression_id"] for row in csv.DictReader(io.StringIO(content.decode()))]


def test_a_40_day_export_is_uploaded_into_its_thread_and_linked_with_every_impression_once(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, asked: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    start, end, first, last = _range()
    assert any(data.level(vendor.config.seed, d, 518) == 3.0 for d in range(first // DAY, last // DAY + 1)), \
        "dense days in the range"
    stack, job_id = _run(make_stack, tmp_path, f"export everflow impressions {start}..{end} offer=518")
    job = stack.job(job_id)
    assert job["state"] == "delivered", job
    [progress] = job_messages(slack, job_id)
    [shared] = slack.files(CHANNEL)
    assert shared.thread_ts == progress.ts
    ids = _ids(shared.content)
    expected = _expected(vendor.config.seed, first, last, offer=["518"])
    assert len(ids) == len(expected) == len(set(ids)) and set(ids) == expected, "every impression, once"
    spans = [(datetime.fromisoformat(a["from"]), datetime.fromisoformat(a["to"])) for a in asked]
    assert spans and all((b - a).total_seconds() + 1 <= MAX_WINDOW for a, b in spans), "no request over 14 days"
    assert all(a["query"]["filters"] == [{"resource_type": "offer", "filter_id_value": "518"}] for a in asked)
    text = outcome_text(slack, job_id)
    assert f"{len(expected):,} impressions" in text and "is uploaded to Slack in this message's thread" in text
    link = LINK.search(text)
    assert link, text
    assert stack.http.get(link.group(1).removeprefix(PUBLIC)).content == shared.content


def test_filters_cross_the_stack_and_a_failed_upload_leaves_the_link(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, asked: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    start, end, first, last = _range()
    slack.fail_next("files.completeUploadExternal", "restricted_action")
    stack, job_id = _run(make_stack, tmp_path,
                         f'export everflow impressions {start}..{end} offer=518,999 country="Germany"')
    assert stack.job(job_id)["state"] == "delivered"
    text = outcome_text(slack, job_id)
    assert "Not uploaded to Slack" in text, text
    link = LINK.search(text)
    assert link, text
    body = stack.http.get(link.group(1).removeprefix(PUBLIC)).content
    ids = _ids(body)
    expected = _expected(vendor.config.seed, first, last, offer=["518", "999"], country=["Germany"])
    assert expected and len(ids) == len(set(ids)) and set(ids) == expected, "offers OR-ed, AND-ed with the country"
    types = {(f["resource_type"], f["filter_id_value"]) for a in asked for f in a["query"]["filters"]}
    assert types == {("offer", "518"), ("offer", "999"), ("country", "Germany")}, types

"""Files the bot builds: uploaded into the progress message's thread, linked with an expiring
signed URL served by the web process, gzipped when large, delivered once, and swept when the
link has expired.

Each job is a real one (a command through the signed web route, its progress message posted by
the real steps), finished by hand with the build engine's result contract (``result["file"]``)
and published by the real actors into the fake Slack; links are fetched from the real WSGI app.
"""

from __future__ import annotations

import gzip
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from devkit.sandbox import Sandbox
from devkit.slack import UPLOAD_METHOD, LocalSlack, Message
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, outcome_text, queued_job
from tests.throwaway.tally import WITH_TALLY, TallyApp
from workers import files, filesweep, links, render, steps
from workers.jobs import Job
from workers.sweeper import PUBLISH_PATIENCE
from workers.vendors.registry import CATALOGUE
from workers.vendors.spec import Catalogue
from workers.words import size

PUBLIC = "http://adops.test"
TTL = 3_600
LINK = re.compile(r"<(http://adops\.test/files/[^|>]+)\|")
CSV = b"".join(b"2026-11-%02d,offer %d,United States,%d\n" % (1 + n % 28, n % 7, n) for n in range(200))


@pytest.fixture()
def files_dir(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture()
def make(make_stack: Callable[..., InProcessStack], files_dir: Path) -> Callable[..., InProcessStack]:
    """A stack that writes files under ``files_dir`` and signs links, unless told otherwise."""

    def build(*, vendors: Catalogue = CATALOGUE, **env: str) -> InProcessStack:
        base = {"ADOPS_FILES_DIR": str(files_dir), "ADOPS_PUBLIC_URL": PUBLIC, "ADOPS_LINK_SECRET": "links-s3cret",
                "ADOPS_LINK_TTL": str(TTL)}
        return make_stack(vendors=vendors, **{k: v for k, v in {**base, **env}.items() if v})

    return build


def running_job(stack: InProcessStack, slack: LocalSlack, vendor: Sandbox, when: str = "yesterday",
                ) -> tuple[str, Message]:
    """A job with its progress message in the channel, still waiting (``when``: a range of its
    own for each job of a test, or the second is a double submit of the first)."""
    vendor.set_ready_after(600)
    job_id = queued_job(stack.command(f"export instal {when}"))
    progress = slack.wait_for(lambda: next(iter(job_messages(slack, job_id)), None))
    # The post is in Slack a moment before its step has recorded it.
    wait_until(lambda: stack.job(job_id).get("message_ts"), what="the progress message recorded")
    return job_id, progress


def write_file(files_dir: Path, job_id: str, content: bytes = CSV, name: str = "report.csv") -> Path:
    path = files_dir / job_id / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def finish(stack: InProcessStack, slack: LocalSlack, job_id: str, path: Path) -> str:
    """End the job as the build engine does (the result contract), publish it, and return what
    its message shows once the outcome is posted."""
    assert stack.rt is not None
    result = {"file": {"path": str(path), "name": path.name, "rows": 200, "bytes": path.stat().st_size,
                       "content_type": "text/csv"}, "rows": 200, "tally": {}, "note": "", "parts": 1, "requests": 1}
    assert stack.rt.store.transition(job_id, ["waiting"], "delivered", result=result, finished_at=time.time())
    stack.rt.dispatch.publish(job_id)
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1",
               what=lambda: f"the outcome posted\n{stack.logs()[-3000:]}")
    return outcome_text(slack, job_id)


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, text
    return found.group(1)


def get(stack: InProcessStack, url: str) -> Any:
    return stack.http.get(url.removeprefix(PUBLIC))


# -- uploads and links --------------------------------------------------------------------


def test_the_file_lands_in_the_progress_thread_and_the_link_serves_the_same_bytes(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make()
    job_id, progress = running_job(stack, slack, vendor)
    text = finish(stack, slack, job_id, write_file(files_dir, job_id))
    [shared] = slack.files(CHANNEL)
    assert (shared.channel, shared.thread_ts, shared.name, shared.content) == (CHANNEL, progress.ts, "report.csv", CSV)
    assert "is uploaded to Slack in this message's thread" in text
    assert size(len(CSV)) in text and "gzipped" not in text and "the link expires" in text
    response = get(stack, link_in(text))
    assert response.status_code == 200 and response.content == CSV
    assert response.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert response.headers["content-type"].startswith("text/csv")


def test_links_tampered_or_signed_elsewhere_get_403_expired_410_and_swept_404_never_the_file(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make()
    assert stack.rt is not None
    job_id, _ = running_job(stack, slack, vendor)
    path = write_file(files_dir, job_id)
    url = link_in(finish(stack, slack, job_id, path))
    assert get(stack, url).status_code == 200
    token = url.rsplit("/", 1)[1]
    payload, stamp, signature = token.split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
    # Another job's payload under this signature, and a token signed with another secret.
    other_job, _ = links.sign(stack.rt.settings, "J00000000", "report.csv")
    elsewhere = stack.rt.settings.model_copy(update={"adops_link_secret": SecretStr("another-secret")})
    foreign, _ = links.sign(elsewhere, job_id, "report.csv")
    for bad in (f"{payload}.{stamp}.{flipped}", f"{other_job.split('.')[0]}.{stamp}.{signature}", foreign,
                "not-a-token"):
        response = get(stack, f"{PUBLIC}/files/{bad}")
        assert response.status_code == 403 and CSV[:20] not in response.content, bad
    expired, _ = links.sign(stack.rt.settings, job_id, "report.csv", now=time.time() - TTL - 5)
    response = get(stack, f"{PUBLIC}/files/{expired}")
    assert response.status_code == 410 and CSV[:20] not in response.content
    path.unlink()
    assert get(stack, url).status_code == 404


def test_a_file_over_the_threshold_is_gzipped_uploaded_and_linked_as_gz(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make(ADOPS_FILES_GZIP_OVER="1000")
    job_id, progress = running_job(stack, slack, vendor)
    path = write_file(files_dir, job_id)
    text = finish(stack, slack, job_id, path)
    [shared] = slack.files(CHANNEL)
    assert shared.name == "report.csv.gz" and shared.thread_ts == progress.ts
    assert gzip.decompress(shared.content) == CSV and len(shared.content) < len(CSV)
    assert "gzipped" in text and "report.csv.gz" in text
    assert not path.exists(), "the .gz replaces the original on disk"
    response = get(stack, link_in(text))
    assert response.headers["content-type"] == "application/gzip"
    assert gzip.decompress(response.content) == CSV


def test_slack_refusing_the_upload_leaves_the_link(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make()
    job_id, _ = running_job(stack, slack, vendor)
    slack.fail_next("files.completeUploadExternal", "restricted_action")
    text = finish(stack, slack, job_id, write_file(files_dir, job_id))
    assert slack.files(CHANNEL) == [] or not any(f.channel for f in slack.files(CHANNEL))
    assert "Not uploaded to Slack: Slack refused the upload (restricted_action); the link works instead" in text
    assert get(stack, link_in(text)).content == CSV


def test_a_file_over_the_upload_limit_is_only_linked(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make(ADOPS_SLACK_UPLOAD_MAX="1000")
    job_id, _ = running_job(stack, slack, vendor)
    text = finish(stack, slack, job_id, write_file(files_dir, job_id))
    assert slack.calls_of("files.getUploadURLExternal") == [], "nothing is sent to Slack"
    assert f"at {size(len(CSV))} it is over the upload limit here (1.0 kB)" in text
    assert get(stack, link_in(text)).content == CSV


def test_with_neither_an_upload_nor_links_the_message_says_why(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make(ADOPS_PUBLIC_URL="", ADOPS_LINK_SECRET="")
    job_id, _ = running_job(stack, slack, vendor)
    slack.fail_next("files.getUploadURLExternal", "restricted_action")
    text = finish(stack, slack, job_id, write_file(files_dir, job_id))
    assert ("The file could not be delivered: Slack refused the upload (restricted_action); "
            "signed links are not set up here.") in text
    assert "/files/" not in text
    assert get(stack, f"{PUBLIC}/files/anything").status_code == 404, "no links here: nothing to serve"


def test_a_real_build_is_uploaded_into_its_progress_thread_and_linked(
    make: Callable[..., InProcessStack], slack: LocalSlack, files_dir: Path
) -> None:
    # The build engine end to end (the throwaway Tally builder, its vendor emulated in-process):
    # what it assembled is what reaches Slack and the link, listed under the builder's result.
    with Sandbox(apps=(TallyApp,)) as box:
        stack = make(vendors=WITH_TALLY, TALLY_API_KEY=box.TOKEN, TALLY_BASE_URL=box.base_url("tally"),
                     ADOPS_PROGRESS_INTERVAL="0.1")
        job_id = queued_job(stack.command("tally start=0 stop=120 width=40 cap=50 page=20"))
        wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what=lambda: stack.logs()[-3000:])
    built = files_dir / job_id / "tally-0-120.csv"
    text = outcome_text(slack, job_id)
    [progress] = job_messages(slack, job_id)
    [shared] = slack.files(CHANNEL)
    assert shared.thread_ts == progress.ts and shared.content == built.read_bytes()
    assert "Counted 120 numbers" in text and "is uploaded to Slack in this message's thread" in text
    assert get(stack, link_in(text)).content == built.read_bytes()


# -- once -----------------------------------------------------------------------------------


def test_a_rate_limited_upload_resumes_and_a_redelivered_publish_uploads_nothing_more(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make()
    assert stack.rt is not None
    job_id, progress = running_job(stack, slack, vendor)
    # Slack takes the bytes, then asks us to wait before the completion: publish comes back
    # and completes the file it already sent, not a second copy.
    slack.fail_next("files.completeUploadExternal", "ratelimited", retry_after=1)
    text = finish(stack, slack, job_id, write_file(files_dir, job_id))
    assert len(slack.calls_of("files.getUploadURLExternal")) == 1
    assert len(slack.calls_of(UPLOAD_METHOD)) == 1
    assert [c.ok for c in slack.calls_of("files.completeUploadExternal")] == [False, True]
    assert [f.thread_ts for f in slack.files(CHANNEL)] == [progress.ts]
    assert "is uploaded to Slack" in text
    # A publish that died after the file was delivered and before the outcome was marked
    # posted runs again: the outcome is shown, the file is not sent again.
    stack.rt.store.update(job_id, outcome_posted=False)
    steps.publish(stack.rt, stack.vendors, job_id, patience=PUBLISH_PATIENCE)
    stack.wait_idle()
    assert len(slack.calls_of("files.getUploadURLExternal")) == 1 and len(slack.files(CHANNEL)) == 1
    assert "is uploaded to Slack" in outcome_text(slack, job_id)


# -- the sweep ------------------------------------------------------------------------------


def test_the_sweep_deletes_files_whose_link_expired_and_keeps_the_rest(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    stack = make()
    assert stack.rt is not None
    done, _ = running_job(stack, slack, vendor)
    url = link_in(finish(stack, slack, done, write_file(files_dir, done)))
    running, _ = running_job(stack, slack, vendor, "today")
    building = write_file(files_dir, running, name="partial.csv")
    scratch = files_dir / "parts" / "x.jsonl"  # not a job's directory: never ours to sweep
    scratch.parent.mkdir(parents=True)
    scratch.write_text("{}\n")
    now = time.time()
    assert filesweep.sweep(stack.rt, now=now + TTL - 30) == [], "kept while the link works"
    # Past the link's expiry: the delivered job's files go; a job still building keeps its own.
    assert filesweep.sweep(stack.rt, now=now + TTL + 5) == [done]
    assert not (files_dir / done).exists() and building.exists() and scratch.exists()
    assert get(stack, url).status_code == 404, "the link (still signed) finds no file"
    # The clock's sweep actor runs it too: a file built and linked long ago is gone.
    old = now - TTL - 60
    again, _ = running_job(stack, slack, vendor, "last7d")
    finish(stack, slack, again, write_file(files_dir, again))
    for p in (files_dir / again, *(files_dir / again).iterdir()):
        os.utime(p, (old, old))
    stack.rt.dispatch.sweep()
    wait_until(lambda: not (files_dir / again).exists(), what="the sweep actor to delete the expired file")



def test_the_sweep_deletes_the_parts_of_builds_that_ended_and_keeps_those_still_building(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    # A build failed by its deadline (or whose messages were lost) leaves its part files: they
    # go at the next sweep; a build still running keeps every part it has fetched.
    stack = make()
    assert stack.rt is not None
    ended, _ = running_job(stack, slack, vendor)
    building, _ = running_job(stack, slack, vendor, "today")
    for job_id in (ended, building, "J0000GNE0", "J0000GNE1"):
        part = files.parts_dir(stack.rt.settings, job_id) / "20261101T000000.0.jsonl"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_text('{"id": 1}\n')
    idle = time.time() - PUBLISH_PATIENCE - 60
    for path in (files.parts_dir(stack.rt.settings, "J0000GNE0"), *files.parts_dir(stack.rt.settings, "J0000GNE0").iterdir()):
        os.utime(path, (idle, idle))
    assert steps.fail(stack.rt, ended, "the export did not finish before its deadline")
    removed = filesweep.sweep(stack.rt)
    # Ended, and a record long expired; not a fresh folder this Redis has no job for (a deployment
    # on another Redis, or a test beside this one, sharing the folder).
    assert sorted(removed) == sorted([ended, "J0000GNE0"])
    assert files.parts_dir(stack.rt.settings, "J0000GNE1").exists()
    assert not files.parts_dir(stack.rt.settings, ended).exists()
    assert (files.parts_dir(stack.rt.settings, building) / "20261101T000000.0.jsonl").exists()

# -- words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "words"), [(0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1_000, "1.0 kB"),
                                          (999_949, "999.9 kB"), (999_950, "1.0 MB"), (12_345_678, "12.3 MB"),
                                          (1_500_000_000, "1.5 GB")])
def test_sizes_read_as_slack_shows_them(n: int, words: str) -> None:
    assert size(n) == words


def test_delivery_lines_sit_above_the_line_naming_the_job() -> None:
    message = render.Rendered("x", [render.section("result"), render.note("`J1`")])
    job = Job(id="J12345678", kind="build", vendor="v", command="c", summary="s", user_id="U1", channel_id="C1",
              created_at=0, deadline=1, state="delivered",
              result={"delivery": {"name": "a.csv", "bytes": 10, "gzipped": False, "link_error": "links off",
                                   "upload_error": "Slack refused the upload (x)"}})
    blocks = render.with_delivery(message, job).blocks
    assert [b["type"] for b in blocks] == ["section", "section", "context"]
    assert "could not be delivered: Slack refused the upload (x); links off." in blocks[1]["text"]["text"]


def test_a_task_s_several_files_are_each_delivered_once_even_when_slack_waits_between_them(
    make: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, files_dir: Path
) -> None:
    # A report's table as CSV and its chart (``result["files"]``): both land in the thread and
    # are linked; a 429 on the second completion brings publish back without a second copy of
    # the first.
    stack = make()
    assert stack.rt is not None
    job_id, progress = running_job(stack, slack, vendor)
    table = write_file(files_dir, job_id, CSV, "funnel.csv")
    chart = write_file(files_dir, job_id, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "trend.png")
    described = [{"path": str(p), "name": p.name, "rows": None, "bytes": p.stat().st_size,
                  "content_type": ct} for p, ct in ((table, "text/csv"), (chart, "image/png"))]
    slack.fail_next("files.completeUploadExternal", "ratelimited", retry_after=1, after=1)
    assert stack.rt.store.transition(job_id, ["waiting"], "delivered", result={"files": described},
                                     finished_at=time.time())
    stack.rt.dispatch.publish(job_id)
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome posted")
    text = outcome_text(slack, job_id)
    shared = slack.files(CHANNEL)
    assert sorted((f.name, f.thread_ts) for f in shared) == [("funnel.csv", progress.ts), ("trend.png", progress.ts)]
    assert {f.name: f.content for f in shared} == {"funnel.csv": CSV, "trend.png": chart.read_bytes()}
    assert len(slack.calls_of("files.getUploadURLExternal")) == 2
    assert [c.ok for c in slack.calls_of("files.completeUploadExternal")] == [True, False, True]
    assert "`funnel.csv`" in text and "`trend.png`" in text and text.count("is uploaded to Slack") == 2
    served = [get(stack, url) for url in LINK.findall(text)]
    assert [r.content for r in served] == [CSV, chart.read_bytes()]
    # Each served as what it is: a chart is not a CSV.
    assert [r.headers["content-type"] for r in served] == ["text/csv; charset=utf-8", "image/png"]

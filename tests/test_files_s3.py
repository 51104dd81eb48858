"""Files on shared storage: with ``ADOPS_FILES_URL=s3://bucket/prefix`` a finished file goes to
the bucket (multipart, streamed), the posted link is the store's presigned URL, and the local
copy goes once delivered; a bucket the processes cannot use stops their start (one line naming
``ADOPS_FILES_URL``); the sweep deletes the prefix's files whose links expired, and nothing else.

The store is moto's S3 server in a process of its own (``tests/s3server.py``, which adds S3's
refusal of an expired presigned URL), started once for the module like the private Redis. The
builds are real: the throwaway Tally builder through the in-process stack, and a job finished
by hand with the build engine's result contract (``tests/test_files.py``) for a file big enough
to take several parts. Memory is measured in a child process, by its peak RSS, not by time.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import free_port, wait_until
from tests.inprocess import InProcessStack
from tests.test_files import finish, running_job, write_file
from tests.test_flow import CHANNEL, outcome_text, queued_job
from tests.throwaway.tally import WITH_TALLY, TallyApp
from workers import filesweep
from workers.boot import load_settings
from workers.errors import ConfigError
from workers.storage import S3Store, make_store

BUCKET = "adops-files"
PREFIX = "team/exports/"
AWS = {"AWS_ACCESS_KEY_ID": "AKIATESTKEY0000EXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cret/Test+Key0123456789abcdefghijklmn",
       "AWS_DEFAULT_REGION": "us-east-1"}
PART = 5 * 1024 * 1024
PRESIGNED = re.compile(r"<(http://127\.0\.0\.1:\d+/[^|>]+X-Amz-Signature=[^|>]+)\|")


@contextmanager
def _moto(*, checks_keys: bool = False) -> Iterator[str]:
    """moto's S3 server on a free port, its own process. ``checks_keys``: moto's
    ``INITIAL_NO_AUTH_ACTION_COUNT=0``, every request's keys checked against its IAM, as AWS does
    (then an unsigned request, such as the probe here, gets moto's 500: the server is up)."""
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if checks_keys else {}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.s3server", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, cwd=Path(__file__).parent.parent,
                            env={**os.environ, **env})
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            answer = httpx.get(endpoint + "/", timeout=1)
        except httpx.HTTPError:
            return False
        return checks_keys or answer.status_code < 500

    try:
        wait_until(up, timeout=20, what="moto's S3 server")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server; the bucket made."""
    with _moto() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, **_creds()).create_bucket(Bucket=BUCKET)
        yield endpoint


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
            "region_name": AWS["AWS_DEFAULT_REGION"]}


@pytest.fixture()
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test's view of the bucket; boto3 in this process (the stack's worker) finds the keys
    where a deployment gives them, in the environment."""
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=s3_endpoint, **_creds())


@pytest.fixture(scope="module")
def tally() -> Iterator[Sandbox]:
    with Sandbox(apps=(TallyApp,)) as box:
        yield box


def s3_env(endpoint: str, **more: str) -> dict[str, str]:
    return {"ADOPS_FILES_URL": f"s3://{BUCKET}/{PREFIX}", "ADOPS_S3_ENDPOINT_URL": endpoint,
            "ADOPS_S3_PART_SIZE": str(PART), "ADOPS_LINK_TTL": "3600", **more}


def presigned_in(text: str) -> str:
    found = PRESIGNED.search(text)
    assert found, text
    return html.unescape(found.group(1))


def test_a_tally_build_lands_in_the_bucket_under_the_prefix_and_the_message_links_it(
    make_stack: Callable[..., InProcessStack], tally: Sandbox, slack: LocalSlack, bucket: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:
    files_dir = tmp_path / "files"
    stack = make_stack(vendors=WITH_TALLY, **s3_env(s3_endpoint), TALLY_API_KEY=tally.TOKEN,
                       TALLY_BASE_URL=tally.base_url("tally"), ADOPS_FILES_DIR=str(files_dir),
                       ADOPS_PROGRESS_INTERVAL="0.1")
    job_id = queued_job(stack.command("tally start=0 stop=300 width=100 page=50"))
    stack.wait_job(job_id, ("delivered",))
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome posted")
    [key] = [o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}{job_id}/")["Contents"]]
    assert key.startswith(f"{PREFIX}{job_id}/") and key.endswith(".csv")
    stored = bucket.get_object(Bucket=BUCKET, Key=key)
    body = stored["Body"].read()
    assert [int(r["n"]) for r in csv.DictReader(io.StringIO(body.decode()))] == list(range(300))
    assert stored["ContentType"] == "text/csv; charset=utf-8"
    assert stored["ContentDisposition"] == f'attachment; filename="{key.rsplit("/", 1)[1]}"'
    [shared] = slack.files(CHANNEL)
    assert shared.content == body, "Slack got the same bytes, read from the local file"
    text = outcome_text(slack, job_id)
    assert "/files/" not in text, "the link is the store's, not the web process's"
    assert httpx.get(presigned_in(text)).content == body
    assert not (files_dir / job_id).exists(), "the local copy is gone once delivered"
    assert json.loads(stack.job(job_id)["result"])["delivery"]["stored"] == key.removeprefix(PREFIX)
    assert stack.rt is not None
    # Ten days on, its link long expired: the sweep deletes the copy in the bucket.
    assert job_id in filesweep.sweep(stack.rt, now=time.time() + 10 * 86_400)
    assert "Contents" not in bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}{job_id}/")


def test_a_big_file_goes_up_in_parts_and_its_presigned_link_downloads_it_until_it_expires(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, bucket: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:
    files_dir = tmp_path / "files"
    # Over the Slack limit set here, so the link is the only route; not gzipped, to count parts.
    stack = make_stack(**s3_env(s3_endpoint), ADOPS_FILES_DIR=str(files_dir), ADOPS_SLACK_UPLOAD_MAX="1000",
                       ADOPS_FILES_GZIP_OVER="100000000")
    job_id, _ = running_job(stack, slack, vendor)
    content = b"".join(b"2026-11-%02d,offer %d,United States,%09d\n" % (1 + n % 28, n % 7, n) for n in range(320_000))
    assert 2 * PART < len(content) < 3 * PART
    text = finish(stack, slack, job_id, write_file(files_dir, job_id, content))
    head = bucket.head_object(Bucket=BUCKET, Key=f"{PREFIX}{job_id}/report.csv")
    assert head["ETag"].strip('"').endswith("-3"), f"three parts: {head['ETag']}"
    assert head["ContentLength"] == len(content) and head["ContentType"] == "text/csv; charset=utf-8"
    assert "over the upload limit here" in text and "the link expires" in text
    url = presigned_in(text)
    assert "X-Amz-Expires=3600" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == content
    assert bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == [], "no upload left unfinished"
    # The same key presigned for 5 s through the store (the setting's floor is 60 s): good at
    # once, refused with S3's own answer once the time is up.
    assert stack.rt is not None
    short = stack.rt.storage.link(f"{job_id}/report.csv", 5)
    assert short is not None and httpx.get(short).content == content
    refused = wait_until(lambda: (r := httpx.get(short)).status_code != 200 and r, timeout=15, what="the link expired")
    assert refused.status_code == 403 and b"Request has expired" in refused.content and content[:20] not in refused.content
    assert httpx.get(url).status_code == 200, "the posted link still works"


def test_a_store_that_refuses_is_one_clear_line_without_the_keys(
    make_stack: Callable[..., InProcessStack], slack: LocalSlack, vendor: Sandbox, bucket: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:
    files_dir = tmp_path / "files"
    stack = make_stack(**s3_env(s3_endpoint, ADOPS_FILES_URL="s3://no-such-bucket/x"), ADOPS_FILES_DIR=str(files_dir),
                       ADOPS_SLACK_UPLOAD_MAX="1000")
    job_id, _ = running_job(stack, slack, vendor)
    path = write_file(files_dir, job_id)
    text = finish(stack, slack, job_id, path)
    assert "The file could not be delivered" in text and "the file could not be stored: NoSuchBucket" in text
    for secret in AWS.values():
        assert secret not in text and secret not in stack.logs()
    assert path.exists(), "not stored: the local copy stays for the sweep"


def test_files_url_errors_name_the_variable_on_one_line() -> None:
    for bad, why in (("s3://", "names no bucket"), ("s3:///prefix", "names no bucket"),
                     ("gs://bucket/x", "must be s3://bucket/prefix"), ("/var/files", "must be s3://bucket/prefix"),
                     ("s3://Bad_Bucket/x", "lowercase")):
        with pytest.raises(ConfigError) as caught:
            load_settings({"ADOPS_FILES_URL": bad})
        message = str(caught.value)
        assert "ADOPS_FILES_URL" in message and why in message and "\n" not in message, message
    with pytest.raises(ConfigError, match="ADOPS_FILES_URL: .*lower ADOPS_LINK_TTL"):
        load_settings({"ADOPS_FILES_URL": "s3://bucket", "ADOPS_LINK_TTL": str(8 * 86_400)})
    settings = load_settings({"ADOPS_FILES_URL": "s3://bucket/a/b/"})
    store = make_store(settings, environ={})
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("bucket", "a/b/")
    assert not make_store(load_settings({}), environ={}).remote


_CHILD = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from workers.boot import load_settings
    from workers.storage import make_store
    store = make_store(load_settings({"ADOPS_FILES_URL": "s3://%s/rss/", "ADOPS_S3_ENDPOINT_URL": sys.argv[1]}))
    peaks = []
    for name in sys.argv[2:]:
        store.put(Path(name), "J0000000R/" + Path(name).name)
        peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(*peaks)
""" % BUCKET)


def _csv(path: Path, rows: int) -> Path:
    with path.open("w") as fh:  # written a block at a time: the file never sits in memory
        for start in range(0, rows, 10_000):
            fh.write("".join(f"2026-11-{1 + n % 28:02d},offer {n % 97},United States,{n},{n * 7 % 1000}.25,"
                             f"{'x' * 50}\n" for n in range(start, min(rows, start + 10_000))))
    return path


@pytest.mark.heavy(15)
def test_uploading_a_million_rows_takes_no_more_memory_than_a_tenth_of_them(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    small, big = _csv(tmp_path / "small.csv", 100_000), _csv(tmp_path / "big.csv", 1_000_000)
    assert big.stat().st_size > 90_000_000 and small.stat().st_size > 9_000_000
    done = subprocess.run([sys.executable, "-c", _CHILD, s3_endpoint, str(small), str(big)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).parent.parent, env={**_env(), **AWS})
    assert done.returncode == 0, done.stderr[-2000:]
    after_small, after_big = (int(kb) for kb in done.stdout.split())
    grew_mb = (after_big - after_small) / 1024
    print(f"peak RSS after 10 MB: {after_small / 1024:.1f} MB, after 100 MB: {after_big / 1024:.1f} MB")
    assert grew_mb < 30, f"peak RSS grew {grew_mb:.1f} MB for 90 MB more file"
    head = bucket.head_object(Bucket=BUCKET, Key="rss/J0000000R/big.csv")
    parts = math.ceil(big.stat().st_size / (8 * 1024 * 1024))  # the default ADOPS_S3_PART_SIZE
    assert head["ContentLength"] == big.stat().st_size and head["ETag"].strip('"').endswith(f"-{parts}")



def _env() -> dict[str, str]:
    # The child's environment is this process's, with the worktree on its path.
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}


# -- the bucket checked at start-up ---------------------------------------------------------------

def _start_worker(redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``adops worker`` as a deployment starts it; boto3 finds no keys but those given here."""
    nowhere = "/nonexistent/adops-test"
    full = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parent.parent),
            "REDIS_URL": redis_url, "AWS_SHARED_CREDENTIALS_FILE": nowhere, "AWS_CONFIG_FILE": nowhere,
            "AWS_EC2_METADATA_DISABLED": "true", **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", "worker"], env=full, cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", ["no such bucket", "access denied", "no credentials", "unreachable"])
def test_a_store_that_cannot_take_files_stops_the_start_naming_the_variable_without_the_keys(
        case: str, s3_endpoint: str, redis_server: Any, redis_db: int) -> None:
    env = {**AWS, **s3_env(s3_endpoint)}
    said = {"no such bucket": "there is no bucket no-such-bucket", "access denied": "access to bucket adops-files is denied",
            "no credentials": "no AWS credentials", "unreachable": "the store does not answer"}[case]
    with contextlib.ExitStack() as stack:
        if case == "no such bucket":
            env["ADOPS_FILES_URL"] = "s3://no-such-bucket/x/"
        elif case == "access denied":  # moto checking every request's keys: ours are unknown to it, as AWS answers
            env["ADOPS_S3_ENDPOINT_URL"] = stack.enter_context(_moto(checks_keys=True))
        elif case == "no credentials":
            env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        else:
            env["ADOPS_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
        done = _start_worker(redis_server.url(redis_db), **env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("adops: configuration error: ADOPS_FILES_URL: ") and said in last, done.stderr
    if case == "unreachable":
        assert "ADOPS_S3_ENDPOINT_URL" in last and env["ADOPS_S3_ENDPOINT_URL"] not in last
    for secret in AWS.values():
        assert secret not in done.stderr and secret not in done.stdout


def test_a_bucket_that_can_take_files_passes_the_check(bucket: Any, s3_endpoint: str) -> None:
    make_store(load_settings(s3_env(s3_endpoint))).check()  # no exception: the start goes on


# -- expired files deleted from the bucket --------------------------------------------------------

def _put(bucket: Any, *keys: str) -> float:
    """The keys stored; the newest LastModified among them."""
    for key in keys:
        bucket.put_object(Bucket=BUCKET, Key=key, Body=b"n,offer\n1,2\n")
    return max(bucket.head_object(Bucket=BUCKET, Key=key)["LastModified"].timestamp() for key in keys)


def test_the_sweep_deletes_the_prefixs_files_a_link_no_longer_reaches_and_nothing_else(
        make_stack: Callable[..., InProcessStack], bucket: Any, s3_endpoint: str, tmp_path: Path) -> None:
    stack = make_stack(**s3_env(s3_endpoint, ADOPS_FILES_URL=f"s3://{BUCKET}/swept/"),
                       ADOPS_FILES_DIR=str(tmp_path / "files"))
    assert stack.rt is not None
    old = ["swept/J0000000A/report.csv", "swept/J0000000A/chart.png", "swept/J0000000B/report.csv.gz"]
    # Old too, but not the bot's files: another prefix, one that only starts like ours, and keys
    # under ours not shaped like a file of a job.
    others = ["elsewhere/J0000000C/report.csv", "swept-archive/J0000000D/report.csv", "swept/notes.txt",
              "swept/J0000000E/deeper/report.csv", "swept/not-a-job/report.csv"]
    stored = _put(bucket, *old, *others)
    # A file stored later (S3 keeps whole seconds): its link still works when the others' have expired.
    new = "swept/J0000000F/report.csv"
    newest = wait_until(lambda: (at := _put(bucket, new)) > stored and at, timeout=10, what="a later LastModified")
    ttl = stack.rt.settings.adops_link_ttl

    def keys() -> set[str]:
        pages = bucket.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    # Their links expired, but within the grace a publish may still come in: kept. (Counted from
    # the oldest: on a loaded machine the puts may straddle a second.)
    earliest = min(bucket.head_object(Bucket=BUCKET, Key=key)["LastModified"].timestamp() for key in old)
    assert filesweep.sweep(stack.rt, now=earliest + ttl + 1) == []
    assert filesweep.sweep(stack.rt, now=earliest + ttl + filesweep.PUBLISH_PATIENCE) == []
    assert set(old) <= keys()
    # Past the grace for the old ones only.
    assert filesweep.sweep(stack.rt, now=newest + ttl + filesweep.PUBLISH_PATIENCE) == ["J0000000A", "J0000000B"]
    left = keys()
    assert not set(old) & left and {new, *others} <= left, left
    assert filesweep.sweep(stack.rt, now=newest + ttl + filesweep.PUBLISH_PATIENCE + 1) == ["J0000000F"]
    assert {new, *old} & keys() == set() and set(others) <= keys()


def test_expiry_lists_a_page_and_deletes_a_batch_at_a_time(bucket: Any, s3_endpoint: str) -> None:
    store = make_store(load_settings(s3_env(s3_endpoint, ADOPS_FILES_URL=f"s3://{BUCKET}/paged/")))
    assert isinstance(store, S3Store)
    files = [f"paged/J{n:07d}X/part.csv" for n in range(23)]
    stored = _put(bucket, *files, "paged-not/J0000000X/part.csv")
    calls: list[str] = []
    # botocore's own event hooks on the store's client: which requests went, not a stand-in for any.
    for operation in ("ListObjectsV2", "DeleteObjects"):
        store.client.meta.events.register(f"before-call.s3.{operation}", lambda model, **_: calls.append(model.name))
    gone = store.expire(stored + 1, page=5, batch=4)
    assert sorted(gone) == sorted(f.removeprefix("paged/") for f in files)
    assert calls.count("ListObjectsV2") == 5, calls  # 23 keys, 5 a page
    assert calls.count("DeleteObjects") == 6, calls  # 23 keys, 4 a batch
    assert "Contents" not in bucket.list_objects_v2(Bucket=BUCKET, Prefix="paged/")
    assert bucket.head_object(Bucket=BUCKET, Key="paged-not/J0000000X/part.csv")

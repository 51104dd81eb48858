"""One vendor export per job, even when a create's answer never comes back.

A create whose request may have reached the vendor (a read timeout, a connection broken after
it was sent, a worker that died before storing the id) is never simply sent again: 24Metrics'
Download Center is searched for the export it made; Instal, which can't be asked, fails the job
with what to check. A create that surely reached nothing (no connection, 429, 503) is retried.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import redis

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import RedisServer, deployment_env, free_port
from tests.inprocess import InProcessStack
from tests.test_flow import outcome_text, queued_job
from tests.test_jobs import make_job
from workers import steps
from workers.boot import boot, load_settings
from workers.runtime import Runtime
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION
from workers.vendors.metrics24.sandbox.exports import HISTORY_ID
from workers.vendors.registry import CATALOGUE

YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
INSTAL_PARAMS = {"start_date": YESTERDAY, "stop_date": YESTERDAY}
M24_PARAMS = {"kind": "clicks", "start_date": YESTERDAY, "end_date": YESTERDAY, "integration": DEFAULT_INTEGRATION}


def _exports(vendor: Sandbox) -> list[Any]:
    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as m24:
        # Leave out the one the Download Center starts with: only those the jobs made.
        return [e for e in m24.list_exports(page_size=100) if e.id != HISTORY_ID]


# -- through the whole stack ----------------------------------------------------------------


def test_an_instal_create_that_timed_out_is_not_sent_again(stack: InProcessStack, slack: LocalSlack,
                                                            vendor: Sandbox) -> None:
    vendor.inject("instal", "create", "timeout", delay=5)  # the answer comes after we gave up
    job_id = queued_job(stack.command("export instal yesterday"))
    job = stack.wait_job(job_id, ("failed",), timeout=30)
    assert "may have started this export" in job["error"] and "Instal's dashboard" in job["error"]
    text = slack.wait_for(lambda: (t := outcome_text(slack, job_id)) and "failed" in t and t)
    assert "may have started this export" in text
    stack.wait_idle()
    assert vendor.stats()["instal.create"] == 1


def test_an_instal_create_refused_with_503_is_retried(stack: InProcessStack, slack: LocalSlack,
                                                      vendor: Sandbox) -> None:
    vendor.inject("instal", "create", "status", status=503, count=2)
    job_id = queued_job(stack.command("export instal yesterday"))
    stack.wait_job(job_id, ("delivered",), timeout=45)
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=15)
    assert vendor.stats()["instal.create"] == 3


def test_a_24metrics_create_that_timed_out_is_found_not_made_twice(stack: InProcessStack, slack: LocalSlack,
                                                                    vendor: Sandbox) -> None:
    # The sandbox makes the export just after our 3 s read timeout gave up on it.
    vendor.inject("24metrics", "export.create", "timeout", delay=3.3)
    job_id = queued_job(stack.command("export 24metrics clicks yesterday"))
    stack.wait_job(job_id, ("delivered",), timeout=45)
    slack.wait_for(lambda: "download the file" in outcome_text(slack, job_id), timeout=15)
    stack.wait_idle()
    exports = _exports(vendor)
    assert len(exports) == 1 and stack.job(job_id)["export_id"] == exports[0].id
    assert vendor.stats()["24metrics.export.create"] == 1 and vendor.stats()["24metrics.export.list"] >= 1


# -- a step at a time -----------------------------------------------------------------------


class LosesTheExportId(redis.Redis):
    """A connection that drops on the write of a vendor export's id (the worker that made the
    export dies before it stores the id), once."""

    armed = False

    def execute_command(self, *args, **options):  # type: ignore[no-untyped-def,override]
        if self.armed and args[0] == "EVALSHA" and any('"export_id"' in str(a) for a in args):
            self.armed = False
            raise redis.ConnectionError("connection reset by peer (test)")
        return super().execute_command(*args, **options)


def _runtime(client: redis.Redis, slack: LocalSlack, vendor: Sandbox, **env: str) -> Runtime:
    # The deployment's environment without REDIS_URL: its broker is a stub nobody consumes.
    settings = {k: v for k, v in deployment_env("", slack.api_url, vendor, **env).items() if k != "REDIS_URL"}
    return boot(load_settings(settings), CATALOGUE, redis_client=client)


@pytest.mark.parametrize(("name", "params", "op"), [("24metrics", M24_PARAMS, "export.create"),
                                                    ("instal", INSTAL_PARAMS, "create")])
def test_a_create_whose_id_was_lost_is_not_made_twice(redis_server: RedisServer, redis_db: int, slack: LocalSlack,
                                                      vendor: Sandbox, name: str, params: dict[str, str],
                                                      op: str) -> None:
    client = LosesTheExportId.from_url(redis_server.url(redis_db))
    rt = _runtime(client, slack, vendor)
    job = make_job(rt.store, vendor=name, params=params, channel_id="CGENERAL")
    client.armed = True
    with pytest.raises(redis.ConnectionError):
        steps.request(rt, CATALOGUE, job.id)
    assert vendor.stats()[f"{name}.{op}"] == 1, "the vendor made an export we have no id of"
    steps.request(rt, CATALOGUE, job.id)  # the step again, as Dramatiq retries it
    again = rt.store.get(job.id)
    assert again is not None and vendor.stats()[f"{name}.{op}"] == 1
    if name == "24metrics":
        assert again.state == "waiting" and again.export_id == _exports(vendor)[0].id
        assert len(_exports(vendor)) == 1
    else:
        assert again.state == "failed" and "may have started this export" in again.error
    client.flushdb()


def test_an_instal_create_that_could_not_connect_is_tried_again(client: redis.Redis, slack: LocalSlack,
                                                                 vendor: Sandbox) -> None:
    rt = _runtime(client, slack, vendor, INSTAL_BASE_URL=f"http://127.0.0.1:{free_port()}")
    job = make_job(rt.store, params=INSTAL_PARAMS)
    for _ in range(2):  # nothing reached Instal: each try may create
        with pytest.raises(steps.StepRetry):
            steps.request(rt, CATALOGUE, job.id)
        again = rt.store.get(job.id)
        assert again is not None and again.state == "requesting" and "Could not connect" in again.last_error

"""Queues by what a step waits on (``workers.actors``): a build's long steps (parts, assembly) go
to ``adops.slow``, everything quick to ``adops``, and ``adops worker --queues`` consumes only
the queues it is given. The point of the split, shown on real processes: with nobody serving
the slow queue, or its worker gone, a quick command is still answered and posted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis

from devkit.slack import LocalSlack
from tests.harness import REPO, RedisServer, Stack, wait_until
from tests.test_flow import queued_job
from workers import actors
from workers.actors import QUEUE, QUEUES, SLOW_QUEUE
from workers.boot import boot, load_settings
from workers.vendors.adspect.sandbox import AdspectApp
from workers.vendors.registry import CATALOGUE

pytestmark = pytest.mark.heavy(25)

BUILD = "export adspect clicks 2026-11-01..2026-11-03 columns=click_id,country_code"  # a part a day


def test_every_actor_has_a_known_queue_and_a_builds_long_steps_are_on_the_slow_one() -> None:
    assert {name: actors.queue_of(name) for name in ("build_part", "build_assemble")} == {
        "build_part": SLOW_QUEUE, "build_assemble": SLOW_QUEUE}
    quick = ("export_request", "export_poll", "task_run", "build_plan", "publish", "sweep", "digest_fire",
             "ephemeral_notice", "audit_post", "job_gave_up")
    assert {actors.queue_of(name) for name in quick} == {QUEUE}


def test_a_slow_step_is_sent_to_the_slow_queues_redis_list(client: redis.Redis, redis_server: RedisServer,
                                                           redis_db: int) -> None:
    env = {"REDIS_URL": redis_server.url(redis_db), "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"}
    rt = boot(load_settings(env, CATALOGUE), CATALOGUE, redis_client=client)
    rt.dispatch.part("J1", "2026-11-01")
    rt.dispatch.assemble("J1")
    rt.dispatch.publish("J1")
    assert client.llen(f"dramatiq:{SLOW_QUEUE}") == 2
    assert client.llen(f"dramatiq:{QUEUE}") == 1


def test_an_unknown_queue_is_refused_naming_the_option(redis_server: RedisServer, redis_db: int) -> None:
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": redis_server.url(redis_db), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "worker", "--queues", "adops,adops.fast"], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert "--queues: adops.fast is not a queue" in out.stderr and ",".join(QUEUES) in out.stderr


def test_a_quick_command_is_answered_while_nobody_serves_the_slow_queue(make_process_stack: Callable[..., Stack],
                                                                       slack: LocalSlack) -> None:
    stack = make_process_stack(start=False)
    stack.start_web()
    stack.start_worker(queues=(QUEUE,))
    build_id = queued_job(stack.command(BUILD))
    # The quick worker plans the build (a quick step); its three parts wait on the slow queue.
    wait_until(lambda: stack.redis.llen(f"dramatiq:{SLOW_QUEUE}") == 3,
               what=lambda: f"the build's parts on {SLOW_QUEUE}\n{stack.logs()[-3000:]}")
    task_id = queued_job(stack.command("account", user="UADMIN"))
    stack.wait_job(task_id, ("delivered",))
    wait_until(lambda: stack.job(task_id).get("outcome_posted") == "1", what="the task's outcome posted")
    # The worker of `adops` has had every chance to take them: the task ran after they were queued.
    assert stack.redis.llen(f"dramatiq:{SLOW_QUEUE}") == 3
    assert stack.job(build_id)["state"] == "requesting"
    assert stack.messages_left((QUEUE,)) == 0

    slow = stack.start_worker(queues=(SLOW_QUEUE,))
    job = stack.wait_job(build_id, ("delivered",), timeout=40)
    assert json.loads(job["result"])["rows"] == 3 * AdspectApp.clicks_per_day
    stack.wait_idle()

    # With the slow queue's worker gone, quick work still flows.
    stack.kill_worker(slow)
    second = queued_job(stack.command(BUILD.replace("11-03", "11-02")))
    wait_until(lambda: stack.redis.llen(f"dramatiq:{SLOW_QUEUE}") == 2, what="the second build's parts queued")
    again = queued_job(stack.command("account", user="UADMIN2"))  # not the same person's repeat
    stack.wait_job(again, ("delivered",))
    assert stack.job(second)["state"] == "requesting"

"""``/healthz`` says what it checked (Redis, the queue, the clock's and the workers'
heartbeats), and ``adops status`` prints the same figures for a person at a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from bot import web
from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import REPO, deployment_env, free_port
from tests.inprocess import InProcessStack
from tests.test_digests_flow import add, answer
from tests.test_flow import queued_job
from tests.test_metrics import scrape
from workers import status
from workers.boot import boot, load_settings
from workers.heartbeat import WorkerHeartbeat, beat_clock, worker_prefix
from workers.vendors.registry import CATALOGUE

pytestmark = pytest.mark.heavy(15)  # seconds, about: two `adops status` processes


def health(stack: InProcessStack) -> tuple[int, dict[str, object]]:
    response = stack.http.get("/healthz")
    return response.status_code, response.json()


def test_healthz_says_what_it_checked(stack: InProcessStack) -> None:
    code, body = health(stack)
    # No clock and no worker heartbeat yet: degraded, but the web can queue commands: 200.
    assert code == 200 and body["status"] == "degraded" and body["ok"] is True, body
    assert body["redis"]["ok"] is True and 0 <= body["redis"]["latency_ms"] < 1000  # type: ignore[index]
    queue = body["broker"]["queues"][0]  # type: ignore[index]
    assert queue["queue"] == "adops" and queue["ready"] == 0, queue
    assert body["clock"] == {"leader": None, "ok": False, "age_s": None, "who": None}, body

    beat = WorkerHeartbeat(stack.redis, "adops:", 5.0, ("adops",))
    beat.after_worker_boot(stack.rt.broker, None)  # type: ignore[union-attr]
    try:
        beat_clock(stack.redis, "adops:", "clockhost:7", time.time() - 2)
        code, body = health(stack)
        assert code == 200 and body["status"] == "ok", body
        assert body["clock"]["ok"] is True and 2 <= body["clock"]["age_s"] < 10  # type: ignore[index]
        assert body["workers"]["count"] == 1 and body["workers"]["beats"][0]["queues"] == ["adops"]  # type: ignore[index]
        assert stack.redis.pttl(worker_prefix("adops:") + beat.who) > 10_000  # lives three intervals

        # A clock silent for longer than ADOPS_CLOCK_STALE (30 s): reported, degraded, still 200.
        beat_clock(stack.redis, "adops:", "clockhost:7", time.time() - 100)
        code, body = health(stack)
        assert code == 200 and body["status"] == "degraded", body
        assert body["clock"]["ok"] is False and body["clock"]["age_s"] >= 100  # type: ignore[index]
    finally:
        beat.before_worker_shutdown(stack.rt.broker, None)  # type: ignore[union-attr]
    # A worker that stops cleanly takes its beat with it.
    assert health(stack)[1]["workers"]["count"] == 0  # type: ignore[index]


def test_healthz_is_503_when_redis_does_not_answer(slack: LocalSlack, vendor: Sandbox) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    rt = boot(load_settings(deployment_env(dead, slack.api_url, vendor), CATALOGUE), ingress=True)
    with httpx.Client(transport=httpx.WSGITransport(app=web.build(rt, CATALOGUE)), base_url="http://adops.test") as http:
        response = http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["status"] == "down" and body["redis"]["ok"] is False, body
    assert "broker" not in body  # nothing else was checked without Redis


@pytest.fixture()
def queued(redis_server, redis_db: int, slack: LocalSlack, vendor: Sandbox) -> Iterator[InProcessStack]:  # type: ignore[no-untyped-def]
    """A deployment's web with no worker: what it records stays queued."""
    stack = InProcessStack(redis_server.url(redis_db), slack.api_url, vendor).start(worker=False)
    yield stack
    stack.stop()


def adops_status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", "status", *args], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=30)


def test_adops_status_prints_the_figures(queued: InProcessStack) -> None:
    job_id = queued_job(queued.command("export instal 2026-11-01..2026-11-07 interval=daily"))
    queued.redis.set("adops:clock:leader", "clockhost:7")
    beat_clock(queued.redis, "adops:", "clockhost:7", time.time() - 3)

    done = adops_status(queued.env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Redis      ok" in out, out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("adops "))
    assert row[:5] == ["adops", "1", "0", "0", "0"], out  # ready, delayed, in progress, dead
    assert float(row[5]) < 30 and row[6] == "s", out  # the oldest waiting message's age
    assert "Jobs open  queued 1" in out and "Jobs recent queued 1" in out, out
    assert "Digests    0 active" in out, out
    clock = re.search(r"Clock      leader clockhost:7, heartbeat ([\d.]+) s ago from clockhost:7", out)
    assert clock and 3 <= float(clock.group(1)) < 30, out  # written 3 s before the command started
    assert "STALE" not in out and "Workers    0 alive" in out, out

    snap = json.loads(adops_status(queued.env, "--json").stdout)
    assert snap["queues"][0]["ready"] == 1 and snap["jobs"]["open"] == {"queued": 1}
    assert queued.job(job_id)["state"] == "queued"


def test_adops_status_exits_1_naming_redis_url_when_redis_does_not_answer() -> None:
    done = adops_status({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert done.returncode == 1 and "REDIS_URL" in done.stderr and done.stdout == "", (done.stdout, done.stderr)


def test_digests_by_state_agree_in_status_and_metrics(stack: InProcessStack) -> None:
    """Paused digests counted beside the active ones, by ``adops status`` and ``/metrics`` alike,
    through every way a digest changes state: added, paused by an admin, paused by its own
    failures (the store's Lua), resumed, removed while paused."""
    assert stack.rt is not None
    ids = [add(stack, f'"0 {hour} * * *" account').id for hour in (7, 8, 9, 10)]

    def both() -> tuple[dict[str, int], dict[str, int]]:
        snap = status.snapshot(stack.redis, "adops:", ("adops",), stale_after=30)
        _, samples = scrape(stack.http)
        gauge = {dict(labels)["state"]: int(v) for (name, labels), v in samples.items() if name == "adops_digests"}
        said = {k: snap["digests"][k] for k in ("active", "paused")}
        assert f"{said['active']} active, {said['paused']} paused" in status.render(snap)
        return said, gauge

    assert both() == ({"active": 4, "paused": 0},) * 2
    assert "paused" in answer(stack, f"digest pause {ids[0]}")
    # A third failure in a row pauses a digest by itself (the limit is 3 by default).
    for n in range(3):
        stack.rt.digests.record(ids[1], f"JFAILED0{n}", "failed", now=time.time(), pause_after=3, scheduled=True)
    assert stack.rt.digests.get(ids[1]).paused  # type: ignore[union-attr]
    assert both() == ({"active": 2, "paused": 2},) * 2
    assert "running again" in answer(stack, f"digest resume {ids[1]}")
    assert "removed" in answer(stack, f"digest remove {ids[0]}")
    assert both() == ({"active": 3, "paused": 0},) * 2
    # A digest paused before paused digests were counted (in the hash only): the clock's start
    # counts it, once per deployment.
    assert "paused" in answer(stack, f"digest pause {ids[2]}")
    stack.redis.srem("adops:digests:paused", ids[2])
    assert both() == ({"active": 2, "paused": 0},) * 2
    assert stack.rt.digests.index_paused() == 1
    assert both() == ({"active": 2, "paused": 1},) * 2
    assert stack.rt.digests.index_paused() == 0

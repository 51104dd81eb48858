"""Issue 12's scale-out proof: two of each process on one Redis, one of each SIGKILLed mid-run,
and every job still done exactly once.

Two ``web`` (gunicorn, two workers each, on ports of their own, as two machines behind a load
balancer), two ``worker`` and two ``clock`` processes, each the production entry point, share
one private Redis database, the fake Slack and the vendor sandbox. Through both webs in turn go
exports, tasks, button clicks (a filter group switched by a double click whose two payloads
reach different webs; a cancel double-clicked the same way) while a digest fires every 3 s.
Mid-run one web, one worker and the leading clock are SIGKILLed (no shutdown, no acks, no
goodbye): the surviving web takes the rest, the surviving worker gets the dead one's messages
back from the broker's maintenance (short heartbeat), the sweeper re-sends what only it can
save, and the standby clock takes the lease.

Then everything is counted, not sampled: each acknowledged command's job has exactly one
outcome message (never a progress message left up) and a settled store record; Instal made one
export per job that has one; each digest scheduled time ran exactly once (consecutive ``at``
values, none twice, none folded) and was posted once; each switch reached 24Metrics once and was
audited once; each cancel was applied (and audited) at most once and only to a job it ended.
tests/test_faults.py breaks one worker at a time under every vendor and Slack fault; this file
is about several processes of each kind at once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from devkit.sandbox import Sandbox
from devkit.sandbox.server import Exchange
from devkit.slack import LocalSlack, Message
from tests.harness import Requests, Stack, free_port, wait_until
from tests.test_flow import JOB_ID
from workers.digests.cron import parse_cron
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, group_id

pytestmark = pytest.mark.heavy(60)  # seconds, about: ten processes booting on 2 cores, ~14 s of load, the settling

CRON = "*/3 * * * * *"  # longer than a clock failover (lease + tick), so no run is folded
LEASE = 1.5
ADMIN = "UADMIN"
BOARD = "CBOARD"  # the filter groups' listing, its switches and nothing else
DIGESTS = "CDIGEST"  # the digest's posts and nothing else
CHANNELS = ("CSCALE1", "CSCALE2", "CSCALE3", "CSCALE4")
#: Each export for a day of its own, so the sandbox's creates tell which job asked (``{day}``).
COMMANDS = ("export instal {day}", "account", "funnel yesterday")
SWITCHED = [group_id(DEFAULT_INTEGRATION, n) for n in (1, 2, 3)]
ENDED = ("delivered", "failed", "cancelled")
#: Seconds of commands before the kills, and after them to the surviving web.
BEFORE, AFTER = 7.0, 6.0
#: One command every this many seconds (a command with its ack takes ~30 ms of one web).
PACE = 0.3


class Web(Requests):
    """Signed requests to one web process of the deployment."""

    def __init__(self, stack: Stack, url: str) -> None:
        self.http, self.url, self.redis, self._stack = stack.http, url, stack.redis, stack

    def logs(self) -> str:
        return self._stack.logs()


@dataclass
class Sent:
    job_id: str
    text: str
    channel: str
    web: str


@dataclass
class Run:
    """What the test sent, and what it must find settled."""

    jobs: list[Sent] = field(default_factory=list)
    cancelled_clicks: list[str] = field(default_factory=list)


def ended(stack: Stack) -> Callable[[], bool]:
    """Every job in the store settled: ended, its outcome marked posted."""

    def check() -> bool:
        for key in stack.redis.scan_iter("adops:job:*"):
            job = stack.job(key.decode().split(":")[-1])
            if job.get("id") and (job.get("state") not in ENDED or job.get("outcome_posted") != "1"):
                return False
        return True

    return check


def unsettled(stack: Stack) -> list[dict[str, str]]:
    jobs = (stack.job(k.decode().split(":")[-1]) for k in stack.redis.scan_iter("adops:job:*"))
    return [j for j in jobs if j.get("id") and (j.get("state") not in ENDED or j.get("outcome_posted") != "1")]


def is_progress(m: Message, job_id: str) -> bool:
    """A job's progress message carries its Cancel button block; an outcome never does."""
    return any(b.get("type") == "actions" and b.get("block_id") == f"job:{job_id}" for b in m.blocks)


def shown(slack: LocalSlack, job_id: str, channel: str) -> list[Message]:
    return [m for m in slack.messages(channel) if not m.ephemeral and job_id in m.text + json.dumps(m.blocks)]


def name(proc: subprocess.Popen[bytes]) -> str:
    """A clock's name as it writes it in the leader lock (``Clock.me``)."""
    return f"{socket.gethostname()}:{proc.pid}"


def killpg(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group (gunicorn's or Dramatiq's workers with their master)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def heartbeats(stack: Stack) -> list[str]:
    """Dramatiq's ids of the worker processes alive now, in the order they first beat."""
    return [k.decode() for k in stack.redis.zrange("dramatiq:__heartbeats__", 0, -1)]


def in_hand(stack: Stack, worker_id: str, queue: str = "*") -> int:
    """Messages the Dramatiq worker fetched and has not acked: being run, or (queue
    ``adops.DQ``) delayed ones it keeps until they are due."""
    return sum(int(stack.redis.scard(k)) for k in stack.redis.scan_iter(match=f"dramatiq:__acks__.{worker_id}.{queue}"))


def held_until(stack: Stack, worker_id: str) -> float:
    """When the last delayed message the worker holds falls due (epoch seconds; 0: it holds none)."""
    ids = list(stack.redis.smembers(f"dramatiq:__acks__.{worker_id}.adops.DQ"))
    bodies = stack.redis.hmget("dramatiq:adops.DQ.msgs", ids) if ids else []
    etas = [json.loads(body)["options"].get("eta", 0) for body in bodies if body]
    return max(etas, default=0) / 1000


def digest_runs(stack: Stack, digest_id: str) -> list[tuple[float, dict[str, str]]]:
    runs = []
    for key in stack.redis.scan_iter("adops:job:*"):
        job = stack.job(key.decode().split(":")[-1])
        about = json.loads(job.get("digest") or "{}")
        if about.get("id") == digest_id:
            runs.append((float(about["at"]), {**job, "missed": str(about.get("missed") or 0)}))
    return sorted(runs, key=lambda r: r[0])


@pytest.fixture()
def stack(make_process_stack: Callable[..., Stack]) -> Iterator[Stack]:
    stack = make_process_stack(
        start=False,
        ADOPS_DIGEST_MIN_INTERVAL="1", ADOPS_CLOCK_TICK="0.25", ADOPS_CLOCK_LEASE=str(LEASE),
        ADOPS_SLACK_CHANNEL_PACE="0",
        # A killed worker's messages back within seconds (its heartbeat lapses after 2 s and
        # every broker command may run the maintenance that requeues them), and the sweeper's
        # rescue of a step nobody tried for 5 s, as bench/faults.py has them.
        ADOPS_BROKER_HEARTBEAT_MS="2000", ADOPS_BROKER_MAINTENANCE_CHANCE="1000000",
        ADOPS_SWEEP_INTERVAL="2", ADOPS_RESCUE_AFTER="5",
        # The load is one team's worth of people in a few channels; the limits are not the point.
        ADOPS_RATE_PER_USER="1000", ADOPS_RATE_PER_CHANNEL="1000",
    )
    yield stack  # make_process_stack stops every process, the killed ones already gone


@pytest.fixture()
def creates(vendor: Sandbox) -> Iterator[Counter[str]]:
    """Every Instal create the sandbox answered, by the day it was for (one job's)."""
    made: Counter[str] = Counter()

    def observe(ex: Exchange) -> None:
        if ex.vendor == "instal" and ex.op == "create" and ex.answered:
            made[str(json.loads(ex.request.body or b"{}").get("start_date"))] += 1

    vendor.observer = observe
    yield made
    vendor.observer = None  # the sandbox serves the whole session


def test_two_of_each_process_with_one_of_each_killed_do_every_job_exactly_once(
    stack: Stack, slack: LocalSlack, vendor: Sandbox, creates: Counter[str]
) -> None:
    started = time.monotonic()
    # The worker to be killed first and alone: every process using the broker beats (webs and
    # clocks too, as they enqueue), so the one heartbeat then is this worker's Dramatiq id.
    doomed = stack.start_worker()
    doomed_id = wait_until(lambda: (lambda ids: ids[0] if len(ids) == 1 else None)(heartbeats(stack)), timeout=20,
                           what=lambda: f"the first worker's heartbeat\n{stack.logs()}")
    stack.start_worker()
    stack.start_clock()
    stack.start_clock()
    # Ready at the second poll (0.5 s, then 1.35 s): each export keeps a delayed poll in a
    # worker's hands for most of a second, work a killed worker takes with it.
    vendor.set_ready_after(1.2)
    second = free_port()
    # Both webs booting at once (each start waits for its /healthz).
    with ThreadPoolExecutor(2) as pool:
        web_procs = [f.result() for f in [pool.submit(stack.start_web, port=port, workers=2) for port in (stack.port, second)]]
    webs = [Web(stack, stack.url), Web(stack, f"http://127.0.0.1:{second}")]

    def clocks_led() -> subprocess.Popen[bytes] | None:
        holder = stack.redis.get("adops:clock:leader")
        return next((p for p in stack.clocks if holder is not None and holder.decode() == name(p)), None)

    def worker_logs() -> str:
        return "".join(p.read_text(errors="replace") for p in stack.logdir.glob("worker-*.log"))

    wait_until(lambda: clocks_led() is not None and worker_logs().count("ready for action") >= 2, timeout=30,
               what=lambda: f"a clock leading and both workers ready\n{stack.logs()}")
    booted = time.monotonic() - started

    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as m24:
        before = {g: m24.get_filter_group(g).monitoring_mode for g in SWITCHED}

    # The digest, and the listing whose switches are clicked, through the first web.
    said = str(webs[0].command(f'digest add "{CRON}" account', user=ADMIN, channel=DIGESTS).json()["text"])
    assert "added" in said, said
    digest_id = said.split("`")[1]
    listing = JOB_ID.search(str(webs[1].command("filters", user=ADMIN, channel=BOARD).json()["text"]))
    assert listing, "the filters listing was not queued"
    board = slack.wait_for(lambda: next((m for m in shown(slack, listing.group(0), BOARD)
                                         if "in monitoring mode" in str(m.blocks)), None), timeout=20)

    run = Run()

    def send(i: int, live: list[Web]) -> None:
        web = live[i % len(live)]
        day = (date.today() - timedelta(days=2 + i)).isoformat()
        text, channel, user = COMMANDS[i % len(COMMANDS)].format(day=day), CHANNELS[i % len(CHANNELS)], f"US{i:04d}"
        answer = str(web.command(text, user=user, channel=channel).json()["text"])
        match = JOB_ID.search(answer)
        assert match and "Queued as job" in answer, answer
        run.jobs.append(Sent(match.group(0), text, channel, web.url))
        if text.startswith("export") and i % 2 == 0:
            # A double click on its Cancel: one payload to each web (or twice to the one left).
            for n, via in enumerate((web, live[(i + 1) % len(live)])):
                via.click("job_cancel", match.group(0), user=user, channel=channel,
                          response_url=slack.response_url(channel, user), action_ts=f"{i}.{n}")
            run.cancelled_clicks.append(match.group(0))
        if i % 5 == 1 and (i // 5) < len(SWITCHED):
            # Switch a filter group on the listing: two payloads (a double click), two webs.
            group = SWITCHED[i // 5]
            value = json.dumps({"g": group, "i": DEFAULT_INTEGRATION, "f": "monitoring_mode", "to": not before[group]})
            for n, via in enumerate((web, live[(i + 1) % len(live)])):
                via.click("fg_toggle", value, user=ADMIN, channel=BOARD, message_ts=board.ts, blocks=board.blocks,
                          action_ts=f"{i}.{n + 5}")

    i = 0
    until = time.monotonic() + BEFORE
    # Then on until the worker to be killed holds messages (fetched, not acked, or delayed polls
    # kept until due), so its death takes work with it: a kill of an idle worker proves nothing.
    # A delayed poll is held until it is due; one due a third of a second or more from now is
    # still in its hands at the kill (one due sooner was seen run and acked in between on a loaded
    # machine, as a quick task's message may be). Wait for one rather than kill an idle worker.
    ready = False
    while not ready and time.monotonic() < until + 25:
        send(i, webs)
        i += 1
        gap = time.monotonic() + PACE
        while time.monotonic() < gap and not ready:
            ready = time.monotonic() >= until and held_until(stack, doomed_id) > time.time() + 0.3
            time.sleep(0.02)
    assert ready, "the worker to be killed never held a delayed poll"

    # The kills: one web, one worker, the clock that leads (each with nothing to say goodbye).
    leader = clocks_led()
    assert leader is not None
    killpg(doomed)  # first: what it held a moment ago may be done a moment later
    killpg(web_procs[1])
    lost_with_it = in_hand(stack, doomed_id)
    assert lost_with_it, "the killed worker held no message: its kill tested nothing"
    killpg(leader)
    killed_at = time.time()
    sent_before = len(run.jobs)
    # The dead web refuses connections (a load balancer would stop sending to it): the rest go
    # to the one left.
    with pytest.raises(httpx.HTTPError):
        webs[1].command("account", user="ULATE", channel=CHANNELS[0])
    standby = next(p for p in stack.clocks if p is not leader)
    until = time.monotonic() + AFTER
    while time.monotonic() < until:
        send(i, [webs[0]])
        i += 1
        time.sleep(PACE)
    assert clocks_led() is standby, "the standby clock never took the lease"
    assert f"clock {name(standby)} leads" in "".join(p.read_text(errors="replace") for p in stack.logdir.glob("clock-*.log"))
    stopped = str(webs[0].command(f"digest pause {digest_id}", user=ADMIN, channel=DIGESTS).json()["text"])
    assert "paused" in stopped.lower(), stopped
    assert len(run.jobs) > sent_before >= 10, (sent_before, len(run.jobs))

    # Settling: every job ended and posted, then nothing left queued or delayed (a late
    # duplicate lands before the count).
    wait_until(ended(stack), timeout=40, interval=0.25,
               what=lambda: f"every job settled; not yet: {unsettled(stack)}\n{stack.logs()[-6000:]}")
    stack.wait_idle(timeout=30)
    settled = time.monotonic() - started
    # The dead worker's messages went back to the queue (its acks gone, it no longer beats).
    assert in_hand(stack, doomed_id) == 0 and doomed_id not in heartbeats(stack), (doomed_id, heartbeats(stack))

    # 1. Each acknowledged command: one outcome message, never a progress message left up.
    wrong = {}
    for s in run.jobs:
        messages = shown(slack, s.job_id, s.channel)
        job = stack.job(s.job_id)
        if len(messages) != 1 or is_progress(messages[0], s.job_id) or job["state"] not in ENDED:
            wrong[s.job_id] = (s.text, s.web, job.get("state"), len(messages), [m.text[:80] for m in messages])
        elif job["state"] == "failed":
            assert job.get("error", "").strip(), f"{s.job_id} failed without a reason: {job}"
    assert not wrong, f"jobs not posted exactly once: {wrong}\n{stack.logs()[-6000:]}"
    states = [stack.job(s.job_id)["state"] for s in run.jobs]

    # 2. Instal never made two exports for one job (a retried create whose first reached it).
    exports = {s.text.split()[-1]: s for s in run.jobs if s.text.startswith("export")}
    assert sum(creates.values()) == vendor.stats().get("instal.create", 0), "a create the test could not place"
    twice = {d: (exports[d].job_id, stack.job(exports[d].job_id)) for d, n in creates.items() if n > 1}
    assert not twice, f"Instal made two exports for one job: {twice}"
    delivered = [s for s in exports.values() if stack.job(s.job_id)["state"] == "delivered"]
    assert delivered and all(creates[s.text.split()[-1]] == 1 for s in delivered)

    # 3. Each cancel applied at most once, to a job it ended, and audited once; none to others.
    audit = [{k.decode(): v.decode() for k, v in e[1].items()} for e in stack.redis.xrange("adops:audit")]
    for job_id in run.cancelled_clicks:
        entries = [e for e in audit if e["target"] == job_id and e["after"] == "cancelled"]
        cancelled = stack.job(job_id)["state"] == "cancelled"
        assert len(entries) == (1 if cancelled else 0), (job_id, stack.job(job_id)["state"], entries)
    assert all(e["target"] in run.cancelled_clicks for e in audit if e["after"] == "cancelled")

    # 4. Each switch (a double click across two webs) reached 24Metrics once and was audited once.
    switched = SWITCHED[: len([n for n in range(i) if n % 5 == 1 and n // 5 < len(SWITCHED)])]
    assert switched, "no switch was clicked"
    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as m24:
        after = {g: m24.get_filter_group(g).monitoring_mode for g in switched}
    assert after == {g: not before[g] for g in switched}, (before, after)
    assert vendor.stats().get("24metrics.filter_groups.update", 0) == len(switched), vendor.stats()
    for g in switched:
        entries = [e for e in audit if g in e["target"]]
        assert len(entries) == 1, (g, entries)
    # The switches edit the listing they sit on: one message in its channel, never a second.
    assert [m.ts for m in slack.messages(BOARD) if not m.ephemeral] == [board.ts], slack.messages(BOARD)

    # 5. Each digest scheduled time from the first to the last ran once, unfolded, and posted once.
    runs = digest_runs(stack, digest_id)
    ats = [at for at, _ in runs]
    assert sum(at < killed_at for at in ats) >= 1 and sum(at > killed_at for at in ats) >= 2, (killed_at, ats)
    assert len(ats) == len(set(ats)), f"a scheduled time ran twice: {ats}"
    expected = [ats[0], *parse_cron(CRON).between(ats[0], ats[-1], ZoneInfo("UTC"))]
    assert ats == expected, f"a scheduled time never ran: ran {ats}, scheduled {expected}"
    assert all(job["missed"] == "0" and job["state"] == "delivered" for _, job in runs), runs
    posts = [m for m in slack.messages(DIGESTS) if not m.ephemeral and f"Digest `{digest_id}`" in json.dumps(m.blocks)]
    assert len(posts) == len(runs), f"{len(posts)} digest posts for {len(runs)} runs"

    print(f"\nscale-out: booted in {booted:.1f} s, settled at {settled:.1f} s; {len(run.jobs)} jobs "
          f"({sent_before} before the kills), states {dict((s, states.count(s)) for s in set(states))}, "
          f"{len(run.cancelled_clicks)} cancels double-clicked, {len(switched)} switches double-clicked, "
          f"{len(runs)} digest runs, {vendor.stats().get('instal.create', 0)} Instal exports, "
          f"{lost_with_it} messages in the killed worker's hands")


"""Issue 11's "exactly once per tick", proven on real processes: a web process (the digest is
added through the signed ingress), a worker, and TWO clocks, one leading and one on standby, on
a private Redis, the fake Slack and the vendor sandbox, with a schedule in seconds.

The in-process tests (test_clock.py, test_digests_flow.py) drive one tick at a time on a made-up
time; what they cannot show is two real schedulers ticking side by side on the wall clock, and a
leader that dies (SIGKILL: no goodbye, its lease must lapse) or stops (SIGTERM: it steps down at
once). Here every scheduled time between the first run and the last must become exactly one job
and one post, none missing and none twice, across both, and a run due while the lock changed
hands is late by no more than the lease and a tick.

Each run is read from its job (``adops:job:*``, field ``digest``: its scheduled ``at``), since the
post's "the run of" shows minutes only; the posts are counted against the jobs. The clocks' own
log lines ("N digest run(s) sent") count the sends, so a clock that sent a run twice is seen even
though the worker's once-only key would have hidden it from the jobs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.conftest import _dbs
from tests.harness import RedisServer, Stack, wait_until
from tests.test_flow import CHANNEL
from workers.digests.cron import parse_cron

pytestmark = pytest.mark.heavy(45)  # seconds, about: five processes booting (~8 s), ~30 s of ticks

CRON = "*/3 * * * * *"  # every 3 s: longer than a failover (lease + tick), so none is folded
TICK = 0.25
LEASE = 1.5
ZONE = ZoneInfo("UTC")
#: A run's job is made a little after the clock sends it: the enqueue, the worker's fetch, the
#: digest's re-parse. Measured well under 0.3 s on 2 cores; the room keeps a loaded CI green.
PICKUP = 1.0
LEADER_KEY = "adops:clock:leader"


@dataclass
class Run:
    at: float  # the scheduled time
    created_at: float  # when its job was made
    job_id: str
    state: str
    missed: int


@dataclass
class Deployment:
    stack: Stack
    slack: LocalSlack
    digest_id: str
    #: Runs a clock may have sent twice by design (a leader killed between its send and its
    #: compare-and-set): the worker's once-only key drops the second.
    resends: int = 0

    @property
    def clocks(self) -> list[subprocess.Popen[bytes]]:
        return self.stack.clocks

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.clocks if p.poll() is None]

    def two_clocks(self) -> bool:
        """Two live clocks, each started (it says so), one of them holding the lock."""
        live = self.live()
        return len(live) == 2 and all(self.log(p) for p in live) and self.leader() in live

    def logs(self, name: str) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.stack.logdir.glob(f"{name}-*.log")))

    def name(self, proc: subprocess.Popen[bytes]) -> str:
        """The clock's name as it writes it in the leader lock (``Clock.me``)."""
        return f"{socket.gethostname()}:{proc.pid}"

    def leader(self) -> subprocess.Popen[bytes] | None:
        holder = self.stack.redis.get(LEADER_KEY)
        found = [p for p in self.clocks if holder is not None and holder.decode() == self.name(p)]
        return found[0] if found else None

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        # _spawn names a clock's log by its start; the pid is in its "started" line.
        for path in self.stack.logdir.glob("clock-*.log"):
            text = path.read_text(errors="replace")
            if f"clock {self.name(proc)} started" in text:
                return text
        return ""

    def runs(self) -> list[Run]:
        found = []
        for key in self.stack.redis.scan_iter("adops:job:*"):
            job = self.stack.job(key.decode().split(":")[-1])
            about = json.loads(job.get("digest") or "{}")
            if about.get("id") == self.digest_id:
                found.append(Run(float(about["at"]), float(job["created_at"]), job["id"], job["state"],
                                 int(about.get("missed") or 0)))
        return sorted(found, key=lambda r: r.at)

    def runs_after(self, t: float, count: int, timeout: float) -> list[Run]:
        """Wait for ``count`` runs scheduled after ``t``; all the runs so far."""
        return wait_until(lambda: (lambda rs: rs if sum(r.at > t for r in rs) >= count else None)(self.runs()),
                          timeout=timeout, interval=0.2, what=lambda: f"{count} runs after {t:.2f}: {self.runs()}\n"
                          f"{self.stack.logs()}")

    def sent(self) -> int:
        """Runs the clocks say they sent, all clocks together (a killed one's lines stay)."""
        return sum(int(n) for n in re.findall(r"clock tick: (\d+) digest run\(s\) sent", self.logs("clock")))

    def posts(self) -> int:
        return sum(1 for m in self.slack.messages(CHANNEL)
                   if f"Digest `{self.digest_id}`" in json.dumps(m.blocks) and not m.ephemeral)

    def next_due(self) -> float:
        score = self.stack.redis.zscore("adops:digests:due", self.digest_id)
        assert score is not None, "the digest left the due set"
        return float(score)


@pytest.fixture(scope="module")
def deployment(redis_server: RedisServer, fake_slack: LocalSlack, sandbox: Sandbox,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for the file (booting five processes on 2 cores takes ~7 s): each test
    starts from two live clocks, one leading, and checks the whole history so far."""
    fake_slack.reset()
    sandbox.reset()
    sandbox.set_ready_after(0.5)
    stack = Stack(redis_server.url(next(_dbs) % 64), fake_slack.api_url, sandbox, tmp_path_factory.mktemp("digests"),
                  ADOPS_DIGEST_MIN_INTERVAL="1", ADOPS_CLOCK_TICK=str(TICK), ADOPS_CLOCK_LEASE=str(LEASE),
                  ADOPS_SLACK_CHANNEL_PACE="0")
    try:
        # All booting together (the web's wait for /healthz covers the others' start-up).
        stack.start_worker()
        stack.start_clock()
        stack.start_clock()
        stack.start_web()
        d = Deployment(stack, fake_slack, "")
        # Both clocks up and one leading, and the worker taking messages, before the first run
        # can come due: a run sent to a worker still booting is late.
        wait_until(lambda: d.two_clocks() and "ready for action" in d.logs("worker"), timeout=30,
                   what=lambda: f"two clocks started, one leading, the worker ready\n{stack.logs()}")
        response = stack.command(f'digest add "{CRON}" account', user="UADMIN", channel=CHANNEL)
        assert response.status_code == 200, response.text
        said = str(response.json()["text"])
        assert "added" in said, said
        d.digest_id = said.split("`")[1]
        yield d
    finally:
        stack.stop()  # the clocks, the worker and the web, also when a test failed


@pytest.fixture()
def d(deployment: Deployment) -> Deployment:
    """The deployment with two live clocks again (a test before may have stopped one)."""
    if len(deployment.live()) < 2:
        deployment.stack.start_clock()
    wait_until(deployment.two_clocks, timeout=20,
               what=lambda: f"two live clocks, one leading\n{deployment.stack.logs()}")
    return deployment


def assert_exactly_once(d: Deployment, window: list[Run], *, late: float) -> None:
    """Every scheduled time from the digest's first run to its last so far is one job and one
    post; the runs in ``window`` (this test's) were made at most ``late`` s after their time."""
    runs = d.runs()
    ats = [r.at for r in runs]
    assert len(ats) == len(set(ats)), f"a scheduled time ran twice: {runs}"
    expected = [ats[0], *parse_cron(CRON).between(ats[0], ats[-1], ZONE)]
    assert ats == expected, f"a scheduled time never ran (gap): ran {ats}, scheduled {expected}"
    assert all(r.missed == 0 for r in runs), f"runs were folded or counted missed: {runs}"
    lateness = {round(r.at): round(r.created_at - r.at, 2) for r in window}
    assert max(lateness.values()) <= late, f"a run was late by more than {late} s: {lateness}"
    # Each posted once: every job delivered, and never more digest posts than jobs (a post
    # follows its job, so more posts can only be a double).
    for r in runs:
        d.stack.wait_job(r.job_id, ("delivered",), timeout=20)
    wait_until(lambda: d.posts() >= len(runs), timeout=10, what=lambda: f"{len(runs)} posts, seen {d.posts()}")
    assert d.posts() <= len(d.runs()), f"more digest posts ({d.posts()}) than runs ({d.runs()})"
    assert_sent_once(d)


def assert_sent_once(d: Deployment) -> None:
    """The clocks, between them, sent each scheduled time once (plus the resends a kill
    allows). Read until a moment when no run is in flight (sent, its job not made yet): a
    double stays, so it is never such a moment."""
    counts: list[tuple[int, int]] = []

    def settled() -> bool:
        counts.append((len(d.runs()), d.sent()))
        made, sent = counts[-1]
        return made <= sent <= made + d.resends

    wait_until(settled, timeout=2.5, interval=0.1,
               what=lambda: f"the clocks' sends to match the runs, (runs, sent) = {counts[-3:]}")


def wait_before_next_run(d: Deployment, ahead: float) -> float:
    """Block until ``ahead`` s before the next scheduled run (the moment a fault hurts most: the
    next run comes due while the lock is changing hands); that run's time."""
    due = d.next_due()
    if due - time.time() < ahead + 0.2:  # too close to aim at: take the one after
        due += 3
    time.sleep(max(0.0, due - ahead - time.time()))
    return due


def leader_and_standby(d: Deployment) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    leader = d.leader()
    assert leader is not None, d.stack.redis.get(LEADER_KEY)
    return leader, next(p for p in d.live() if p is not leader)


def test_two_clocks_fire_every_scheduled_time_exactly_once(d: Deployment) -> None:
    runs = d.runs_after(time.time(), 4, timeout=20)
    assert_exactly_once(d, runs, late=TICK + PICKUP)
    # One clock did it all: the standby never led and never sent a run (the due set's
    # compare-and-set alone would hide most of a standby's sends from the counts above).
    leader, standby = leader_and_standby(d)
    assert f"clock {d.name(standby)} leads" not in d.log(standby)
    assert "digest run(s) sent" not in d.log(standby), d.log(standby)[-2000:]
    assert "digest run(s) sent" in d.log(leader)


def test_a_killed_leaders_standby_takes_over_within_the_lease(d: Deployment) -> None:
    leader, standby = leader_and_standby(d)
    due = wait_before_next_run(d, ahead=0.5)
    killed = time.time()
    os.killpg(leader.pid, signal.SIGKILL)  # no shutdown: it cannot step down, its lease must lapse
    leader.wait(5)
    d.resends += 1  # killed between its send and its compare-and-set, the run is sent again

    wait_until(lambda: d.leader() is standby, timeout=LEASE + 3, interval=0.05,
               what=lambda: f"the standby to lead (lock: {d.stack.redis.get(LEADER_KEY)!r})\n{d.stack.logs()}")
    took = time.time() - killed
    assert took <= LEASE + TICK + 0.3, f"the standby took {took:.2f} s to lead, lease {LEASE} s"
    assert f"clock {d.name(standby)} leads" in d.log(standby)

    runs = d.runs_after(killed, 3, timeout=15)
    # The run due during the failover was made once, by the standby, late by at most the lease
    # and a tick (and the worker's pickup); the ones after are on time again.
    across = next(r for r in runs if r.at == due)
    assert across.created_at - due <= LEASE + TICK + PICKUP, across
    assert_exactly_once(d, [r for r in runs if r.at > due], late=TICK + PICKUP)


def test_a_stopped_leader_steps_down_and_the_standby_leads_within_a_tick(d: Deployment) -> None:
    leader, standby = leader_and_standby(d)
    due = wait_before_next_run(d, ahead=0.5)
    stopped = time.time()
    os.killpg(leader.pid, signal.SIGTERM)

    wait_until(lambda: d.leader() is standby, timeout=LEASE + 3, interval=0.05,
               what=lambda: f"the standby to lead (lock: {d.stack.redis.get(LEADER_KEY)!r})\n{d.stack.logs()}")
    took = time.time() - stopped
    # A lapsed lease would take at least LEASE - TICK (1.25 s) from the signal.
    assert took <= TICK + 0.5 < LEASE - TICK, f"the standby took {took:.2f} s to lead: the leader did not step down"
    assert leader.wait(10) == 0
    assert f"clock {d.name(leader)} stepped down" in d.log(leader)

    runs = d.runs_after(stopped, 2, timeout=12)
    # The run due just after the stop is on time: the standby led before it came due.
    assert_exactly_once(d, [r for r in runs if r.at >= due], late=TICK + PICKUP)

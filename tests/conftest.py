from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from xdist.scheduler import LoadFileScheduling

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.harness import BOT_TOKEN, RedisServer, Stack
from tests.inprocess import InProcessStack
from workers.vendors.registry import CATALOGUE
from workers.vendors.spec import Catalogue

_dbs = itertools.count(1)

#: Files that each run many real processes (webs, workers, clocks, Redis restarts) and time what
#: they do. Run side by side on two cores they starve each other into failing for want of CPU,
#: not for a fault of the code; so pytest-xdist hands them to one worker, one after the other.
PROCESS_HEAVY = frozenset({"tests/test_faults.py", "tests/test_scaleout.py", "tests/test_digests_processes.py"})


class _ProcessHeavyInTurn(LoadFileScheduling):
    """``--dist loadfile``, with the files of :data:`PROCESS_HEAVY` as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        scope = super()._split_scope(nodeid)
        return "process-heavy" if scope in PROCESS_HEAVY else scope


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LoadFileScheduling | None:
    return _ProcessHeavyInTurn(config, log) if config.getoption("dist") == "loadfile" else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "heavy(seconds): a file that takes about this long (real processes, long waits); it is "
        "handed to a pytest-xdist worker before the quick files, the longest first",
    )
    # With --dist loadfile, pytest-xdist hands out the files with the most tests first, so a file
    # of one long test (test_faults.py: over a minute) went out last and ran alone at the end,
    # the other worker idle. Keep the order pytest_collection_modifyitems gives instead.
    if getattr(config.option, "loadscopereorder", None) is not None:
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files marked ``heavy`` first, longest first, then the rest as collected: each worker
    starts on a long file and the quick ones fill in the end (the order within a file is kept)."""

    def weight(item: pytest.Item) -> float:
        mark = item.get_closest_marker("heavy")
        return -float(mark.args[0]) if mark is not None and mark.args else 0.0

    items.sort(key=weight)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture()
def redis_db(redis_server: RedisServer) -> Iterator[int]:
    """A database of the private Redis of this test's own, empty before and after."""
    db = next(_dbs) % 64
    client = redis.Redis.from_url(redis_server.url(db))
    client.flushdb()
    yield db
    client.flushdb()
    client.close()


@pytest.fixture()
def client(redis_server: RedisServer, redis_db: int) -> Iterator[redis.Redis]:
    """A client of this test's own Redis database."""
    c = redis.Redis.from_url(redis_server.url(redis_db))
    yield c
    c.close()


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[LocalSlack]:
    with LocalSlack(bot_token=BOT_TOKEN) as slack:
        yield slack


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(ready_after=0.5, apps=CATALOGUE.sandbox_apps) as box:
        yield box


@pytest.fixture()
def slack(fake_slack: LocalSlack) -> LocalSlack:
    fake_slack.reset()
    return fake_slack


@pytest.fixture()
def vendor(sandbox: Sandbox) -> Sandbox:
    sandbox.reset()
    sandbox.set_ready_after(0.5)
    return sandbox


@pytest.fixture()
def make_process_stack(
    redis_server: RedisServer, slack: LocalSlack, vendor: Sandbox, tmp_path: Path
) -> Iterator[Callable[..., Stack]]:
    """Start real web (gunicorn) and worker (Dramatiq) processes on their own Redis database,
    with extra environment: for what crosses a process boundary (SIGKILL, Socket Mode, Procfile)."""
    stacks: list[Stack] = []

    def make(start: bool = True, **env: str) -> Stack:
        logdir = tmp_path / f"stack{len(stacks)}"
        logdir.mkdir()
        stack = Stack(redis_server.url(next(_dbs) % 64), slack.api_url, vendor, logdir, **env)
        stacks.append(stack)
        return stack.start() if start else stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture()
def make_stack(redis_server: RedisServer, slack: LocalSlack, vendor: Sandbox) -> Iterator[Callable[..., InProcessStack]]:
    """Web + worker of one deployment in this process (the console's stack on the private
    Redis), with extra environment."""
    stacks: list[InProcessStack] = []

    def make(*, vendors: Catalogue = CATALOGUE, **env: str) -> InProcessStack:
        stack = InProcessStack(redis_server.url(next(_dbs) % 64), slack.api_url, vendor, vendors=vendors, **env)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture()
def stack(make_stack: Callable[..., InProcessStack]) -> InProcessStack:
    return make_stack()

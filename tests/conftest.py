from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.localslack import LocalSlack
from tests.harness import BOT_TOKEN, RedisServer, Stack
from devkit.sandbox import Sandbox

_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[LocalSlack]:
    with LocalSlack(bot_token=BOT_TOKEN) as slack:
        yield slack


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(ready_after=0.5) as box:
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
def make_stack(
    redis_server: RedisServer, slack: LocalSlack, vendor: Sandbox, tmp_path: Path
) -> Iterator[Callable[..., Stack]]:
    """Start a web + worker stack on its own Redis database, with extra environment."""
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
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()

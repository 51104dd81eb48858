"""Messages that buttons change in place ("boards"): who changed what, and which render is newest.

A button's job re-renders its whole message from data: the vendor's state as read under the
board's lock, plus the board's change log kept here. Each render takes a version under that lock;
``publish`` shows a render only if no newer one has been shown, so two quick clicks whose jobs
finish out of order still leave the message true, and the log keeps every "who changed what".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

__all__ = ["Board"]

#: Lines of "who changed what" a board shows, newest first.
LOG_SIZE = 5
TTL = 30 * 86_400

# Shows version ARGV[1] only if no newer one was shown; the same version again (a retried
# publish) is allowed. KEYS[1] the board's shown version.
_SHOW_IF_NEWEST = """
local shown = tonumber(redis.call('GET', KEYS[1]) or '-1')
local version = tonumber(ARGV[1])
if version < shown then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class Board:
    """One message in one channel, as keys under ``{prefix}board:{channel}:{ts}``."""

    def __init__(self, client: redis.Redis, prefix: str, channel: str, ts: str) -> None:
        self.redis = client
        self.key = f"{prefix}board:{channel}:{ts}"

    @contextmanager
    def locked(self, timeout: float = 120) -> Iterator[None]:
        """Serialise the jobs of this message: change, read the vendor, take a version."""
        with self.redis.lock(f"{self.key}:lock", timeout=timeout, blocking_timeout=60):
            yield

    def log(self, line: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(f"{self.key}:log", line)
        pipe.ltrim(f"{self.key}:log", 0, LOG_SIZE - 1)
        pipe.expire(f"{self.key}:log", TTL)
        pipe.execute()

    def changes(self) -> list[str]:
        """The log, newest first."""
        return [v.decode() if isinstance(v, bytes) else str(v) for v in self.redis.lrange(f"{self.key}:log", 0, -1)]

    def next_version(self) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(f"{self.key}:version")
        pipe.expire(f"{self.key}:version", TTL)
        return int(pipe.execute()[0])

    def show_if_newest(self, version: int) -> bool:
        script = self.redis.register_script(_SHOW_IF_NEWEST)
        return bool(script(keys=[f"{self.key}:shown"], args=[str(version), str(TTL)]))

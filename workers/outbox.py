"""The outbox: finished jobs whose outcome is not in Slack yet.

A step marks a job finished (a Lua transition in :mod:`workers.jobs`) and then enqueues
``publish`` as a separate call; a worker killed or a Redis error between the two would leave the
job "waiting…" in the channel forever. So the transition that moves a job to a terminal state
also adds it to this index, in the same script, and only marking the outcome posted takes it out.
The sweeper re-sends ``publish`` for entries nobody has tried for a while.

An entry's score is when a publish was last tried or is next due: each attempt bumps it to now,
and a publish that Slack told to wait bumps it to when it will run, so a live chain of retries is
never mistaken for a lost one.
"""

from __future__ import annotations

import redis

__all__ = ["Outbox"]

# Marks the outcome posted, and drops the job from the outbox, only if what was posted is the
# job's latest outcome (an amended outcome bumps ``outcome_rev``): a publish of an older outcome
# that finishes late must not hide the newer one. KEYS[1] job hash, KEYS[2] outbox;
# ARGV[1] job id, ARGV[2] the outcome_rev that was posted.
_MARK_POSTED = """
if not redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if (redis.call('HGET', KEYS[1], 'outcome_rev') or '0') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'outcome_posted', '1')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class Outbox:
    """Finished, unposted jobs under ``{prefix}jobs:unposted``, scored by their last publish try."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._mark_posted = client.register_script(_MARK_POSTED)

    @property
    def key(self) -> str:
        return f"{self.prefix}jobs:unposted"

    def due(self, before: float, limit: int = 100, offset: int = 0) -> list[str]:
        """Jobs whose last publish try was before ``before``, oldest first."""
        ids = self.redis.zrangebyscore(self.key, "-inf", before, start=offset, num=limit)
        return [i.decode() if isinstance(i, bytes) else i for i in ids]

    def touch(self, job_id: str, when: float) -> None:
        """A publish is tried now (or is due at ``when``); only jobs still in the outbox move."""
        self.redis.zadd(self.key, {job_id: when}, xx=True)

    def drop(self, job_id: str) -> None:
        self.redis.zrem(self.key, job_id)

    def mark_posted(self, job_key: str, job_id: str, rev: int) -> bool:
        """Record that outcome ``rev`` of the job is in Slack; False if a newer one is pending."""
        return bool(self._mark_posted(keys=[job_key, self.key], args=[job_id, str(rev)]))

    def __contains__(self, job_id: str) -> bool:
        return self.redis.zscore(self.key, job_id) is not None

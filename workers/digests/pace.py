"""Slack's pace in one channel: about one message a second, so digests that fall due together
take turns instead of drawing 429s.

Each digest run reserves its turn once (the slot is stored on the job, so a publish that runs
again keeps it rather than queueing behind itself) and a publish that comes early is sent again
for its turn: the wait is spent in the broker's delay queue, never in a worker thread.
"""

from __future__ import annotations

import time

from workers.jobs import Job
from workers.runtime import Runtime

__all__ = ["turn"]

# KEYS[1] the channel's next free slot, KEYS[2] the job hash; ARGV[1] now, ARGV[2] seconds
# between posts. The job's slot if it has one, else the channel's next free one, taken.
_RESERVE = """
local mine = tonumber(redis.call('HGET', KEYS[2], 'pace_at') or '0')
if mine and mine > 0 then return tostring(mine) end
local now = tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, free)
local gap = tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(at + gap), 'PX', math.ceil((at + gap - now) * 1000) + 60000)
redis.call('HSET', KEYS[2], 'pace_at', tostring(at))
return tostring(at)
"""


def turn(rt: Runtime, job: Job) -> float:
    """Seconds until ``job`` may post in its channel (0: now)."""
    gap = rt.settings.adops_slack_channel_pace
    if gap <= 0:
        return 0.0
    now = time.time()  # Slack's pace is kept in real seconds, whatever clock the runtime reasons in
    keys = [f"{rt.store.prefix}pace:{job.channel_id}", rt.store.key(job.id)]
    at = float(rt.redis.register_script(_RESERVE)(keys=keys, args=[repr(now), repr(gap)]))
    return max(0.0, at - now)

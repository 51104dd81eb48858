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

#: A turn this close is taken now (``steps._digest_turn`` re-sends a publish only when its
#: wait is longer).
EARLY = 0.05

# KEYS[1] the channel's next free slot, KEYS[2] the job hash, KEYS[3] when the channel's last post
# was let go; ARGV[1] now, ARGV[2] seconds between posts, ARGV[3] EARLY. The job's slot if it has
# one, else the channel's next free one, taken. When the slot has come, the post is let go only
# if the channel's last one went at least a gap ago: slots are reserved a gap apart, but a
# publish whose delayed message came late and the next one on time would post closer than that.
_RESERVE = """
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local at = tonumber(redis.call('HGET', KEYS[2], 'pace_at') or '0')
if not at or at <= 0 then
  local free = tonumber(redis.call('GET', KEYS[1]) or '0')
  at = math.max(now, free)
  redis.call('SET', KEYS[1], tostring(at + gap), 'PX', math.ceil((at + gap - now) * 1000) + 60000)
  redis.call('HSET', KEYS[2], 'pace_at', tostring(at))
end
if at - now > tonumber(ARGV[3]) then return tostring(at) end
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if last + gap - now > tonumber(ARGV[3]) then return tostring(last + gap) end
redis.call('SET', KEYS[3], tostring(now), 'PX', math.ceil(gap * 1000) + 60000)
return tostring(now)
"""


def turn(rt: Runtime, job: Job) -> float:
    """Seconds until ``job`` may post in its channel (0: now; otherwise more than ``EARLY``)."""
    gap = rt.settings.adops_slack_channel_pace
    if gap <= 0:
        return 0.0
    now = time.time()  # Slack's pace is kept in real seconds, whatever clock the runtime reasons in
    prefix = f"{rt.store.prefix}pace:{job.channel_id}"
    keys = [prefix, rt.store.key(job.id), f"{prefix}:last"]
    at = float(rt.redis.register_script(_RESERVE)(keys=keys, args=[repr(now), repr(gap), repr(EARLY)]))
    return max(0.0, at - now)

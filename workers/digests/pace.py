"""Slack's pace in one channel: about one message a second, so digests that fall due together
take turns instead of drawing 429s.

Two steps, because one is not enough under load:

- :func:`turn`, when a run's publish starts: the run reserves its slot once (kept on the job, so
  a publish that runs again keeps its place rather than queueing behind itself), slots a gap
  apart in the channel. A publish that comes early is sent again for its slot: the wait is spent
  in the broker's delay queue, never in a worker thread, and a burst of runs is spread out
  instead of waking together.
- :func:`claim`, right before the post itself: delayed messages reach a busy worker late, and two
  whose slots were a second apart may then arrive together. The post goes only if the channel's
  last digest post was a full gap ago; otherwise it is "Slack says later" (``SlackRetryLater``)
  for the rest of the gap, as a 429 would be, but before Slack has to say it.
"""

from __future__ import annotations

import time

from workers.errors import SlackRetryLater
from workers.jobs import Job
from workers.runtime import Runtime

__all__ = ["EARLY", "claim", "turn"]

#: A turn this close is taken now.
EARLY = 0.05

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

# KEYS[1] when the channel's last digest post went; ARGV[1] now, ARGV[2] the gap. 0 and the
# post is this one's, or the seconds left of the gap.
_CLAIM = """
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if last + gap > now then return tostring(last + gap - now) end
redis.call('SET', KEYS[1], tostring(now), 'PX', math.ceil(gap * 1000) + 60000)
return '0'
"""


def turn(rt: Runtime, job: Job) -> float:
    """Seconds until ``job``'s slot to post in its channel (0: now, or within ``EARLY``)."""
    gap = rt.settings.adops_slack_channel_pace
    if gap <= 0:
        return 0.0
    now = time.time()  # Slack's pace is kept in real seconds, whatever clock the runtime reasons in
    keys = [f"{rt.store.prefix}pace:{job.channel_id}", rt.store.key(job.id)]
    wait = float(rt.redis.register_script(_RESERVE)(keys=keys, args=[repr(now), repr(gap)])) - now
    return wait if wait > EARLY else 0.0


def claim(rt: Runtime, job: Job) -> None:
    """Take the channel for this post now, or raise SlackRetryLater for the rest of the gap."""
    gap = rt.settings.adops_slack_channel_pace
    if gap <= 0:
        return
    key = f"{rt.store.prefix}pace:{job.channel_id}:last"
    wait = float(rt.redis.register_script(_CLAIM)(keys=[key], args=[repr(time.time()), repr(gap)]))
    if wait > 0:
        raise SlackRetryLater(max(wait, EARLY), "our own pace: one digest post a second per channel")

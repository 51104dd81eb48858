"""Where a job's CPU goes: the steps of N ``account`` jobs run one by one under cProfile.

``bench/throughput.py`` says how many jobs a second the workers move; this says what each costs
and where. It submits N jobs as the throughput bench does (private redis-server, the sandbox and
the fake Slack in their own processes), then runs every message of the ``adops`` queue in this
process's main thread, actor by actor, under ``cProfile`` with a CPU clock
(``time.process_time``), and prints CPU per job by package (redis-py, httpx, slack_sdk, ours by
module), the Redis commands per job, and the steps of ours by cumulative CPU. Profiling slows
Python calls two to three times, so read the shares, not the absolute times. Prints only.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
from common import REPO, RedisServer, SlackProcess, base_env, start_sandbox, stop  # noqa: E402
from throughput import commandstats, outcomes, submit_one, what_to_submit  # noqa: E402

from devkit.sandbox.base import SANDBOX_TOKEN  # noqa: E402
from workers.actors import QUEUE  # noqa: E402
from workers.boot import boot, load_settings  # noqa: E402
from workers.runtime import Runtime  # noqa: E402


def drain(rt: Runtime, client: redis.Redis) -> None:
    """Run every message of the default queue (and what they send) here, in this thread."""
    consumer = rt.broker.consume(QUEUE, prefetch=50, timeout=50)
    idle = 0
    for message in consumer:
        if message is None:
            idle += 1
            if idle > 4 and not client.llen(f"dramatiq:{QUEUE}") and not client.hlen(f"dramatiq:{QUEUE}.DQ.msgs"):
                return
            continue
        idle = 0
        rt.broker.get_actor(message.actor_name).fn(*message.args, **message.kwargs)
        consumer.ack(message)


def where(path: str, fn: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0]
    if path.startswith(str(REPO)):
        return "ours: " + os.path.relpath(path, REPO)
    return f"{Path(path).name}:{fn}" if path != "~" else fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        redis_server = RedisServer(Path(tmp))
        slack = SlackProcess()
        sandbox, url = start_sandbox(0.0, Path(tmp) / "sandbox.log")
        try:
            env = base_env(redis_server.url(1), slack.api_url, url + "/instal", ADSPECT_API_KEY=SANDBOX_TOKEN,
                           ADSPECT_BASE_URL=url + "/adspect", LOG_LEVEL="WARNING")
            os.environ.update(env)
            rt = boot(load_settings(env))
            client = redis.Redis.from_url(env["REDIS_URL"])
            what = what_to_submit(rt)

            def one(i: int) -> str:
                return submit_one(rt, what, i, users=50, channels=20)

            for i in range(20):  # warm: connections, scripts loaded, the vendor client built
                one(i)
            drain(rt, client)
            calls0 = commandstats(client)
            profile = cProfile.Profile(time.process_time)
            cpu0 = time.process_time()
            profile.enable()
            ids = [one(i) for i in range(args.jobs)]
            drain(rt, client)
            profile.disable()
            cpu = time.process_time() - cpu0
            calls = commandstats(client)
            calls.subtract(calls0)
            delivered, posted, _ = outcomes(client, ids)
        finally:
            stop(sandbox)
            slack.stop()
            redis_server.stop()
    n = args.jobs
    print(f"{n} jobs ({delivered} delivered, {posted} posted): {cpu * 1000 / n:.2f} ms CPU per job under the profiler "
          "(submit + task_run + publish, in one thread)")
    print("Redis commands per job:", ", ".join(f"{k} {v / n:.1f}" for k, v in (+calls).most_common(12)))
    stats = pstats.Stats(profile)
    by: Counter[str] = Counter()
    for (path, _, fn), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by[where(path, fn)] += own
    total = sum(by.values())
    print("\nCPU per job by where it is spent (own time):")
    for name, own in by.most_common(25):
        print(f"  {own * 1000 / n:7.2f} ms  {own / total:5.1%}  {name}")
    print()
    stats.sort_stats("cumulative").print_stats(str(REPO / "workers"), 40)


if __name__ == "__main__":
    main()

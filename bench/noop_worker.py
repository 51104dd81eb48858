"""The baseline of ``bench/throughput.py``: Dramatiq's own throughput on adops's broker.

An actor that does nothing, on the broker ``workers.boot`` builds (the same Redis broker, the
same middleware as ``adops worker``), so the bench can put the end-to-end jobs per second beside
the messages per second Dramatiq itself moves on the same machine, Redis and process count.

Run by the bench as ``python -m dramatiq bench.noop_worker --processes 1 --threads 8 --queues
bench_noop`` from the repo root, with the same environment as ``bot.cli worker``.
"""

from __future__ import annotations

import dramatiq

from workers.boot import boot, load_settings
from workers.logs import setup as setup_logging

setup_logging()
# Booting makes this runtime's broker Dramatiq's global one, which the actor below is declared on.
RT = boot(load_settings())

QUEUE = "bench_noop"
ACTOR = "noop"


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
def noop() -> None:
    """Nothing: what is measured is the broker's fetch, dispatch and ack."""

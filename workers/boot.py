"""Boot a process: read the settings once, build its runtime, bind the actors to it.

Every entry point (web, worker, clock, socket, console, tests) comes through here with the
catalogue of vendors it serves, so all of them are wired the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import dramatiq
import redis
from slack_sdk import WebClient

from workers import actors
from workers.jobs import JobStore
from workers.logs import register_settings
from workers.runtime import Runtime, make_broker, make_redis
from workers.settings import Settings, VendorSettings, load
from workers.slack import SlackEgress
from workers.storage import make_store
from workers.vendors.registry import CATALOGUE
from workers.vendors.spec import Catalogue

__all__ = ["boot", "load_settings"]


def load_settings(environ: Mapping[str, str] | None = None, vendors: Catalogue = CATALOGUE) -> Settings:
    """The settings of this process and of every vendor it serves; ConfigError names a bad one."""
    return load(environ, vendors.settings_classes)


def boot(
    settings: Settings,
    vendors: Catalogue = CATALOGUE,
    *,
    slack_client: WebClient | None = None,
    redis_client: redis.Redis | None = None,
    ingress: bool = False,
) -> Runtime:
    """Build this process's runtime, make its broker Dramatiq's global one (the ``dramatiq``
    command reads it), and bind every actor to it. ``ingress`` is for the processes that answer
    Slack within its 3 s (web, socket): their Redis calls give up quickly (see ``make_redis``)."""
    # From here on, no configured secret appears in a log line, whatever logs it.
    register_settings(settings, *_vendor_settings(settings, vendors))
    client = redis_client if redis_client is not None else make_redis(settings, ingress=ingress)
    broker = make_broker(settings, client)
    dramatiq.set_broker(broker)
    rt = Runtime(
        settings=settings,
        redis=client,
        broker=broker,
        store=JobStore(client),
        slack=SlackEgress(settings, client=slack_client),
        build_client=lambda name: vendors.build_client(settings, name),
        storage=make_store(settings),
    )
    actors.bind(rt, vendors)
    return rt


def _vendor_settings(settings: Settings, vendors: Catalogue) -> list[VendorSettings]:
    found = []
    for spec in vendors.specs:
        try:
            found.append(settings.vendor(spec.name))
        except KeyError:  # settings read for another catalogue: nothing of this vendor to hide
            continue
    return found

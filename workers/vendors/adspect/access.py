"""What every Adspect task calls first: the runtime's adapter, its collections, its settings,
and the Unix times of a range of days in a zone. A job's files go where every job's do:
:func:`workers.files.job_dir`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workers.runtime import Runtime
from workers.vendors.adspect.client import AdspectClient
from workers.vendors.adspect.collections import Collections
from workers.vendors.adspect.settings import AdspectSettings

__all__ = ["NAME", "client", "collections", "settings", "span"]

#: The vendor's registry name (``job.vendor``).
NAME = "adspect"


def client(rt: Runtime) -> AdspectClient:
    adapter: AdspectClient = rt.client(NAME)
    return adapter


def collections(rt: Runtime) -> Collections:
    return Collections(client(rt), rt.redis, rt.store.prefix, rt.clock)


def settings(rt: Runtime) -> AdspectSettings:
    found = rt.settings.vendor(NAME)
    assert isinstance(found, AdspectSettings)
    return found


def span(start: date, end: date, zone: str) -> tuple[int, int]:
    """The days ``start``..``end`` in ``zone`` as Unix seconds, both ends included: midnight of
    the first day to a second before midnight after the last, so two spans never share a click."""
    tz = ZoneInfo(zone)
    first = datetime.combine(start, time.min, tz)
    after = datetime.combine(end + timedelta(days=1), time.min, tz)
    return int(first.timestamp()), int(after.timestamp()) - 1

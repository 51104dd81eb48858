"""24Metrics' ClickShield API v2, as documented (and as NOTES.md infers it), with synthetic data.

State that lives across requests: filter groups per integration (seeded; ``reset`` seeds them
again) and Download Center exports, which walk PENDING -> IN_PROGRESS -> COMPLETED over
``ready_after`` seconds. Report rows are a pure function of the seed, the integration and the
day, so every table page, lookup and export file agrees with every other.

Shapes follow the docs' samples: objects wrapped in ``{"data": ...}``, lists with
``meta.total_count``/``total_page``, report tables in ``data.{data,count,pageInfo}``; the create
answer ``{"created_item_id": ...}``, the URL answer ``{"url": ...}`` and the export create
answer are bare, as printed. Error bodies are not documented; JSON:API's ``errors`` list is
used, like the ``page[...]``/``filter[...]`` parameters suggest.

The modules: ``data`` (ids, publishers, seeded groups), ``rows`` (report rows and cursors),
``common`` (parameters, error and page shapes, the key check), ``groups``, ``exports`` and
``reports`` (handlers with their state), ``app`` (:class:`Metrics24App`, the routes).
"""

from workers.vendors.metrics24.sandbox.app import Metrics24App
from workers.vendors.metrics24.sandbox.data import (
    CLICK_REASONS,
    CONVERSION_REASONS,
    DEFAULT_INTEGRATION,
    MAX_EXPORT_DAYS,
    ORGANIZATION,
    PUBLISHERS,
    SECOND_INTEGRATION,
    group_id,
    seed_groups,
)
from workers.vendors.metrics24.sandbox.rows import day_rows

__all__ = [
    "CLICK_REASONS",
    "CONVERSION_REASONS",
    "DEFAULT_INTEGRATION",
    "MAX_EXPORT_DAYS",
    "ORGANIZATION",
    "PUBLISHERS",
    "SECOND_INTEGRATION",
    "Metrics24App",
    "day_rows",
    "group_id",
    "seed_groups",
]

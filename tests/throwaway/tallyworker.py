"""What ``dramatiq`` imports in a worker process of the build tests: ``workers.entry`` with the
throwaway Tally vendor registered beside the real ones (a real worker process, SIGKILLed)."""

from __future__ import annotations

from tests.throwaway.tally import WITH_TALLY
from workers.boot import boot, load_settings
from workers.logs import setup as setup_logging

setup_logging()
boot(load_settings(vendors=WITH_TALLY), WITH_TALLY)

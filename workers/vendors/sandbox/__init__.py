"""A loopback HTTP server emulating the vendor APIs, for the console, the tests and the benches."""

from workers.vendors.sandbox.base import SANDBOX_TOKEN
from workers.vendors.sandbox.server import Sandbox

__all__ = ["SANDBOX_TOKEN", "Sandbox"]

"""A loopback HTTP server emulating the vendor APIs, for the console, the tests and the benches."""

from devkit.sandbox.base import SANDBOX_TOKEN
from devkit.sandbox.server import Sandbox

__all__ = ["SANDBOX_TOKEN", "Sandbox"]

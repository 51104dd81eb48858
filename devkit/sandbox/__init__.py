"""The vendor sandbox: emulated vendor APIs as one WSGI app, served on loopback or mounted in-process."""

from devkit.sandbox.base import SANDBOX_TOKEN
from devkit.sandbox.server import Sandbox

__all__ = ["SANDBOX_TOKEN", "Sandbox"]

"""What a vendor declares, and the catalogue the rest of the program reads vendors from.

A vendor is one folder: its adapter, settings, commands, tasks, buttons, rendering and sandbox
emulator. Its ``__init__`` declares a :class:`VendorSpec`; ``registry.py`` lists the specs. The
ingress, the steps, the console, help, the settings check and the sandbox server all derive
from a :class:`Catalogue` of those specs and name no vendor themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devkit.sandbox.base import VendorApp
from workers.builds import Builder
from workers.buttons import Button
from workers.errors import NotConfigured
from workers.grammar.spec import CommandSpec
from workers.settings import Settings, VendorSettings
from workers.tasks import Task

__all__ = ["Catalogue", "VendorSpec"]

#: Builds a vendor's adapter from its settings and the HTTP timeout (ADOPS_VENDOR_TIMEOUT).
ClientFactory = Callable[[Any, float], Any]
#: The variables that point a vendor at the sandbox, from the sandbox's base URL and token.
SandboxEnv = Callable[[str, str], dict[str, str]]


@dataclass(frozen=True)
class VendorSpec:
    #: The registry name: ``job.vendor``, the sandbox prefix, the settings key.
    name: str
    #: As people read it, capitals and all.
    display: str
    settings: type[VendorSettings]
    client: ClientFactory
    commands: tuple[CommandSpec, ...] = ()
    tasks: tuple[Task, ...] = ()
    #: Exports the bot assembles itself from many requests (``workers.builds``).
    builds: tuple[Builder, ...] = ()
    buttons: tuple[Button[Any], ...] = ()
    sandbox: type[VendorApp] | None = None
    sandbox_env: SandboxEnv | None = None


class Catalogue:
    """The vendors of this process, looked up by name, task op or button action id."""

    def __init__(self, specs: Iterable[VendorSpec], *, absent: Mapping[str, str] | None = None) -> None:
        self.specs: tuple[VendorSpec, ...] = tuple(specs)
        #: Vendors people may name that this deployment does not have: registry name (and any
        #: other word people type for it) -> display name, so "not set up here" can answer.
        self.absent: dict[str, str] = {
            word: display for word, display in (absent or {}).items() if word not in {s.name for s in self.specs}
        }
        self._by_name = _unique({s.name: s for s in self.specs}, [s.name for s in self.specs], "vendor")
        tasks = [t for s in self.specs for t in s.tasks]
        self._tasks = _unique({t.op: t for t in tasks}, [t.op for t in tasks], "task op")
        builds = [b for s in self.specs for b in s.builds]
        self._builds = _unique({b.op: b for b in builds}, [b.op for b in builds], "build op")
        buttons = [b for s in self.specs for b in s.buttons]
        self._buttons = _unique({b.action_id: b for b in buttons}, [b.action_id for b in buttons], "button")
        self._button_vendor = {b.action_id: s.name for s in self.specs for b in s.buttons}

    # -- what is declared ---------------------------------------------------------------------

    def spec(self, name: str) -> VendorSpec:
        return self._by_name[name]

    def display(self, name: str) -> str:
        spec = self._by_name.get(name)
        return spec.display if spec else name

    def task(self, op: str) -> Task:
        return self._tasks[op]

    def build(self, op: str) -> Builder:
        return self._builds[op]

    def button(self, action_id: str) -> Button[Any] | None:
        return self._buttons.get(action_id)

    def button_vendor(self, action_id: str) -> str:
        """The vendor whose folder declares button ``action_id``."""
        return self._button_vendor[action_id]

    @property
    def buttons(self) -> tuple[Button[Any], ...]:
        return tuple(self._buttons.values())

    @property
    def commands(self) -> tuple[CommandSpec, ...]:
        return tuple(c for s in self.specs for c in s.commands)

    @property
    def settings_classes(self) -> tuple[type[VendorSettings], ...]:
        return tuple(s.settings for s in self.specs)

    @property
    def sandbox_apps(self) -> tuple[type[VendorApp], ...]:
        return tuple(s.sandbox for s in self.specs if s.sandbox is not None)

    # -- what is configured -------------------------------------------------------------------

    def missing_key(self, settings: Settings, name: str) -> str | None:
        """None when ``name`` is usable here, else the variable an admin must set."""
        vendor = settings.vendor(name)
        return None if vendor.configured else vendor.key_variable()

    def build_client(self, settings: Settings, name: str) -> Any:
        """A new adapter for vendor ``name``; NotConfigured names the key to set."""
        missing = self.missing_key(settings, name)
        if missing:
            raise NotConfigured(f"{self.display(name)} is not configured: set {missing}")
        return self._by_name[name].client(settings.vendor(name), settings.adops_vendor_timeout)

    def sandbox_env(self, env: Mapping[str, str], base_url: Callable[[str], str], token: str) -> dict[str, str]:
        """Variables pointing every vendor whose key ``env`` lacks at the sandbox."""
        out: dict[str, str] = {}
        for spec in self.specs:
            if spec.sandbox_env is not None and not env.get(spec.settings.key_variable()):
                out.update(spec.sandbox_env(base_url(spec.name), token))
        return out


def _unique(found: dict[str, Any], names: list[str], what: str) -> dict[str, Any]:
    if len(found) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{what} declared twice: {', '.join(twice)}")
    return found

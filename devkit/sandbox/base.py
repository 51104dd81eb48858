"""What a vendor emulation plugs into the sandbox with: requests, responses, routes, faults.

A vendor's emulator (its ``sandbox`` module, listed by the vendor registry) subclasses
:class:`VendorApp`, lists its routes, and keeps its own state behind its own lock. The sandbox
does the rest: WSGI and HTTP, routing, counting, and the generic faults (``status``,
``timeout``, ``malformed``, ``drop``); a fault a route declares reaches the handler as ``request.fault``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["SANDBOX_TOKEN", "Fault", "Headers", "Request", "Response", "Route", "SandboxConfig", "VendorApp"]

#: The one credential every sandbox vendor accepts. Not a secret: the sandbox only listens on loopback.
SANDBOX_TOKEN = "sandbox-token"


@dataclass
class SandboxConfig:
    """Knobs shared by every vendor emulation; changed at run time through the control API."""

    ready_after: float = 3.0  # seconds from creating an export until it is ready
    seed: int = 7  # the synthetic data is a pure function of this and the request


@dataclass(frozen=True)
class Fault:
    kind: str  # "status", "timeout", "malformed", "drop", or one a route declares ("failed")
    status: int | None = None
    retry_after: float | None = None
    delay: float | None = None  # hold the response this long first


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively; a repeated header keeps its last value."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._items)!r})"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # case-insensitive (a Headers)
    body: bytes
    # The root the client reached the sandbox at (scheme and Host), so links it hands out
    # (file URLs) lead back to the same place, over HTTP or mounted in-process alike.
    base_url: str
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route's pattern
    fault: Fault | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""  # an iterable is sent chunked, for big synthetic files
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type, **(headers or {})})


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regex matched against the whole path
    op: str  # the name faults and counters use: "create", "retrieve", "file"
    handler: Handler
    faults: frozenset[str] = frozenset()  # vendor-specific fault kinds the handler understands

    def match(self, path: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, path)


class VendorApp:
    """One vendor's emulation. Subclasses set ``name`` and implement ``routes``."""

    name: ClassVar[str]

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    @property
    def prefix(self) -> str:
        """Where the vendor's API lives on the sandbox: ``sandbox.base_url(name)`` ends with it."""
        return f"/{self.name}"

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget every export, stream, toggle... the vendor holds."""

    def error(self, status: int, message: str) -> Response:
        """An error in the vendor's own body shape; Django REST framework's by default."""
        return Response.json({"detail": message}, status)

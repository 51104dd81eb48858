"""What a step may enqueue: the one interface between the steps and the queue.

The actors implement it (``actors.bind``) and the runtime carries it, so a step says
``rt.dispatch.publish(job_id)`` without importing the actors that run it, and tests and the
console get the same wiring as production.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Dispatch", "Unbound"]


class Dispatch(Protocol):
    def start(self, kind: str, job_id: str) -> None:
        """Enqueue the first step of a new job of ``kind`` ("export", "task", "build")."""

    def poll(self, job_id: str, seq: int, *, delay: float | None = None) -> None:
        """Check the vendor export of ``job_id`` again, ``delay`` seconds from now."""

    def part(self, job_id: str, key: str) -> None:
        """Fetch part ``key`` of build ``job_id`` (``workers.buildsteps``)."""

    def assemble(self, job_id: str) -> None:
        """Assemble build ``job_id``'s parts into its file and deliver it."""

    def publish(self, job_id: str, *, delay: float | None = None) -> None:
        """Put a finished job's outcome where the person will see it."""

    def publish_here(self, job_id: str) -> None:
        """:meth:`publish` in this thread, now: the step that just finished the job goes on to
        show it; what cannot be done here (Slack says wait, an error) is sent as :meth:`publish`."""

    def audit_copy(self, entry_id: str) -> None:
        """Copy one audit entry to ADOPS_AUDIT_CHANNEL."""

    def notice(self, response_url: str, text: str) -> None:
        """Answer a click privately, off the request path."""

    def sweep(self) -> None:
        """Look for jobs nothing is left to finish."""

    def digest(self, digest_id: str, at: float, *, skipped: int = 0, since: float = 0.0, by: str = "") -> None:
        """Make digest ``digest_id``'s run scheduled at ``at`` (``workers.digests.fire``)."""


class Unbound:
    """The dispatch of a runtime whose actors are not bound yet: fails loudly, never silently."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"dispatch.{name}: the actors are not bound to this runtime (boot it with workers.boot)")

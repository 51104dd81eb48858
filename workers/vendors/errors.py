"""The one error tree of the vendor boundary.

Every adapter raises these and nothing else, so actors decide with one ``except`` per class:
retry a :class:`VendorTransient` (honouring ``retry_after``), report anything else at once.
``str(exc)`` is :attr:`VendorError.user_message`: written for the person in Slack, saying what
they can do about it. It is built from our own words plus, at most, a short reason the vendor
sent in its body; never from request headers, so it cannot carry a key.
"""

from __future__ import annotations

__all__ = [
    "VendorAuthError",
    "VendorError",
    "VendorExportFailed",
    "VendorProtocolError",
    "VendorRateLimited",
    "VendorRejected",
    "VendorTransient",
]


class VendorError(Exception):
    """A vendor call did not give us what we asked for.

    ``vendor`` is the display name ("Instal"); ``status`` the HTTP status when there was one.
    """

    def __init__(self, vendor: str, user_message: str, *, status: int | None = None) -> None:
        super().__init__(user_message)
        self.vendor = vendor
        self.user_message = user_message
        self.status = status

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vendor={self.vendor!r}, status={self.status!r}, "
            f"user_message={self.user_message!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions; Dramatiq
        # and the console hand exceptions across threads and processes.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[VendorError], state: dict[str, object]) -> VendorError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, state.get("user_message", ""))
    exc.__dict__.update(state)
    return exc


class VendorRejected(VendorError):
    """400/402/403/404/422 and other 4xx: the request is the user's to fix; retrying won't help."""

    def __init__(self, vendor: str, user_message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(vendor, user_message, status=status)
        self.reason = reason


class VendorAuthError(VendorError):
    """401: our key is missing, wrong or revoked. A configuration problem, not the user's."""

    def __init__(self, vendor: str, user_message: str, *, status: int | None = 401, key_variable: str = "") -> None:
        super().__init__(vendor, user_message, status=status)
        self.key_variable = key_variable


class VendorTransient(VendorError):
    """Worth retrying later: 429, 5xx, timeouts, connection errors, garbled answers.

    ``retry_after`` is the vendor's own hint in seconds (``Retry-After``), or None.
    """

    def __init__(
        self, vendor: str, user_message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(vendor, user_message, status=status)
        self.retry_after = retry_after


class VendorRateLimited(VendorTransient):
    """429: the vendor asked us to slow down."""


class VendorProtocolError(VendorTransient):
    """The answer was not JSON, or not the shape the vendor documents.

    Transient because a proxy's error page or a half-deployed vendor release often is; the
    job's deadline stops the retries if it is not.
    """


class VendorExportFailed(VendorError):
    """The vendor accepted the export but says it failed (FAILURE/ERROR)."""

    def __init__(
        self, vendor: str, user_message: str, *, status: int | None = None, reason: str | None = None,
        vendor_state: str = "",
    ) -> None:
        super().__init__(vendor, user_message, status=status)
        self.reason = reason
        self.vendor_state = vendor_state

"""The one error tree of adops.

Every exception the program raises on purpose is one of these, so a caller decides with one
``except`` per branch: a usage error is answered at once, a refusal or a vendor's rejection fails
the job with its message, transient trouble is retried, Slack's "later" re-enqueues the step.

``str(exc)`` is always written for the person in Slack (or, for configuration, the operator):
our own words plus at most a short reason a vendor or Slack sent, never a request header, a key
or a setting's value.

Exception hierarchy::

    AdopsError
    ├── ConfigError                 a setting is missing or malformed (names the variable)
    │   └── NotConfigured           a vendor is used whose key is unset
    ├── UsageError                  the text is not a valid command (message + usage)
    ├── Refused                     a task can't do what was asked (ambiguous name, no such record)
    │   └── RateLimited             a person or channel started too many jobs just now
    ├── StoreError                  a built file could not be stored (ADOPS_FILES_URL's bucket)
    ├── VendorError                 a vendor call did not give us what we asked for
    │   ├── VendorRejected          4xx: the request is the person's to fix
    │   ├── VendorAuthError         401: our key is missing, wrong or revoked
    │   ├── VendorExportFailed      the vendor accepted an export, then says it failed
    │   └── VendorTransient         worth retrying: 5xx, timeouts, broken connections
    │       ├── VendorRateLimited   429
    │       └── VendorProtocolError an answer that is not JSON, or not the documented shape
    └── SlackError                  Slack refused, for a reason retrying won't fix
        ├── CannotPost              this route can't carry the message: take another
        └── SlackRetryLater         Slack asks us to come back later (429, a blip)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdopsError",
    "CannotPost",
    "ConfigError",
    "NotConfigured",
    "RateLimited",
    "Refused",
    "SlackError",
    "SlackRetryLater",
    "StoreError",
    "UsageError",
    "VendorAuthError",
    "VendorError",
    "VendorExportFailed",
    "VendorProtocolError",
    "VendorRateLimited",
    "VendorRejected",
    "VendorTransient",
]


class AdopsError(Exception):
    """The root: anything adops raises on purpose."""


# -- configuration ------------------------------------------------------------------------------


class ConfigError(AdopsError):
    """A setting is missing or malformed; the message names the variable and never its value."""


class NotConfigured(ConfigError):
    """A vendor is used whose key is not set; the message names the variable."""


# -- the person's input -------------------------------------------------------------------------


class UsageError(AdopsError):
    """The text is not a valid command. ``message`` says why; ``usage`` shows what would be.

    ``usage`` is one usage line for the command the person meant, several lines when the text
    named a group (``export``), or the command list when no command could be recognized.
    """

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def __str__(self) -> str:
        lines = self.usage.splitlines()
        if not lines:
            return self.message
        if len(lines) == 1:
            return f"{self.message}\nUsage: `{lines[0]}`"
        return f"{self.message}\nUsage:\n" + "\n".join(f"`{line}`" for line in lines)


class Refused(AdopsError):
    """A task cannot do what was asked, for a reason the person can act on (an ambiguous name,
    a group that does not exist). Fails the job with this message; never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class RateLimited(Refused):
    """A new job was refused: its person (``scope`` "user") or channel made ``limit`` jobs within
    the last ``window`` seconds; a slot frees in ``retry_after`` seconds. Nothing was written."""

    def __init__(self, scope: str, limit: int, window: float, retry_after: int) -> None:
        super().__init__(f"{limit} new jobs a {scope} within {window:g} s; try again in {retry_after} s")
        self.scope, self.limit, self.window, self.retry_after = scope, limit, window, retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.scope, self.limit, self.window, self.retry_after))


# -- vendors ------------------------------------------------------------------------------------


class StoreError(AdopsError):
    """A built file could not be stored; ``str()`` is the reason, fit for the channel (no keys)."""


class VendorError(AdopsError):
    """A vendor call did not give us what we asked for.

    ``vendor`` is the display name people read; ``status`` the HTTP status when there was one.
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
    """400/402/403/404/422 and other 4xx: the request is the person's to fix; retrying won't help."""

    def __init__(self, vendor: str, user_message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(vendor, user_message, status=status)
        self.reason = reason


class VendorAuthError(VendorError):
    """401: our key is missing, wrong or revoked. A configuration problem, not the person's."""

    def __init__(self, vendor: str, user_message: str, *, status: int | None = 401, key_variable: str = "") -> None:
        super().__init__(vendor, user_message, status=status)
        self.key_variable = key_variable


class VendorExportFailed(VendorError):
    """The vendor accepted the export but says it failed (FAILURE/ERROR)."""

    def __init__(
        self, vendor: str, user_message: str, *, status: int | None = None, reason: str | None = None,
        vendor_state: str = "",
    ) -> None:
        super().__init__(vendor, user_message, status=status)
        self.reason = reason
        self.vendor_state = vendor_state


class VendorTransient(VendorError):
    """Worth retrying later: 429, 5xx, timeouts, connection errors, garbled answers.

    ``retry_after`` is the vendor's own hint in seconds (``Retry-After``), or None. ``kind`` says
    what went wrong when there was no HTTP status to say it ("timeout", "connect", "broken",
    "settle"), so the retry can be told in a few words (:mod:`workers.retries`).
    """

    def __init__(
        self, vendor: str, user_message: str, *, status: int | None = None, retry_after: float | None = None,
        kind: str = "",
    ) -> None:
        super().__init__(vendor, user_message, status=status)
        self.retry_after = retry_after
        self.kind = kind


class VendorRateLimited(VendorTransient):
    """429: the vendor asked us to slow down."""


class VendorProtocolError(VendorTransient):
    """The answer was not JSON, or not the shape the vendor documents.

    Transient because a proxy's error page or a half-deployed vendor release often is; the
    job's deadline stops the retries if it is not.
    """


# -- Slack --------------------------------------------------------------------------------------


class SlackError(AdopsError):
    """Slack refused for a reason retrying won't fix (bad blocks, revoked token)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class CannotPost(SlackError):
    """This route can't carry the message (not in the channel, a spent ``response_url``)."""


class SlackRetryLater(SlackError):
    """Slack asks us to come back after ``retry_after`` seconds; the step is re-enqueued."""

    def __init__(self, retry_after: float, reason: str = "ratelimited") -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"Slack asked us to retry in {self.retry_after:g}s ({self.error})"

"""Plain words for what people read: durations, vendors' raw states, a retry under way (pure).

Durations read "45 s", "2 min 53 s", "1 h 05 min". A vendor's own state (``IN_PROGRESS``,
``in_progress``, ``PENDING``, Celery's ``STARTED``) becomes what it means to the person waiting
("in progress", "waiting to start"); one we have never seen is shown lower-case with spaces.
"""

from __future__ import annotations

__all__ = ["age", "retry_line", "size", "vendor_state"]


def age(seconds: float) -> str:
    """A duration: "45 s", "2 min 53 s", "12 min" (whole minutes drop "0 s"), "1 h 05 min"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def size(n: int) -> str:
    """A file's size: "812 bytes", "4.9 kB", "12.3 MB", "1.2 GB" (powers of 1000, as Slack shows)."""
    if n < 1000:
        return f"{n} byte{'s' if n != 1 else ''}"
    for power, unit in ((1, "kB"), (2, "MB")):
        if n < 999_950 * 1000 ** (power - 1):  # what would round to 1000.0 reads in the next unit
            return f"{n / 1000 ** power:.1f} {unit}"
    return f"{n / 1000 ** 3:.1f} GB"


_STATES: dict[str, tuple[str, ...]] = {
    "waiting to start": ("QUEUED", "PENDING", "RECEIVED", "SCHEDULED", "WAITING", "NEW", "CREATED", "ACCEPTED"),
    "in progress": ("STARTED", "IN_PROGRESS", "RUNNING", "PROCESSING", "PROGRESS", "RETRY", "BUILDING"),
    "done": ("SUCCESS", "SUCCEEDED", "COMPLETED", "COMPLETE", "DONE", "READY", "FINISHED"),
    "failed": ("FAILURE", "FAILED", "ERROR"),
    "cancelled": ("CANCELED", "CANCELLED", "REVOKED", "ABORTED"),
    "expired": ("EXPIRED",),
}
_WORDS = {raw: words for words, raws in _STATES.items() for raw in raws}


def vendor_state(raw: str) -> str:
    """What a vendor's state means, in words; "" for none."""
    key = raw.strip().upper().replace("-", "_").replace(" ", "_")
    if not key:
        return ""
    return _WORDS.get(key, key.lower().replace("_", " "))


def retry_line(note: str, next_try_at: float, tries: int, max_tries: int, now: float) -> str:
    """ "Acme answered 503; trying again in 20 s, try 3 of 9" from what the job records."""
    if not note:
        return ""
    wait = next_try_at - now
    when = f"trying again in {age(round(wait))}" if wait >= 0.5 else "trying again now"
    of = f", try {tries} of {max_tries}" if tries and max_tries else ""
    return f"{note[:1].upper()}{note[1:]}; {when}{of}"

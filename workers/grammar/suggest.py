"""Did-you-mean: the closest known word to a typo, phrased for the end of an error message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: str, candidates: Iterable[str], *, prefix: str = "", suffix: str = "") -> str:
    """The sentence " Did you mean `<prefix><match><suffix>`?" naming the closest candidate,
    or "" when none is close.

    Matching ignores case but the suggestion keeps the candidate's own spelling.
    """
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean `{prefix}{by_lower[match[0]]}{suffix}`?" if match else ""

"""Typed values from typed words: what each `Option` and `Positional` kind accepts.

Options: `choice`, `list` (comma-separated, optionally from choices), `int` (with bounds),
`bool` (`on`/`off` and friends), `tz` (an IANA zone, any case), `day` (one day, in the date
range forms), `text`. Positionals: `range`
(see `workers.grammar.dates`), `choice`, `job` (a job id), `word`. Every refusal is a
`UsageError` whose message is written for the person who typed the word.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import date
from functools import lru_cache
from typing import Any

from workers.errors import UsageError
from workers.grammar.dates import RangeError, parse_range
from workers.grammar.spec import Option, Positional
from workers.grammar.suggest import did_you_mean

__all__ = ["convert_option", "convert_positional"]

_BOOLS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
# Job ids are "J" + 8 symbols of Crockford's base32 (see workers.jobs.new_job_id). Crockford
# decoding reads I and L as 1 and O as 0, which forgives the usual misreadings of an id.
_JOB_ID = re.compile(r"J[0-9A-HJKMNP-TV-Z]{8}")
_CROCKFORD_ALIASES = str.maketrans("ILO", "110")


def convert_option(option: Option, value: str, fail: Callable[[str], UsageError], today: date) -> Any:
    """The value of `option=value`; `fail` builds the error to raise (it carries the usage)."""
    key = option.name
    if option.kind == "day":
        return _day(key, value, today, fail)
    if option.kind == "choice":
        return _choose(value, option.choices, f"`{key}={value}` is not valid", fail)
    if option.kind == "list":
        items = list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        if not items:
            raise fail(f"`{key}=` needs at least one value, as in `{option.synopsis}`.")
        if option.choices:
            items = list(dict.fromkeys(_choose(item, option.choices, f"`{item}` in `{key}=` is not valid", fail) for item in items))
        return tuple(items)
    if option.kind == "int":
        try:
            number = int(value)
        except ValueError:
            raise fail(f"`{key}={value}` is not a whole number.") from None
        if option.min is not None and number < option.min:
            raise fail(f"`{key}=` must be at least {option.min}.")
        if option.max is not None and number > option.max:
            raise fail(f"`{key}=` must be at most {option.max}.")
        return number
    if option.kind == "bool":
        if value.lower() not in _BOOLS:
            raise fail(f"`{key}={value}` is not valid; use `on` or `off`.")
        return _BOOLS[value.lower()]
    if option.kind == "tz":
        return _zone(key, value, fail)
    return value


def convert_positional(positional: Positional, value: str, today: date) -> Any:
    """The value of one positional word. Raises `UsageError` with no usage: the caller adds it."""

    def fail(message: str) -> UsageError:
        return UsageError(message, "")

    label = positional.name.replace("_", " ")
    if positional.kind == "range":
        try:
            return parse_range(value, today, allow_time=positional.allow_time, max_days=positional.max_days)
        except RangeError as error:
            raise fail(str(error)) from None
    if positional.kind == "choice":
        return _choose(value, positional.choices, f"`{value}` is not a valid {label}", fail)
    if positional.kind == "job":
        job_id = value.upper()
        job_id = job_id[:1] + job_id[1:].translate(_CROCKFORD_ALIASES)
        if not _JOB_ID.fullmatch(job_id):
            raise fail(f"`{value}` is not a job id: J followed by 8 letters or digits, like `J7K2P9QXM`.")
        return job_id
    return value


def _day(key: str, value: str, today: date, fail: Callable[[str], UsageError]) -> date:
    """One day, read as a range is (so `yesterday` means what it means everywhere)."""
    try:
        found = parse_range(value, today)
    except RangeError as error:
        raise fail(f"`{key}=`: {error}") from None
    if found.days != 1:
        raise fail(f"`{key}={value}` covers {found.days} days; give one day, such as `{key}=yesterday`.")
    assert isinstance(found.start, date)
    return found.start


def _choose(value: str, choices: Iterable[str], what: str, fail: Callable[[str], UsageError]) -> str:
    known = tuple(choices)
    for choice in known:
        if value.lower() == choice.lower():
            return choice
    raise fail(f"{what}; use {_or(known)}." + did_you_mean(value, known))


def _zone(key: str, value: str, fail: Callable[[str], UsageError]) -> str:
    try:
        zoneinfo.ZoneInfo(value)
        return value
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    # Zone files are case-sensitive; people type `europe/berlin`.
    if canonical := _zones_by_lowercase().get(value.lower()):
        return canonical
    hint = did_you_mean(value, _zones())
    raise fail(f"`{key}={value}` is not a time zone; use an IANA name such as `Europe/Berlin`.{hint}")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1)
def _zones_by_lowercase() -> dict[str, str]:
    return {zone.lower(): zone for zone in _zones()}


def _or(choices: tuple[str, ...]) -> str:
    quoted = [f"`{choice}`" for choice in choices]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"

"""The pieces every vendor and step builds on: the error tree, button values, boards."""

from __future__ import annotations

import re

import pytest
import redis

from workers import errors
from workers.boards import Board
from workers.vendors.metrics24.buttons import DELETE, SWITCH, GroupChange
from workers.vendors.registry import CATALOGUE


def _drawn_tree() -> dict[str, str]:
    """Each class in the module docstring's drawing, with the class drawn as its parent."""
    drawing = (errors.__doc__ or "").split("hierarchy::", 1)[1]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in drawing.splitlines():
        match = re.match(r"^([\s│]*(?:[├└]── )?)([A-Z]\w+)", line)
        if not match:
            continue
        depth = len(match.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[match.group(2)] = stack[-1][1]
        stack.append((depth, match.group(2)))
    return parents


def test_the_error_tree_is_drawn_as_it_is_built() -> None:
    drawn = _drawn_tree()
    built = {
        name: cls.__bases__[0].__name__
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.AdopsError) and cls is not errors.AdopsError
    }
    assert drawn == built
    assert set(errors.__all__) == {*built, "AdopsError"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # What buttons posted before this layout carry: no listing context, so page 1 of all groups.
        ('{"g":"66a","i":"int-1","f":"monitoring_mode","to":true}', ("66a", "int-1", True, None, 0)),
        ('{"g":"66a","i":"int-1","to":false,"q":"EU","p":2}', ("66a", "int-1", False, "EU", 2)),
    ],
)
def test_switch_values_are_read_as_written_and_as_old_buttons_wrote_them(raw: str, expected: tuple[object, ...]) -> None:
    value = SWITCH.read(raw)
    assert value is not None
    assert (value.group_id, value.integration, value.to, value.name, value.page) == expected
    assert SWITCH.read(SWITCH.encode(value)) == value


@pytest.mark.parametrize("raw", ["", "not json", '{"i":"int-1","to":true}', '{"g":"","i":"x","to":true}', '{"g":"1","i":"x","to":true,"p":-1}'])
def test_values_a_button_did_not_write_are_refused(raw: str) -> None:
    assert SWITCH.read(raw) is None


def test_a_value_over_slacks_limit_is_refused_when_written() -> None:
    with pytest.raises(ValueError, match="2000"):
        SWITCH.encode(GroupChange(group_id="1", integration="i", name="x" * 2100, to=True))


def test_every_button_is_found_by_its_action_id_and_vendor() -> None:
    assert CATALOGUE.button("fg_delete") is DELETE
    assert CATALOGUE.button_vendor("fg_toggle") == "24metrics"
    assert CATALOGUE.button("job_cancel") is None  # the ingress's own, not a vendor's


def test_a_board_shows_only_its_newest_render(client: redis.Redis) -> None:
    board = Board(client, "adops:", "C1", "1.0")
    first, second = board.next_version(), board.next_version()
    assert second > first
    assert board.show_if_newest(second)
    assert not board.show_if_newest(first), "an older render finishing late is not shown"
    assert board.show_if_newest(second), "the same render again (a retried publish) is"
    assert Board(client, "adops:", "C1", "2.0").show_if_newest(1), "each message has its own versions"


def test_a_board_keeps_the_newest_changes(client: redis.Redis) -> None:
    board = Board(client, "adops:", "C1", "1.0")
    for n in range(7):
        board.log(f"change {n}")
    assert board.changes() == [f"change {n}" for n in (6, 5, 4, 3, 2)]

from __future__ import annotations

import pytest

from workers.schedule import MAX_DELAY, next_poll_delay, poll_delay, poll_offset, poll_times


@pytest.mark.parametrize(
    ("ready_after", "max_polls", "max_late"),
    [
        (0.5, 1, 3.0),  # an instant export is seen on the first look
        (30, 4, 2.0),  # budget: 1 000 exports ready after 30 s delivered within 45 s
        (600, 12, MAX_DELAY),  # budget: at most 12 polls for a 10 minute export
        (3600, 46, MAX_DELAY),
    ],
)
def test_polls_and_lateness(ready_after: float, max_polls: int, max_late: float) -> None:
    times = poll_times(ready_after)
    assert len(times) <= max_polls
    assert times[-1] >= ready_after
    assert times[-1] - ready_after <= max_late


def test_delays_grow_then_cap() -> None:
    delays = [poll_delay(n) for n in range(20)]
    assert delays[0] == 3.0
    assert all(b >= a for a, b in zip(delays, delays[1:]))
    assert max(delays) == MAX_DELAY


@pytest.mark.parametrize(
    ("polls_done", "requested_at", "now", "expected"),
    [
        (0, 100.0, 100.0, 3.0),  # on time: the first poll 3 s after the export was created
        (1, 100.0, 105.4, 2.7),  # poll 1 ran 2.4 s late: poll 2 stays due at 108.1, not 110.5
        (3, 100.0, 100.0 + 16.8, 14.7),  # poll 4 due at 31.5 s, the one that sees a 30 s export
        (5, 100.0, 1000.0, 0.25 * 42.6),  # after an outage: no burst, a quarter of the gap
        (0, 100.0, 103.0, 0.75),
    ],
)
def test_polls_keep_their_timetable(polls_done: int, requested_at: float, now: float, expected: float) -> None:
    assert next_poll_delay(polls_done, requested_at, now) == pytest.approx(expected, abs=0.06)


def test_offsets_are_the_cumulative_delays() -> None:
    assert [round(poll_offset(n), 1) for n in range(4)] == [round(t, 1) for t in poll_times(30)]


def test_a_shorter_first_look_shortens_the_whole_timetable_up_to_the_same_cap() -> None:
    # ADOPS_FIRST_POLL: the tests look at the sandbox's exports after 0.5 s instead of 3 s.
    assert [round(poll_delay(n, 0.5), 2) for n in range(3)] == [0.5, 0.85, 1.44]
    assert poll_delay(40, 0.5) == MAX_DELAY
    assert next_poll_delay(0, 100.0, 100.0, 0.5) == pytest.approx(0.5)
    assert next_poll_delay(1, 100.0, 100.2, 0.5) == pytest.approx(1.15)
    assert poll_offset(1, 0.5) == pytest.approx(1.35)

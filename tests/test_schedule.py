from __future__ import annotations

import pytest

from workers.schedule import MAX_DELAY, poll_delay, poll_times


@pytest.mark.parametrize(
    ("ready_after", "max_polls", "max_late"),
    [
        (0.5, 1, 3.0),  # an instant export is seen on the first look
        (30, 4, 2.0),  # DESIGN §6: 1 000 exports ready after 30 s delivered within 45 s
        (600, 12, MAX_DELAY),  # DESIGN §6: at most 12 polls for a 10 minute export
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

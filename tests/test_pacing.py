"""Background catch-ups in rounds (pacing.py, issue 18): after each round a rest in
proportion to it, so the rounds take at most their share of the wall clock."""

from __future__ import annotations

import time

import pytest

from smartsupport.pacing import Pace, rest


async def test_rounds_take_at_most_their_share_of_the_time() -> None:
    pace = Pace(0.25)
    began = time.perf_counter()
    busy = 0.0
    for _ in range(4):
        round_began = time.perf_counter()
        while time.perf_counter() - round_began < 0.02:  # a round of 20 ms of work
            pass
        busy += time.perf_counter() - round_began
        await pace.rest()
    elapsed = time.perf_counter() - began
    assert busy / elapsed <= 0.26, (busy, elapsed)  # a rest is three times its round
    assert elapsed < 1.0  # and no longer than that (scheduling aside)


async def test_a_whole_share_or_none_never_sleeps() -> None:
    began = time.perf_counter()
    pace = Pace(1.0)
    for _ in range(100):
        await pace.rest()
        await rest(None)
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share must be in"):
        Pace(share)

"""Background catch-up work that leaves the event loop to the conversations.

The worker's catch-ups (the transcript index, ``inbox/search_index.py``; the analytics
rollup, ``analytics_rollup.py``) process every conversation that changed since their last
pass: at 100 customer messages a second, about a thousand every 15 s, most of a second of
CPU in the server process. Done in one go (the index's CPU work ran in a thread, which takes
the GIL from the event loop for up to 5 ms at each of a turn's wake-ups), every turn of that
second and a half took two to four times as long, and those bursts alone set the p95 of the
whole run (docs/benchmarks.md, "Stop 29"). Paced, the same work goes in small rounds on the
event loop, each followed by a rest:

    pace = Pace(share=0.25)
    while there is work:
        one small round (a few milliseconds)
        await pace.rest()      sleeps so that rounds take at most ``share`` of the time

A round's time is measured on the wall clock, waits included: when turns keep the loop and
the database busy, rounds take longer and the rests grow with them, so the catch-up gives
way under load and runs at full ``share`` when the server is quiet. A reader that needs the
catch-up done now (an agent's search, a report) runs it unpaced.
"""

from __future__ import annotations

import asyncio
import time


class Pace:
    """Rests between rounds so that the rounds use at most ``share`` of the wall clock."""

    def __init__(self, share: float) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], not {share!r}")
        self.share = share
        self._round_began = time.perf_counter()

    async def rest(self) -> None:
        """Sleep in proportion to the round that just ended (always yielding once), and start
        timing the next."""
        spent = time.perf_counter() - self._round_began
        await asyncio.sleep(spent * (1.0 - self.share) / self.share)
        self._round_began = time.perf_counter()


async def rest(pace: Pace | None) -> None:
    """``pace.rest()``, or nothing when the caller runs unpaced."""
    if pace is not None:
        await pace.rest()

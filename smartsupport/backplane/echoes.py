"""Redis's echoes of what this process already delivered to its own subscribers.

A message published through Redis comes back to the publishing process too, on its pub/sub
connection, if one of its sockets follows the channel: a turn's reply waited for that trip
and for the reader task's pass of the event loop before the customer's socket saw it. The
Redis backplane now hands a message to this process's subscribers as soon as Redis has taken
it, and notes it here; the reader skips the copy Redis sends back.

An echo is matched by channel and exact payload, oldest first. Two processes publishing the
same payload on one channel at once is harmless: whichever copy is skipped, each subscriber
gets the payload as many times as it was published. An echo that never comes (the pub/sub
connection dropped meanwhile, the last local subscriber left) is forgotten after
``ECHO_WAIT``; after a reconnection the channel's expected echoes are dropped, since its
subscribers reload from the database anyway (``RESYNC``).
"""

from __future__ import annotations

import time
from collections import deque

# Seconds an echo is waited for; Redis sends it back within milliseconds.
ECHO_WAIT = 30.0


class Echoes:
    __slots__ = ("_expected", "_next_sweep")

    def __init__(self) -> None:
        # (channel, payload) -> when each still-unechoed copy was delivered, oldest first
        self._expected: dict[tuple[str, bytes], deque[float]] = {}
        self._next_sweep = 0.0

    def expect(self, channel: str, payload: bytes) -> None:
        """``payload`` was delivered here; skip its echo on ``channel``."""
        now = time.monotonic()
        self._expected.setdefault((channel, payload), deque()).append(now)
        if now >= self._next_sweep:
            self._sweep(now)

    def take(self, channel: str, payload: bytes) -> bool:
        """Whether this message is the echo of one delivered here (then it is skipped)."""
        times = self._expected.get((channel, payload))
        if not times:
            return False
        times.popleft()
        if not times:
            del self._expected[(channel, payload)]
        return True

    def forget(self, channel: str) -> None:
        """Expect no more echoes on ``channel`` (its subscription was made again)."""
        for key in [key for key in self._expected if key[0] == channel]:
            del self._expected[key]

    def __len__(self) -> int:
        return sum(len(times) for times in self._expected.values())

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + ECHO_WAIT
        for key, times in list(self._expected.items()):
            while times and times[0] < now - ECHO_WAIT:
                times.popleft()
            if not times:
                del self._expected[key]

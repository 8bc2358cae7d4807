"""A circuit breaker per provider, shared by every conversation of the process.

    closed     calls pass; ``failures`` consecutive failures open it
    open       calls are refused at once (the chain moves to its next step) for
               ``reset_seconds``, so a dead provider costs no timeouts
    half-open  after that, one probe call passes; success closes, failure re-opens

The clock is injectable so tests do not sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._count = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        if self._probing or self.state != CLOSED:
            # The probe failed: open again for a full reset period.
            self._opened_at = self._clock()
            self._probing = False
            return
        self._count += 1
        if self._count >= self.failures:
            self._opened_at = self._clock()

    def abandon(self) -> None:
        """A call was cancelled before it could tell: free the probe slot, count nothing."""
        self._probing = False

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 when closed)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

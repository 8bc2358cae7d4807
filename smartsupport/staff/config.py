"""Staff-authentication timings and limits, and the clock they are measured with.

Defaults suit a support team; tests replace the clock (``app.state.staff_config =
StaffConfig(clock=fake)``) instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.datastructures import State


@dataclass
class StaffConfig:
    access_ttl_seconds: int = 15 * 60  # the JWT in the access cookie
    session_ttl_seconds: int = 12 * 3600  # absolute: one working day, then log in again
    idle_timeout_seconds: int = 30 * 60  # no authenticated request for this long ends it
    touch_every_seconds: int = 60  # last-activity writes are batched to one per minute
    max_failures: int = 5  # consecutive wrong passwords or codes before the lockout
    lockout_seconds: int = 15 * 60
    attempts_per_account: int = 10  # login attempts per email per window (429 beyond)
    attempts_per_ip: int = 30  # login attempts per client address per window
    attempt_window_seconds: int = 5 * 60
    mfa_ttl_seconds: int = 5 * 60  # between the password step and the TOTP step
    clock: Callable[[], float] = field(default=time.time)

    def timestamp(self) -> float:
        return self.clock()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def staff_config(state: State) -> StaffConfig:
    """The app's StaffConfig, created with the defaults on first use."""
    config = getattr(state, "staff_config", None)
    if config is None:
        config = StaffConfig()
        state.staff_config = config
    return config

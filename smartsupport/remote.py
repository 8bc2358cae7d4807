"""How smartsupport calls remote services: one policy for every outbound call.

Language-model providers (``llm/``), helpdesks and chat services (``helpdesk/``,
``notify/``, through the outbox) and the business's own APIs (``dialogue/actions.py``) fail
in the same ways, so they share one of each mechanism:

    RETRYABLE_STATUSES   the HTTP answers worth repeating (``is_retryable_status``)
    parse_retry_after    the service's own hint, in seconds
    backoff              how long to wait before the next try
    CircuitBreaker       when to stop calling a service that keeps failing

Each caller keeps only its own numbers (base delay, cap, thresholds) and its own rule for
*whether* repeating is safe: a POST that timed out may already have happened, and text
already shown to a customer cannot be taken back. Failures are raised as subclasses of
``errors.RemoteError``, whose ``retryable`` and ``retry_after`` carry the verdict.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Answers that say "not now" rather than "never": the same request may succeed later.
#   408 Request Timeout      the server gave up waiting for us (RFC 9110 §15.5.9)
#   409 Conflict             Zendesk answers it to concurrent updates and asks for a retry;
#                            OpenAI's and Anthropic's own SDKs retry it (lock timeouts)
#   425 Too Early            RFC 8470 §5.2: the client may repeat it after the handshake
#   429 Too Many Requests    rate limited; usually with Retry-After
#   500, 502, 503, 504       the server or a gateway in front of it failed or timed out
#   520-524                  CDN proxies (Cloudflare): the origin failed or timed out, the
#                            same as 502/504 (a dead-lettered ticket for a blip costs more)
#   529 Overloaded           Anthropic's API under load
# Left out on purpose: every other 4xx (bad key, bad request: repeating cannot help) and
# the 5xx that describe a permanent state (501 Not Implemented, 505 HTTP Version Not
# Supported, 508 Loop Detected, 511 Network Authentication Required).
RETRYABLE_STATUSES = frozenset(
    {408, 409, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529}
)


def is_retryable_status(status: int) -> bool:
    """May a request answered with HTTP ``status`` succeed if sent again later?"""
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, retry_after: float | None = None, *, base: float, cap: float) -> float:
    """Seconds to wait after ``attempt`` failed tries (1 after the first failure).

    Exponential (``base``, then twice that, ... up to ``cap``) with jitter over the upper
    half, so clients that failed together do not come back in lock step; and never sooner
    than the service's ``Retry-After``, plus up to one ``base`` of jitter for the same reason.
    A ``Retry-After`` may exceed ``cap``: the caller decides whether it is worth the wait.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after + random.uniform(0, base))
    return delay


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    """A circuit breaker for one remote service, shared by every conversation of the
    process (build it once), so a dead service costs no timeouts:

        closed     calls pass; ``failures`` consecutive failures open it
        open       calls are refused at once for ``reset_seconds``
        half-open  then one trial call passes (the others are still refused); its
                   success closes the circuit, its failure opens it for a full period

    A trial that never reports back (``record_success``, ``record_failure`` or
    ``abandon``) frees its slot after another ``reset_seconds``, so a lost caller cannot
    keep the circuit shut forever. The clock is injectable so tests do not sleep.
    """

    def __init__(
        self,
        failures: int = 5,
        reset_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("a breaker needs failures >= 1 and reset_seconds > 0")
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return HALF_OPEN
        return OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._count

    def allow(self) -> bool:
        """May a call go out now? Half-open lets one trial through at a time."""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        now = self._clock()
        if self._trial_at is not None and now - self._trial_at < self.reset_seconds:
            return False
        self._trial_at = now
        return True

    def record_success(self) -> None:
        self._count = 0
        self._opened_at = None
        self._trial_at = None

    def record_failure(self) -> None:
        self._count += 1
        if self._opened_at is not None or self._count >= self.failures:
            # Opening, or a failed trial (or a late failure while open): a full period.
            self._opened_at = self._clock()
            self._trial_at = None

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled, or never sent): free the trial slot,
        count nothing."""
        self._trial_at = None

    def retry_in(self) -> float:
        """Seconds until the breaker lets a trial through (0 when closed)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

"""The one remote-call policy: the circuit breaker (closed, open after consecutive failures,
half-open after the reset period with exactly one trial, closed or re-opened by it), the
backoff (exponential with jitter, capped, never sooner than Retry-After), the table of
retryable statuses and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from smartsupport.errors import BackendError, DeliveryError, LLMError, LLMTimeout, RemoteError
from smartsupport.remote import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    backoff,
    is_retryable_status,
    parse_retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker(failures=3, reset_seconds=10, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_half_opens_after_reset_and_lets_one_trial_through():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow() and 0 < breaker.retry_in() < 0.11
    clock.now += 0.1
    assert breaker.state == HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # a second caller while the trial is out


def test_successful_trial_closes():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.retry_in() == 0
    assert breaker.allow() and breaker.allow()


def test_failed_trial_reopens_for_a_full_period():
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset_seconds=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_abandoned_trial_frees_the_slot_without_counting():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.abandon()
    assert breaker.state == HALF_OPEN and breaker.allow()
    assert breaker.consecutive_failures == 1


def test_a_trial_that_never_reports_back_frees_its_slot_after_a_period():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()  # this caller is lost and never records anything
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_positional_thresholds_and_nonsense_refused():
    breaker = CircuitBreaker(2, 30)
    assert (breaker.failures, breaker.reset_seconds) == (2, 30)
    with pytest.raises(ValueError):
        CircuitBreaker(0, 30)
    with pytest.raises(ValueError):
        CircuitBreaker(1, 0)


def test_backoff_doubles_with_jitter_over_the_upper_half_up_to_the_cap():
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (50, 10.0)]:
        waits = [backoff(attempt, base=2.0, cap=10.0) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered: clients that failed together spread out
    assert backoff(0, base=2.0, cap=10.0) <= 2.0


def test_backoff_is_never_sooner_than_retry_after_even_past_the_cap():
    assert all(30 <= backoff(1, 30, base=2.0, cap=10.0) <= 32 for _ in range(100))
    # A short Retry-After does not cut the exponential wait of a service failing for long.
    assert all(backoff(6, 1, base=2.0, cap=60.0) >= 30 for _ in range(100))
    assert backoff(1, 0.5, base=0.0, cap=5.0) == 0.5


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 522, 524, 529])
def test_transient_statuses_are_retryable(status):
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 422, 501, 505, 511])
def test_permanent_statuses_are_not(status):
    assert not is_retryable_status(status)


def test_retry_after_in_seconds_or_as_an_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 110 <= (parse_retry_after(later) or 0) <= 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None


def test_every_remote_failure_is_one_remote_error_with_a_retry_verdict():
    for error in (
        LLMError("x", retryable=True, retry_after=3.0),
        LLMTimeout("slow"),
        DeliveryError("x", retryable=True, retry_after=3.0),
    ):
        assert isinstance(error, RemoteError) and isinstance(error, BackendError)
        assert error.retryable
    assert DeliveryError("x").retry_after is None and not DeliveryError("x").retryable

"""The circuit breaker: closed, open after consecutive failures, half-open after the reset
period with exactly one probe, closed or re-opened by the probe's outcome."""

from __future__ import annotations

from smartsupport.llm.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


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


def test_half_opens_after_reset_and_lets_one_probe_through():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow() and 0 < breaker.retry_in() < 0.11
    clock.now += 0.1
    assert breaker.state == HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # a second caller while the probe is out


def test_successful_probe_closes():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED
    assert breaker.allow() and breaker.allow()


def test_failed_probe_reopens_for_a_full_period():
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


def test_abandoned_probe_frees_the_slot_without_counting():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.abandon()
    assert breaker.state == HALF_OPEN and breaker.allow()

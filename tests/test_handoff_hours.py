"""Business hours in the workspace's time zone: weekly intervals, holidays, daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime

from smartsupport.business_hours import BusinessHours

MADRID = BusinessHours(
    timezone="Europe/Madrid",
    weekly={"mon": ["09:00-13:00", "14:00-18:00"], "tue": ["09:00-18:00"], "sat": ["10:00-24:00"]},
    holidays=["2026-12-08"],
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_and_closed_in_local_time():
    assert MADRID.is_open(utc(2026, 11, 23, 8, 0))  # Monday 09:00 in Madrid (UTC+1)
    assert not MADRID.is_open(utc(2026, 11, 23, 7, 59))
    assert not MADRID.is_open(utc(2026, 11, 23, 12, 30))  # the lunch break
    assert not MADRID.is_open(utc(2026, 11, 25, 10, 0))  # Wednesday: no hours
    assert MADRID.is_open(utc(2026, 11, 28, 22, 59))  # Saturday until midnight
    assert not MADRID.is_open(utc(2026, 12, 8, 10, 0))  # a holiday Tuesday


def test_daylight_saving_keeps_the_wall_clock():
    # 09:00 in Madrid is 08:00 UTC in winter and 07:00 UTC in summer.
    assert MADRID.is_open(utc(2026, 7, 6, 7, 0)) and not MADRID.is_open(utc(2026, 7, 6, 6, 59))
    assert MADRID.is_open(utc(2026, 1, 5, 8, 0)) and not MADRID.is_open(utc(2026, 1, 5, 7, 30))


def test_next_open_skips_closed_days_and_holidays():
    assert MADRID.next_open(utc(2026, 11, 23, 8, 30)) == utc(2026, 11, 23, 8, 30)  # open now
    assert MADRID.next_open(utc(2026, 11, 23, 12, 15)) == utc(2026, 11, 23, 13, 0)  # after lunch
    assert MADRID.next_open(utc(2026, 12, 7, 18, 0)) == utc(2026, 12, 12, 9, 0)  # Tue is a holiday
    assert BusinessHours(weekly={}).next_open(utc(2026, 1, 1, 0, 0)) is None

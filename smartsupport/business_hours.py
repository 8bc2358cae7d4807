"""Business hours: when a workspace's people are there, in the workspace's own time zone.

    business_hours:
      timezone: Europe/Madrid
      weekly:
        mon: ["09:00-13:00", "14:00-18:00"]
        sat: ["10:00-14:00"]
        sun: []                  # a day left out is closed too
      holidays: ["2026-12-25"]   # whole days closed, local dates

Intervals are local wall-clock times, so daylight-saving changes move them with the clock
(09:00 stays 09:00). "24:00" ends a day. Pure: ``is_open(at)`` and ``next_open(at)`` take
the instant to judge, which keeps them testable and free of I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _parse_interval(text: str) -> tuple[int, int]:
    """'09:00-17:30' -> (540, 1050) minutes after midnight."""
    match = _INTERVAL.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an interval like '09:00-17:30'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 24 * 60 or end <= start:
        raise ValueError(f"{text!r}: the end must be after the start, at most 24:00")
    return start, end


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "UTC"
    weekly: dict[str, list[str]] = Field(
        default_factory=lambda: {d: ["09:00-17:00"] for d in DAYS[:5]}
    )
    holidays: list[date] = Field(default_factory=list)
    _zone: ZoneInfo = PrivateAttr()
    _minutes: dict[int, list[tuple[int, int]]] = PrivateAttr(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name like Europe/Madrid"
            ) from None
        return name

    @field_validator("weekly")
    @classmethod
    def _valid_week(cls, weekly: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, intervals in weekly.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}: use {', '.join(DAYS)}")
            for interval in intervals:
                _parse_interval(interval)
        return weekly

    @model_validator(mode="after")
    def _compile(self) -> BusinessHours:
        self._zone = ZoneInfo(self.timezone)
        self._minutes = {
            DAYS.index(day): sorted(_parse_interval(i) for i in intervals)
            for day, intervals in self.weekly.items()
        }
        return self

    def _intervals(self, day: date) -> list[tuple[int, int]]:
        if day in self.holidays:
            return []
        return self._minutes.get(day.weekday(), [])

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (an aware datetime) falls in business hours."""
        local = at.astimezone(self._zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._intervals(local.date()))

    def next_open(self, at: datetime) -> datetime | None:
        """The next instant at or after ``at`` when the workspace is open (``at`` itself
        when open now); None when no day in the next two weeks has hours."""
        if self.is_open(at):
            return at
        local = at.astimezone(self._zone)
        for offset in range(15):
            day = local.date() + timedelta(days=offset)
            for start, _end in self._intervals(day):
                candidate = datetime.combine(day, time(start // 60, start % 60), tzinfo=self._zone)
                if candidate >= local:
                    return candidate
        return None

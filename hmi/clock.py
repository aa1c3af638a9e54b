"""Clocks: the system UTC clock services use by default, and a manual one tests drive instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""What services take as `clock`: returns the current time, timezone-aware UTC."""


def utc_now() -> datetime:
    """The system clock as timezone-aware UTC; the default clock of every service."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; callable, so it can be passed wherever a `Clock` is expected."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        """The current manual time (timezone-aware UTC)."""
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by `seconds` and return the new time."""
        if seconds < 0:
            # Server time never runs backwards in the system under test either.
            raise ValueError("a clock only moves forward")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to `when` (timezone-aware); used to place a test at a shift boundary."""
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time")
        self._now = when.astimezone(UTC)
        return self._now

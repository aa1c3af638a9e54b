"""The manual clock tests drive instead of sleeping, and the system clock services use by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hmi.clock import ManualClock, utc_now


@pytest.mark.req("REC-016")
def test_system_clock_is_aware_utc() -> None:
    assert utc_now().tzinfo is UTC


@pytest.mark.req("REC-016")
def test_manual_clock_moves_only_when_told(clock: ManualClock) -> None:
    start = clock.now()
    assert clock() == start
    assert clock.advance(90) == start + timedelta(seconds=90)
    assert clock.now() == start + timedelta(seconds=90)


@pytest.mark.req("REC-016")
def test_manual_clock_refuses_naive_times_and_going_back() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="forward"):
        ManualClock().advance(-1)


@pytest.mark.req("REC-016")
def test_manual_clock_normalises_to_utc() -> None:
    plant = timezone(timedelta(hours=2))
    assert ManualClock(datetime(2025, 1, 1, 8, 0, tzinfo=plant)).now() == datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    assert ManualClock().set(datetime(2025, 1, 1, 8, 0, tzinfo=plant)).tzinfo is UTC

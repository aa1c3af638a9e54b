"""Which shift is on, in plant local time, across midnight and across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hmi.config import Shift, Site
from hmi.shifts import ShiftSlot, current_shift

BERLIN = ZoneInfo("Europe/Berlin")
THREE_SHIFTS = (
    Shift(name="Early", start=time(6), end=time(14)),
    Shift(name="Late", start=time(14), end=time(22)),
    Shift(name="Night", start=time(22), end=time(6)),
)


def site(zone: str = "UTC", shifts: tuple[Shift, ...] = THREE_SHIFTS) -> Site:
    return Site(name="Plant", timezone=zone, shifts=shifts)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def check(slot: ShiftSlot, name: str, day: date, start: datetime, end: datetime) -> None:
    assert (slot.name, slot.date) == (name, day)
    # Same instants; compared as UTC so a wall-clock comparison inside one zone cannot hide an offset error.
    assert slot.start.astimezone(UTC) == start.astimezone(UTC)
    assert slot.end.astimezone(UTC) == end.astimezone(UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "name"),
    [
        (6, 0, "Early"),
        (9, 30, "Early"),
        (13, 59, "Early"),
        (14, 0, "Late"),
        (21, 59, "Late"),
        (22, 0, "Night"),
        (23, 59, "Night"),
    ],
)
@pytest.mark.req("OEE-008")
def test_day_shifts_in_a_utc_plant(hour: int, minute: int, name: str) -> None:
    slot = current_shift(site(), utc(2025, 1, 6, hour, minute))
    assert (slot.name, slot.date) == (name, date(2025, 1, 6))


@pytest.mark.req("OEE-008")
def test_bounds_of_a_day_shift() -> None:
    check(
        current_shift(site(), utc(2025, 1, 6, 10)), "Early", date(2025, 1, 6), utc(2025, 1, 6, 6), utc(2025, 1, 6, 14)
    )


@pytest.mark.req("OEE-008")
def test_night_shift_before_midnight_belongs_to_that_date() -> None:
    check(
        current_shift(site(), utc(2025, 1, 6, 23)), "Night", date(2025, 1, 6), utc(2025, 1, 6, 22), utc(2025, 1, 7, 6)
    )


@pytest.mark.parametrize("moment", [(0, 0), (2, 0), (5, 59)])
@pytest.mark.req("OEE-008")
def test_night_shift_after_midnight_belongs_to_the_previous_date(moment: tuple[int, int]) -> None:
    slot = current_shift(site(), utc(2025, 1, 7, *moment))
    check(slot, "Night", date(2025, 1, 6), utc(2025, 1, 6, 22), utc(2025, 1, 7, 6))


@pytest.mark.req("OEE-008")
def test_night_shift_at_the_turn_of_the_year() -> None:
    slot = current_shift(site(), utc(2025, 1, 1, 2))
    check(slot, "Night", date(2024, 12, 31), utc(2024, 12, 31, 22), utc(2025, 1, 1, 6))


@pytest.mark.req("OEE-008")
def test_plant_local_time_decides_not_utc() -> None:
    berlin = site("Europe/Berlin")
    # 05:30 UTC in winter is 06:30 in Berlin: the early shift, though it is still night in UTC.
    check(
        current_shift(berlin, utc(2025, 1, 6, 5, 30)),
        "Early",
        date(2025, 1, 6),
        local(2025, 1, 6, 6),
        local(2025, 1, 6, 14),
    )
    # 21:30 UTC in summer is 23:30 in Berlin.
    check(
        current_shift(berlin, utc(2025, 7, 1, 21, 30)),
        "Night",
        date(2025, 7, 1),
        local(2025, 7, 1, 22),
        local(2025, 7, 2, 6),
    )
    # 01:00 local on 2 July (23:00 UTC on 1 July) is the night shift of 1 July.
    check(
        current_shift(berlin, utc(2025, 7, 1, 23)), "Night", date(2025, 7, 1), utc(2025, 7, 1, 20), utc(2025, 7, 2, 4)
    )


@pytest.mark.req("OEE-008")
def test_now_may_be_given_in_any_zone() -> None:
    berlin = site("Europe/Berlin")
    now = utc(2025, 1, 6, 12)
    assert current_shift(berlin, now) == current_shift(berlin, now.astimezone(ZoneInfo("America/New_York")))


@pytest.mark.req("OEE-008")
def test_spring_forward_night_is_seven_hours() -> None:
    # 2025-03-30: Berlin clocks jump from 02:00 CET to 03:00 CEST.
    berlin = site("Europe/Berlin")
    for now in (utc(2025, 3, 29, 21), utc(2025, 3, 30, 0, 59), utc(2025, 3, 30, 1, 30), utc(2025, 3, 30, 3, 59)):
        slot = current_shift(berlin, now)
        check(slot, "Night", date(2025, 3, 29), utc(2025, 3, 29, 21), utc(2025, 3, 30, 4))
        assert slot.end - slot.start == timedelta(hours=7)
    early = current_shift(berlin, utc(2025, 3, 30, 4))
    check(early, "Early", date(2025, 3, 30), utc(2025, 3, 30, 4), utc(2025, 3, 30, 12))
    assert early.end - early.start == timedelta(hours=8)


@pytest.mark.req("OEE-008")
def test_fall_back_night_is_nine_hours() -> None:
    # 2025-10-26: Berlin clocks go back from 03:00 CEST to 02:00 CET; 02:30 local happens twice.
    berlin = site("Europe/Berlin")
    for now in (utc(2025, 10, 25, 20), utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30), utc(2025, 10, 26, 4, 59)):
        slot = current_shift(berlin, now)
        check(slot, "Night", date(2025, 10, 25), utc(2025, 10, 25, 20), utc(2025, 10, 26, 5))
        assert slot.end - slot.start == timedelta(hours=9)
    check(
        current_shift(berlin, utc(2025, 10, 26, 5)),
        "Early",
        date(2025, 10, 26),
        utc(2025, 10, 26, 5),
        utc(2025, 10, 26, 13),
    )


@pytest.mark.req("OEE-008")
def test_bounds_are_utc() -> None:
    slot = current_shift(site("Europe/Berlin"), utc(2025, 7, 1, 10))
    assert slot.start.utcoffset() == slot.end.utcoffset() == timedelta(0)
    assert (slot.start, slot.end) == (utc(2025, 7, 1, 4), utc(2025, 7, 1, 12))


@pytest.mark.req("OEE-008")
def test_no_shifts_configured_means_one_day_shift() -> None:
    plant = site("Europe/Berlin", shifts=())
    check(current_shift(plant, utc(2025, 1, 6, 12)), "Day", date(2025, 1, 6), local(2025, 1, 6), local(2025, 1, 7))
    # 23:30 UTC on 6 January is already 7 January in Berlin.
    check(current_shift(plant, utc(2025, 1, 6, 23, 30)), "Day", date(2025, 1, 7), local(2025, 1, 7), local(2025, 1, 8))
    # On the spring-forward day the local day has 23 hours.
    slot = current_shift(plant, utc(2025, 3, 30, 12))
    check(slot, "Day", date(2025, 3, 30), local(2025, 3, 30), local(2025, 3, 31))
    assert slot.end - slot.start == timedelta(hours=23)


@pytest.mark.req("OEE-008")
def test_time_between_shifts_is_unscheduled() -> None:
    two = site(shifts=THREE_SHIFTS[:2])
    assert current_shift(two, utc(2025, 1, 6, 13)).name == "Early"
    gap = current_shift(two, utc(2025, 1, 6, 23))
    check(gap, "Unscheduled", date(2025, 1, 6), utc(2025, 1, 6), utc(2025, 1, 7))
    assert current_shift(two, utc(2025, 1, 7, 3)).name == "Unscheduled"

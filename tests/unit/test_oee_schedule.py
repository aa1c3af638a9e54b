"""Planned busy time: scheduled shifts (plant local time, DST, midnight) minus planned stops; shift slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hmi.config import LineOee, PlannedStop, Shift, Site
from hmi.oee.schedule import (
    intersect,
    merge,
    planned_busy_intervals,
    planned_stop_intervals,
    scheduled_intervals,
    subtract,
    total_s,
)
from hmi.shifts import current_shift, previous_shifts, shift_slots_between

BERLIN = ZoneInfo("Europe/Berlin")
SHIFTS = (
    Shift(name="Early", start=time(6), end=time(14)),
    Shift(name="Late", start=time(14), end=time(22)),
    Shift(name="Night", start=time(22), end=time(6)),
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def site(zone: str = "Europe/Berlin", shifts: tuple[Shift, ...] = SHIFTS) -> Site:
    return Site(name="P", timezone=zone, shifts=shifts)


def oee(shifts: tuple[str, ...] = (), stops: tuple[PlannedStop, ...] = ()) -> LineOee:
    return LineOee(ideal_rate_per_min=2, shifts=shifts, planned_stops=stops)


@pytest.mark.req("OEE-003")
def test_interval_algebra() -> None:
    a, b, c, d = utc(2025, 1, 1, 1), utc(2025, 1, 1, 2), utc(2025, 1, 1, 3), utc(2025, 1, 1, 4)
    assert merge([(c, d), (a, b), (b, c)]) == [(a, d)]
    assert subtract([(a, d)], [(b, c)]) == [(a, b), (c, d)]
    assert subtract([(a, b)], [(a, d)]) == []
    assert intersect([(a, c)], [(b, d)]) == [(b, c)]
    assert total_s([(a, c), (b, d)]) == 3 * 3600


@pytest.mark.req("OEE-003")
def test_every_shift_when_the_line_names_none() -> None:
    start, end = local(2025, 1, 6), local(2025, 1, 7)
    assert scheduled_intervals(site(), oee(), start, end) == [(start.astimezone(UTC), end.astimezone(UTC))]


@pytest.mark.req("OEE-003")
def test_whole_window_without_site_shifts_or_oee() -> None:
    start, end = utc(2025, 1, 6), utc(2025, 1, 6, 5)
    assert scheduled_intervals(site(shifts=()), oee(("Early",)), start, end) == [(start, end)]
    assert scheduled_intervals(site(), None, start, end) == [(start, end)]


@pytest.mark.req("OEE-003")
def test_named_shifts_only_and_planned_stops_subtracted() -> None:
    o = oee(("Early",), (PlannedStop(name="Lunch", start=time(11, 30), end=time(12)),))
    busy = planned_busy_intervals(site(), o, local(2025, 1, 6), local(2025, 1, 8))
    assert busy == [
        (local(2025, 1, 6, 6).astimezone(UTC), local(2025, 1, 6, 11, 30).astimezone(UTC)),
        (local(2025, 1, 6, 12).astimezone(UTC), local(2025, 1, 6, 14).astimezone(UTC)),
        (local(2025, 1, 7, 6).astimezone(UTC), local(2025, 1, 7, 11, 30).astimezone(UTC)),
        (local(2025, 1, 7, 12).astimezone(UTC), local(2025, 1, 7, 14).astimezone(UTC)),
    ]


@pytest.mark.req("OEE-003")
def test_planned_stop_across_midnight_inside_a_night_shift() -> None:
    o = oee(("Night",), (PlannedStop(name="Cleaning", start=time(23, 30), end=time(0, 30)),))
    start, end = local(2025, 1, 6, 20), local(2025, 1, 7, 8)
    assert planned_stop_intervals(site(), o, start, end) == [
        (local(2025, 1, 6, 23, 30).astimezone(UTC), local(2025, 1, 7, 0, 30).astimezone(UTC))
    ]
    assert total_s(planned_busy_intervals(site(), o, start, end)) == 7 * 3600


@pytest.mark.req("OEE-003")
def test_window_cuts_the_schedule() -> None:
    busy = planned_busy_intervals(site(), oee(("Early",)), local(2025, 1, 6, 10), local(2025, 1, 6, 12))
    assert total_s(busy) == 2 * 3600


@pytest.mark.req("OEE-008")
def test_night_shift_on_the_spring_dst_night_is_seven_hours() -> None:
    # 2025-03-30 02:00 CET -> 03:00 CEST: the night shift 22:00-06:00 of the 29th lasts 7 hours.
    busy = scheduled_intervals(site(), oee(("Night",)), local(2025, 3, 29, 12), local(2025, 3, 30, 12))
    assert busy == [(utc(2025, 3, 29, 21), utc(2025, 3, 30, 4))]
    autumn = scheduled_intervals(site(), oee(("Night",)), local(2025, 10, 25, 12), local(2025, 10, 26, 12))
    assert total_s(autumn) == 9 * 3600


@pytest.mark.req("OEE-008")
def test_a_dst_week_of_early_shifts_is_56_hours() -> None:
    busy = scheduled_intervals(site(), oee(("Early",)), local(2025, 3, 24), local(2025, 3, 31))
    assert len(busy) == 7
    assert total_s(busy) == 56 * 3600


@pytest.mark.req("OEE-008")
def test_shift_slots_between_cross_midnight_in_order() -> None:
    slots = shift_slots_between(site(), local(2025, 1, 6, 3), local(2025, 1, 6, 15))
    assert [(s.name, s.date) for s in slots] == [
        ("Night", date(2025, 1, 5)),
        ("Early", date(2025, 1, 6)),
        ("Late", date(2025, 1, 6)),
    ]
    assert slots[0].start == local(2025, 1, 5, 22).astimezone(UTC)
    assert slots[0].end == local(2025, 1, 6, 6).astimezone(UTC)


@pytest.mark.req("OEE-008")
def test_shift_slots_agree_with_current_shift() -> None:
    s = site()
    now = local(2025, 3, 29, 23, 59)
    for _ in range(200):
        now += timedelta(minutes=37)
        current = current_shift(s, now)
        assert previous_shifts(s, now, 1) == [current]


@pytest.mark.req("OEE-008")
def test_previous_shifts_of_named_shifts_oldest_first() -> None:
    now = local(2025, 1, 7, 3)
    last = previous_shifts(site(), now, 4)
    assert [(x.name, x.date.day) for x in last] == [("Night", 5), ("Early", 6), ("Late", 6), ("Night", 6)]
    nights = previous_shifts(site(), now, 3, {"Night"})
    assert [(x.name, x.date.day) for x in nights] == [("Night", 4), ("Night", 5), ("Night", 6)]
    assert previous_shifts(site(), now, 0) == []


@pytest.mark.req("OEE-008")
def test_days_without_site_shifts() -> None:
    slots = previous_shifts(site(shifts=()), local(2025, 1, 7, 3), 2)
    assert [(x.name, x.date.day) for x in slots] == [("Day", 6), ("Day", 7)]

"""Which shift is on: shifts are defined in plant local time and may cross midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hmi.config import Shift, Site


@dataclass(frozen=True, slots=True)
class ShiftSlot:
    """One occurrence of a shift: its name, the local date it started on, and its UTC bounds."""

    name: str
    date: date
    start: datetime
    end: datetime


def current_shift(site: Site, now: datetime) -> ShiftSlot:
    """The shift running at `now` (aware). Without configured shifts the whole local day is one shift 'Day'."""
    zone = site.zone
    local = now.astimezone(zone)
    shifts = site.shifts or (Shift(name="Day", start="00:00", end="00:00"),)  # type: ignore[arg-type]
    # Check today's and yesterday's occurrences: a night shift started yesterday may still be running.
    for day in (local.date(), local.date() - timedelta(days=1)):
        for shift in shifts:
            start = datetime.combine(day, shift.start, zone)
            end = datetime.combine(day, shift.end, zone)
            if end <= start:
                end += timedelta(days=1)
            if start <= local < end:
                # UTC, as documented: arithmetic on two times in one zone ignores a DST change between them.
                return ShiftSlot(shift.name, day, start.astimezone(UTC), end.astimezone(UTC))
    # Gaps between configured shifts belong to no shift; notes then go to the day itself.
    start = datetime.combine(local.date(), datetime.min.time(), zone)
    return ShiftSlot("Unscheduled", local.date(), start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))

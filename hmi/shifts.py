"""Which shift is on: shifts are defined in plant local time and may cross midnight."""

from __future__ import annotations

from collections.abc import Collection
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
    # start/end are the configuration file's "HH:MM" text, which the model parses into a time.
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


def _occurrence(day: date, shift: Shift, site: Site) -> ShiftSlot:
    zone = site.zone
    start = datetime.combine(day, shift.start, zone)
    end = datetime.combine(day, shift.end, zone)
    if end <= start:
        # Wall-clock addition: the shift ends at its local end time the next day, whatever DST did overnight.
        end += timedelta(days=1)
    return ShiftSlot(shift.name, day, start.astimezone(UTC), end.astimezone(UTC))


def shift_slots_between(
    site: Site, start: datetime, end: datetime, names: Collection[str] | None = None
) -> list[ShiftSlot]:
    """Every occurrence of the site's shifts (only `names` when given) overlapping [start, end), oldest first.

    Without configured shifts each local day is one shift 'Day', as in `current_shift`.
    """
    # As in current_shift: the "HH:MM" text is parsed into a time by the model.
    shifts = site.shifts or (Shift(name="Day", start="00:00", end="00:00"),)  # type: ignore[arg-type]
    if names is not None:
        shifts = tuple(s for s in shifts if s.name in names)
    zone = site.zone
    # A shift that started the local day before `start` (a night shift) may still overlap it.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    out: list[ShiftSlot] = []
    while day <= last:
        for shift in shifts:
            slot = _occurrence(day, shift, site)
            if slot.start < end and slot.end > start:
                out.append(slot)
        day += timedelta(days=1)
    return sorted(out, key=lambda slot: slot.start)


def previous_shifts(site: Site, now: datetime, count: int, names: Collection[str] | None = None) -> list[ShiftSlot]:
    """The last `count` shift occurrences that have started by `now` (the running one included), oldest first."""
    if count <= 0:
        return []
    per_day = len([s for s in site.shifts if names is None or s.name in names]) if site.shifts else 1
    if per_day == 0:
        return []
    days = -(-count // per_day) + 2
    slots = [
        s
        for s in shift_slots_between(site, now - timedelta(days=days), now + timedelta(microseconds=1), names)
        if s.start <= now
    ]
    return slots[-count:]

"""When a line is planned to produce: scheduled shifts minus planned stops, as merged UTC intervals (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hmi.config import LineOee, Site
from hmi.shifts import shift_slots_between

Interval = tuple[datetime, datetime]
"""[start, end) in UTC, start < end."""


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same time; empty ones dropped, touching ones joined."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The time covered by both `a` and `b`."""
    left, right = merge(a), merge(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The time covered by `a` but not by `b`."""
    holes = merge(b)
    out: list[Interval] = []
    for start, end in merge(a):
        cursor = start
        for h_start, h_end in holes:
            if h_end <= cursor or h_start >= end:
                continue
            if h_start > cursor:
                out.append((cursor, h_start))
            cursor = max(cursor, h_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def total_s(intervals: Iterable[Interval]) -> float:
    """Seconds covered by (merged) intervals."""
    return sum((end - start).total_seconds() for start, end in merge(intervals))


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The intervals cut to [start, end)."""
    return intersect(intervals, [(start, end)])


def scheduled_intervals(site: Site, oee: LineOee | None, start: datetime, end: datetime) -> list[Interval]:
    """The line's scheduled shifts within [start, end); the whole window without an OEE schedule or site shifts."""
    if start >= end:
        return []
    if oee is None or not site.shifts:
        return [(start.astimezone(UTC), end.astimezone(UTC))]
    names = set(oee.shifts) or None
    return clip(((s.start, s.end) for s in shift_slots_between(site, start, end, names)), start, end)


def planned_stop_intervals(site: Site, oee: LineOee | None, start: datetime, end: datetime) -> list[Interval]:
    """The configured planned stops (plant local time, may cross midnight) within [start, end)."""
    if oee is None or not oee.planned_stops or start >= end:
        return []
    zone = site.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    found: list[Interval] = []
    while day <= last:
        for stop in oee.planned_stops:
            s = datetime.combine(day, stop.start, zone)
            e = datetime.combine(day, stop.end, zone)
            if e <= s:
                e += timedelta(days=1)
            found.append((s.astimezone(UTC), e.astimezone(UTC)))
        day += timedelta(days=1)
    return clip(found, start, end)


def planned_busy_intervals(site: Site, oee: LineOee | None, start: datetime, end: datetime) -> list[Interval]:
    """Scheduled time minus the configured planned stops within [start, end): planned busy time (ISO 22400-2)."""
    return subtract(scheduled_intervals(site, oee, start, end), planned_stop_intervals(site, oee, start, end))

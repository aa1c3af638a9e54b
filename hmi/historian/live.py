"""Live trend history: a ring buffer per numeric tag, kept in memory for the trend screens.

Why columns of plain numbers and not a deque of (time, value, quality) tuples: a tuple point with its datetime and
float objects costs about 144 bytes, a point here 17 (8 for the time in microseconds, 8 for the value, 1 for the
quality). The live trend keeps every numeric tag's last 15 minutes, so at 5,000 changes a second that is 4.5 million
points: 650 MiB as tuples, 75 MiB here. Points are made into tuples only when a screen reads them.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from hmi.tags import Quality, TagCache, TagState

Point = tuple[datetime, float | None, Quality]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUALITIES = list(Quality)
_CODE = {q: i for i, q in enumerate(_QUALITIES)}
# Dropped points are cut off the front of the columns in one move once this many have gathered (and they are at
# least a quarter of the columns), so a drop costs no copy and the columns hold at most a third more than kept.
_COMPACT_AT = 1024


def _us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


class _Ring:
    """One tag's points, oldest first: times (µs since the epoch, never decreasing), values (NaN for a gap) and
    quality codes, from `start` on (what lies before it was dropped)."""

    __slots__ = ("quality", "start", "times", "values")

    def __init__(self) -> None:
        self.times = array("q")
        self.values = array("d")
        self.quality = bytearray()
        self.start = 0

    def __len__(self) -> int:
        return len(self.times) - self.start

    def last_us(self) -> int | None:
        return self.times[-1] if len(self) else None

    def append(self, t_us: int, value: float | None, quality: Quality, horizon_us: int, max_points: int) -> None:
        self.times.append(t_us)
        self.values.append(math.nan if value is None else value)
        self.quality.append(_CODE[quality])
        times, start, end = self.times, self.start, len(self.times)
        start = max(start, end - max_points)
        while start < end and times[start] < horizon_us:
            start += 1
        self.start = start
        if start >= _COMPACT_AT and start * 4 >= end:
            del self.times[:start]
            del self.values[:start]
            del self.quality[:start]
            self.start = 0

    def points(self, since_us: int | None) -> list[Point]:
        first = self.start if since_us is None else bisect_right(self.times, since_us, self.start)
        return [
            (
                _EPOCH + timedelta(microseconds=t),
                None if math.isnan(v) else v,
                _QUALITIES[q],
            )
            for t, v, q in zip(self.times[first:], self.values[first:], self.quality[first:], strict=True)
        ]


class TrendBuffer:
    """Keeps the last `window` of values per tag; a non-good value is kept as a gap (None), never as a number."""

    def __init__(
        self, cache: TagCache, names: Iterable[str], window: timedelta = timedelta(minutes=15), max_points: int = 20_000
    ) -> None:
        self._cache = cache
        self._names = set(names)
        self._window = window
        self._max_points = max_points
        self._points: dict[str, _Ring] = {n: _Ring() for n in self._names}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Record every change of the buffered tags from now on."""
        self._unsubscribe = self._cache.subscribe(self._names, self._record)

    def stop(self) -> None:
        """End the cache subscription."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def use_names(self, names: Iterable[str]) -> None:
        """Buffer these tags from now on (a plant reload): kept tags keep their points, removed ones are dropped,
        new ones start empty."""
        wanted = set(names)
        for name in self._names - wanted:
            del self._points[name]
        for name in wanted - self._names:
            self._points[name] = _Ring()
        self._names = wanted
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = self._cache.subscribe(self._names, self._record)

    def _record(self, states: Sequence[TagState]) -> None:
        window_us = self._window // timedelta(microseconds=1)
        for s in states:
            ring = self._points[s.name]
            value = s.value if s.quality is Quality.GOOD and isinstance(s.value, int | float) else None
            # A STALE state carries the time of its last value; stamp the gap when the loss was seen instead.
            at = _us(s.stale_since if s.quality is Quality.STALE and s.stale_since else s.time)
            last = ring.last_us()
            if last is not None and at < last:
                at = last  # a late sample: times never go backwards
            ring.append(at, None if value is None else float(value), s.quality, at - window_us, self._max_points)

    def points(self, name: str, since: datetime | None = None) -> list[Point]:
        """Points of `name`, oldest first (times in UTC), optionally only those after `since`. A value that is not
        a number (a gap, or NaN from the source) is None."""
        ring = self._points.get(name)
        if ring is None or not len(ring):
            return []
        return ring.points(None if since is None else _us(since))

    @property
    def names(self) -> set[str]:
        """The tags kept."""
        return set(self._names)

"""Live trend history: a ring buffer per numeric tag, kept in memory for the trend screens."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from hmi.tags import Quality, TagCache, TagState

Point = tuple[datetime, float | None, Quality]


class TrendBuffer:
    """Keeps the last `window` of values per tag; a non-good value is kept as a gap (None), never as a number."""

    def __init__(
        self, cache: TagCache, names: Iterable[str], window: timedelta = timedelta(minutes=15), max_points: int = 20_000
    ) -> None:
        self._cache = cache
        self._names = set(names)
        self._window = window
        self._max_points = max_points
        self._points: dict[str, deque[Point]] = {n: deque(maxlen=max_points) for n in self._names}
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
            self._points[name] = deque(maxlen=self._max_points)
        self._names = wanted
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = self._cache.subscribe(self._names, self._record)

    def _record(self, states: Sequence[TagState]) -> None:
        for s in states:
            buf = self._points[s.name]
            value = s.value if s.quality is Quality.GOOD and isinstance(s.value, int | float) else None
            # A STALE state carries the time of its last value; stamp the gap when the loss was seen instead.
            at = s.stale_since if s.quality is Quality.STALE and s.stale_since else s.time
            if buf and at < buf[-1][0]:
                at = buf[-1][0]
            buf.append((at, float(value) if value is not None else None, s.quality))
            horizon = at - self._window
            while buf and buf[0][0] < horizon:
                buf.popleft()

    def points(self, name: str, since: datetime | None = None) -> list[Point]:
        """Points of `name`, oldest first, optionally only those after `since`."""
        buf = self._points.get(name)
        if not buf:
            return []
        if since is None:
            return list(buf)
        return [p for p in buf if p[0] > since]

    @property
    def names(self) -> set[str]:
        """The tags kept."""
        return set(self._names)

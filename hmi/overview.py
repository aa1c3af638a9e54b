"""What the level 1 overview reads from the database: each line's report for the running shift (OEE, the recorded
start of its current state) and the last hour of its speed, for every page at once.

Read at most every `refresh_s` (by the injected clock) however many overview pages and wall screens are open, one
read at a time; a failed read keeps the figures from before and says why.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hmi.clock import Clock
from hmi.config import PlantConfig
from hmi.historian.query import HistoryQuery, Series
from hmi.oee.service import LineReport, OeeService
from hmi.store.database import DatabaseUnavailable

REFRESH_S = 30.0
SPARK_WINDOW = timedelta(hours=1)
SPARK_POINTS = 120
"""Points per sparkline: a few per minute is all a 240 px wide line can show (min and max per bucket)."""


@dataclass(frozen=True)
class Figures:
    """One read of the overview's slow figures."""

    at: datetime
    reports: dict[str, LineReport] = field(default_factory=dict)
    speeds: dict[str, Series] = field(default_factory=dict)
    error: str = ""
    """Why the figures are old: the database's Text (translated where shown), empty when they are fresh."""


class OverviewFigures:
    """The shift reports and speed histories of every line, cached for `refresh_s`."""

    def __init__(
        self, plant: PlantConfig, oee: OeeService, history: HistoryQuery, clock: Clock, refresh_s: float = REFRESH_S
    ) -> None:
        self._plant = plant
        self._oee = oee
        self._history = history
        self._clock = clock
        self._refresh = timedelta(seconds=refresh_s)
        self._lock = asyncio.Lock()
        self._figures: Figures | None = None

    @property
    def latest(self) -> Figures | None:
        """The last figures read, without reading."""
        return self._figures

    async def get(self) -> Figures:
        """The figures, read again when older than `refresh_s`; concurrent callers share one read."""
        async with self._lock:
            now = self._clock()
            if self._figures is None or now - self._figures.at >= self._refresh:
                self._figures = await self._read(now)
            return self._figures

    async def _read(self, now: datetime) -> Figures:
        shift_start, shift_end = self._oee.windows(now)["shift"]
        lines = [line for _, line in self._plant.lines()]
        speed_tags = {line.speed_tag: line.name for line in lines if line.speed_tag}
        try:
            reports = {line.name: await self._oee.report(line.name, shift_start, shift_end) for line in lines}
            found = (
                await self._history.series(list(speed_tags), now - SPARK_WINDOW, now, max_points=SPARK_POINTS)
                if speed_tags
                else {}
            )
        except DatabaseUnavailable as exc:
            old = self._figures
            # Keep what was shown (marked as old by the screen), and retry at the next refresh, not at every tick.
            # The exception's own sentence (a Text), not str(exc): the screen shows it in the reader's language.
            return Figures(now, old.reports if old else {}, old.speeds if old else {}, error=exc.args[0])
        return Figures(now, reports, {speed_tags[tag]: series for tag, series in found.items()})

"""A live plotly trend: sends the history once, then appends new points (extendTraces), never the whole figure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nicegui import ui

from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.history_figure import limit_shapes, local_x, pen_trace, trend_layout, units_of, vertical_line
from screens.testid import testid

MAX_POINTS = 4000
BACKFILL_REQUERY_S = 10.0
"""While the ring buffer does not reach back over the whole window, the older part is re-read this often."""


class LiveTrend:
    """Trend of `names` from the runtime's ring buffers, alarm limits drawn as dashed lines (as on /trends)."""

    def __init__(
        self,
        rt: Runtime,
        names: list[str],
        *,
        height: int = 320,
        interval: float = 1.0,
        marks: list[datetime] | None = None,
    ) -> None:
        self._rt = rt
        self._zone = rt.plant.site.zone
        self.names = [n for n in names if n in rt.live_trends.names]
        self._last: dict[str, datetime | None] = {}
        units = units_of(rt.plant, self.names)
        traces = []
        for i, name in enumerate(self.names):
            points = rt.live_trends.points(name)
            self._last[name] = points[-1][0] if points else None
            traces.append(pen_trace(rt.plant, name, i, units, [self._x(p[0]) for p in points], [p[1] for p in points]))
        activations = [
            vertical_line(self._x(m), {"width": 2, "color": "#1a1a1a"}, {"text": "activation", "textposition": "end"})
            for m in marks or []
        ]
        layout = trend_layout(self._zone, units, limit_shapes(rt.plant, self.names, units) + activations, height=height)
        self.figure: dict[str, Any] = {
            "data": traces,
            "layout": layout,
            "config": {"displaylogo": False, "responsive": True},
        }
        self.plot = testid(ui.plotly(self.figure).classes("w-full"), "trend")
        self.timer = ui.timer(interval, self.append)
        # The ring buffer holds only what arrived since the HMI started; older values of the window (a back-fill,
        # a replayed spool) are in the historian and read from there until the ring covers the window.
        self._from_history: dict[str, int] = dict.fromkeys(self.names, 0)
        self.backfill_timer = ui.timer(BACKFILL_REQUERY_S, self.backfill)
        ui.timer(0.0, self.backfill, once=True)

    def _ring_start(self, name: str) -> datetime | None:
        points = self._rt.live_trends.points(name)
        return points[0][0] if points else None

    async def backfill(self) -> int:
        """Read the part of the window before each ring buffer's first point from the historian; returns points."""
        start = self._rt.clock() - self._rt.trend_window
        wanted = {n: self._ring_start(n) or self._rt.clock() for n in self.names}
        wanted = {n: t for n, t in wanted.items() if t > start}
        if not wanted:
            self.backfill_timer.deactivate()
            return 0
        try:
            found = await self._rt.history.series(list(wanted), start, max(wanted.values()))
        except DatabaseUnavailable:
            return 0  # the live part goes on; the next round tries again
        total = 0
        for i, name in enumerate(self.names):
            series = found.get(name)
            if name not in wanted or series is None:
                continue
            old = [(t, v) for t, v in zip(series.times, series.values, strict=True) if t < wanted[name]]
            trace = self.figure["data"][i]
            # Replace what an earlier round put in front of the ring's points, keep the ring's own.
            keep = self._from_history[name]
            trace["x"] = [self._x(t) for t, _ in old] + trace["x"][keep:]
            trace["y"] = [v for _, v in old] + trace["y"][keep:]
            self._from_history[name] = len(old)
            total += len(old)
        if total:
            self.plot.update()
        return total

    def _x(self, t: datetime) -> str:
        return local_x(t, self._zone)

    def append(self) -> int:
        """Send the points that arrived since the last call; returns how many."""
        xs: list[list[str]] = []
        ys: list[list[float | None]] = []
        idx: list[int] = []
        total = 0
        for i, name in enumerate(self.names):
            points = self._rt.live_trends.points(name, since=self._last.get(name))
            if not points:
                continue
            self._last[name] = points[-1][0]
            x = [self._x(p[0]) for p in points]
            y = [p[1] for p in points]
            # Keep the server-side figure in step, so a reconnecting browser redraws the same trend.
            trace = self.figure["data"][i]
            trace["x"] = (trace["x"] + x)[-MAX_POINTS:]
            trace["y"] = (trace["y"] + y)[-MAX_POINTS:]
            xs.append(x)
            ys.append(y)
            idx.append(i)
            total += len(points)
        if idx:
            self.plot.run_plot_method("extendTraces", {"x": xs, "y": ys}, idx, MAX_POINTS)
        return total

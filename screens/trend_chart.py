"""A live plotly trend: sends the history once, then appends new points (extendTraces), never the whole figure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from nicegui import ui

from hmi.historian.query import hole_us
from hmi.oee.service import Stop
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.history_figure import (
    CONFIG,
    axis_refs,
    break_gaps,
    chart_layout,
    in_range,
    local_x,
    parse_x,
    pen_trace,
    stop_bands,
    vertical_line,
)
from screens.i18n import _
from screens.testid import testid

MAX_POINTS = 4000
BACKFILL_REQUERY_S = 10.0
"""While the ring buffer does not reach back over the whole window, the older part is re-read this often."""
STOPS_REQUERY_S = 10.0
"""How often the stops of the pens' lines are read again (a stop's band grows while the line stays stopped)."""


class LiveTrend:
    """Trend of `names` from the runtime's ring buffers, each pen's limits drawn and labelled as on /trends; BAD
    and STALE values (None in the ring) and missing history break the line."""

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
        self._height = height
        refs = axis_refs(rt.plant, self.names)
        traces = []
        for i, name in enumerate(self.names):
            points = rt.live_trends.points(name)
            self._last[name] = points[-1][0] if points else None
            traces.append(
                pen_trace(rt.plant, name, i, refs[name], [self._x(p[0]) for p in points], [p[1] for p in points])
            )
        self._activations = [
            vertical_line(
                self._x(m), {"width": 2, "color": "#1a1a1a"}, {"text": _("activation"), "textposition": "end"}
            )
            for m in marks or []
        ]
        self._stops: list[Stop] = []
        self.figure: dict[str, Any] = {"data": traces, "layout": {}, "config": dict(CONFIG)}
        self._relayout()
        self.plot = testid(ui.plotly(self.figure).classes("w-full"), "trend")
        self.timer = ui.timer(interval, self.append)
        # The ring buffer holds only what arrived since the HMI started; older values of the window (a back-fill,
        # a replayed spool) are in the historian and read from there until the ring covers the window.
        self._from_history: dict[str, int] = dict.fromkeys(self.names, 0)
        self.backfill_timer = ui.timer(BACKFILL_REQUERY_S, self.backfill)
        ui.timer(0.0, self.backfill, once=True)
        self.stops_timer = ui.timer(STOPS_REQUERY_S, self.read_stops)
        ui.timer(0.0, self.read_stops, once=True)

    def _relayout(self) -> None:
        """The layout for the points held now (the value axes' ranges hold them and every limit)."""
        values = {name: trace["y"] for name, trace in zip(self.names, self.figure["data"], strict=True)}
        now = self._rt.clock()
        bands = stop_bands(self._stops, self._zone, now - self._rt.trend_window, now)
        self.figure["layout"] = chart_layout(
            self._rt.plant, self._zone, self.names, values, height=self._height, shapes=[*self._activations, *bands]
        )

    async def read_stops(self) -> int:
        """Read the stops of the pens' lines over the window and band them; returns how many."""
        now = self._rt.clock()
        try:
            stops = await self._rt.oee.stops_of_tags(self.names, now - self._rt.trend_window, now)
        except DatabaseUnavailable:
            return len(self._stops)  # the bands drawn stay; the next round tries again
        if stops != self._stops:
            self._stops = stops
            self._relayout()
            self.plot.update()
        return len(stops)

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
            ring_x, ring_y = trace["x"][keep:], trace["y"][keep:]
            times, values = [t for t, _ in old], [v for _, v in old]
            if old and ring_x:
                # Where the history ends long before the ring's first point, the recorder wrote nothing: a gap.
                gap = timedelta(microseconds=hole_us(self._rt.plant, name))
                times, values = break_gaps([*times, parse_x(ring_x[0], self._zone)], [*values, 0.0], gap)
                times, values = times[:-1], values[:-1]
            trace["x"] = [self._x(t) for t in times] + ring_x
            trace["y"] = values + ring_y
            self._from_history[name] = len(times)
            total += len(old)
        if total:
            self._relayout()
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
            new = {self.names[i]: y for i, y in zip(idx, ys, strict=True)}
            if in_range(self.figure["layout"], self._rt.plant, self.names, new):
                self.plot.run_plot_method("extendTraces", {"x": xs, "y": ys}, idx, MAX_POINTS)
            else:
                # A value beyond the fixed value axes: new ranges, and the limit labels placed again.
                self._relayout()
                self.plot.update()
        return total

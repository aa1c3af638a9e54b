"""The plotly figure of a historical trend: one axis per unit, alarm limits, activations, bad/stale periods.

Pure data in, a figure dict out (no NiceGUI here), so what the chart receives is testable on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hmi.config import PlantConfig
from hmi.historian.export import SeriesLike

COLOURS = ("#1f3b73", "#5a5a5a", "#0b7a75", "#7a4f0b", "#3d3d8f", "#6b2d5c", "#2f5f2f", "#8f3d3d")
LIMIT_TYPES = ("HH", "H", "L", "LL")
AXIS_STEP = 0.07  # share of the width each extra right-hand axis takes
MAX_MARKS = 60
# Eight pens use at most axes y..y8; the cursor grid has its own hidden axis.
CURSOR_AXIS = "yaxis9"
CURSOR_TRACE = "cursor"
CURSOR_POINTS = 240


@dataclass(frozen=True, slots=True)
class Mark:
    """An alarm activation drawn on the trend."""

    at: datetime
    alarm_id: str
    priority: str


def local_x(t: datetime, zone: ZoneInfo) -> str:
    """A plotly date string in plant local time (plotly has no zones; the axis title names it)."""
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def parse_x(text: str, zone: ZoneInfo) -> datetime:
    """A plotly date string (plant local) back to aware UTC; ValueError when it is not one."""
    text = str(text).strip()
    date_part, _, time_part = text.partition(" ")
    if "." in time_part:
        whole, frac = time_part.split(".", 1)
        time_part = f"{whole}.{(frac + '000000')[:6]}"
    # Plotly strings carry no offset: in the repeated hour of a DST change the first occurrence is meant.
    return datetime.fromisoformat(f"{date_part} {time_part}".strip()).replace(tzinfo=zone).astimezone(UTC)


def units_of(plant: PlantConfig, pens: Sequence[str]) -> list[str]:
    """The distinct units of `pens` in pen order; each gets its own y axis."""
    units: list[str] = []
    for name in pens:
        unit = plant.tags[name].tag.unit
        if unit not in units:
            units.append(unit)
    return units


def _axis_ref(index: int) -> str:
    return "y" if index == 0 else f"y{index + 1}"


def vertical_line(x: str, line: dict[str, Any], label: dict[str, Any] | None = None) -> dict[str, Any]:
    """A plotly shape: a line at `x` (a local_x text) across the whole plot height, optionally labelled."""
    shape: dict[str, Any] = {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "x0": x,
        "x1": x,
        "line": line,
    }
    if label is not None:
        shape["label"] = label
    return shape


def limit_shapes(plant: PlantConfig, pens: Sequence[str], units: Sequence[str]) -> list[dict[str, Any]]:
    """Dashed lines at the HH/H/L/LL limits of `pens`, each on its unit's axis (deviation and rate-of-change
    limits are not values of the pen, so they are not drawn)."""
    shapes: list[dict[str, Any]] = []
    for name in pens:
        tag = plant.tags[name].tag
        axis = _axis_ref(units.index(tag.unit))
        for alarm in tag.alarms:
            if alarm.type in LIMIT_TYPES and alarm.limit is not None:
                shapes.append(
                    {
                        "type": "line",
                        "xref": "paper",
                        "x0": 0,
                        "x1": 1,
                        "yref": axis,
                        "y0": alarm.limit,
                        "y1": alarm.limit,
                        "line": {"dash": "dash", "width": 1, "color": "#7a1010"},
                        "label": {
                            "text": f"{name.split('.')[-1]} {alarm.type} {alarm.limit:g}",
                            "font": {"size": 10},
                            "textposition": "end",
                        },
                    }
                )
    return shapes


def pen_trace(
    plant: PlantConfig, name: str, index: int, units: Sequence[str], x: list[str], y: list[float | None]
) -> dict[str, Any]:
    """The line of one pen, on its unit's axis, in the pen's colour; gaps stay gaps (connectgaps off)."""
    tag = plant.tags[name].tag
    return {
        "type": "scatter",
        "mode": "lines",
        "name": f"{name} [{tag.unit}]" if tag.unit else name,
        "x": x,
        "y": y,
        "line": {"color": COLOURS[index % len(COLOURS)], "width": 2},
        "connectgaps": False,
        "yaxis": _axis_ref(units.index(tag.unit)),
    }


def trend_layout(
    zone: ZoneInfo, units: Sequence[str], shapes: list[dict[str, Any]], *, height: int, right_edge: float = 1.0
) -> dict[str, Any]:
    """The layout every trend shares (history and live): time axis in plant local time, one y axis per unit (the
    first on the left, the others on the right from `right_edge`), the legend below."""
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 60, "r": 60, "t": 10, "b": 40},
        "paper_bgcolor": "#e8e8e8",
        "plot_bgcolor": "#f2f2f2",
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.18},
        "xaxis": {"title": {"text": f"time ({zone.key})"}, "gridcolor": "#cccccc"},
        "yaxis": {"title": {"text": units[0] if units else ""}, "gridcolor": "#cccccc"},
        "shapes": shapes,
    }
    for k, unit in enumerate(units[1:], start=2):
        layout[f"yaxis{k}"] = {
            "title": {"text": unit},
            "overlaying": "y",
            "side": "right",
            "anchor": "x" if k == 2 else "free",
            "position": min(1.0, right_edge + AXIS_STEP * (k - 2)),
        }
    return layout


def build_figure(
    plant: PlantConfig,
    zone: ZoneInfo,
    pens: Sequence[str],
    series: Mapping[str, SeriesLike],
    start: datetime,
    end: datetime,
    *,
    marks: Sequence[Mark] = (),
    cursor: datetime | None = None,
    height: int = 480,
) -> dict[str, Any]:
    """The figure for `pens` over [start, end]: gaps stay gaps (connectgaps off), never a line through them."""
    units = units_of(plant, pens)
    n_right = max(0, len(units) - 1)
    right_edge = 1.0 - AXIS_STEP * max(0, n_right - 1)
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    spans: dict[tuple[datetime, datetime, str], list[str]] = {}
    for i, name in enumerate(pens):
        s = series.get(name)
        trace = pen_trace(
            plant, name, i, units, [local_x(t, zone) for t in s.times] if s else [], list(s.values) if s else []
        )
        trace["hovertemplate"] = f"%{{y:.4g}} {plant.tags[name].tag.unit}<extra>{name}</extra>"
        traces.append(trace)
        if s:
            for span_start, span_end, quality in s.bad_spans:
                spans.setdefault((max(span_start, start), min(span_end, end), quality), []).append(name)
    # Pens that lost their values together (a connection, the recorder) share one shaded period and label.
    for k, ((span_start, span_end, quality), names) in enumerate(sorted(spans.items())):
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "layer": "below",
                "x0": local_x(span_start, zone),
                "x1": local_x(span_end, zone),
                "fillcolor": "#9a9a9a",
                "opacity": 0.35,
                "line": {"width": 0},
                "label": {
                    "text": f"{', '.join(n.split('.')[-1] for n in names)}: {quality.upper()}",
                    "font": {"size": 10},
                    "textposition": "top left" if k % 2 == 0 else "bottom left",
                },
            }
        )
    shapes += limit_shapes(plant, pens, units)
    for mark in list(marks)[:MAX_MARKS]:
        shapes.append(
            vertical_line(
                local_x(mark.at, zone),
                {"width": 1, "color": "#1a1a1a", "dash": "dot"},
                {
                    "text": f"P{mark.priority} {mark.alarm_id}",
                    "font": {"size": 9},
                    "textangle": -90,
                    "textposition": "end",
                },
            )
        )
    if pens:
        traces.append(cursor_grid(start, end, zone))
    if cursor is not None:
        shapes.append(vertical_line(local_x(cursor, zone), {"width": 2, "color": "#000000"}))
    layout = trend_layout(zone, units, shapes, height=height, right_edge=right_edge)
    layout.update({"hovermode": "x unified", "dragmode": "zoom"})
    layout["xaxis"].update(
        {"type": "date", "range": [local_x(start, zone), local_x(end, zone)], "domain": [0, right_edge]}
    )
    # Zoom and pan move through time only: the value axes stay as they are.
    for k in range(1, len(units) + 1):
        layout["yaxis" if k == 1 else f"yaxis{k}"]["fixedrange"] = True
    layout[CURSOR_AXIS] = {"overlaying": "y", "visible": False, "range": [0, 1], "fixedrange": True}
    return {
        "data": traces,
        "layout": layout,
        "config": {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]},
    }


def cursor_grid(start: datetime, end: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """Invisible points across the window, so a touch anywhere (also in a gap) places the cursor there."""
    step = (end - start) / (CURSOR_POINTS - 1)
    return {
        "type": "scatter",
        "mode": "markers",
        "name": CURSOR_TRACE,
        "showlegend": False,
        "hoverinfo": "none",
        "x": [local_x(start + step * i, zone) for i in range(CURSOR_POINTS)],
        "y": [0.5] * CURSOR_POINTS,
        "yaxis": "y9",
        "marker": {"opacity": 0, "size": 12},
    }


def value_at(s: SeriesLike, at: datetime) -> float | None:
    """The pen's value at `at` as drawn: the last point at or before it (None in a gap or before the data)."""
    found: float | None = None
    for t, v in zip(s.times, s.values, strict=True):
        if t > at:
            break
        found = v
    return found

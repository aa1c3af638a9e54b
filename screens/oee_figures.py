"""Plotly figures for line status and OEE: state timeline, downtime Pareto, OEE by shift. Pure data in, dicts out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hmi.oee.states import StateCategory
from screens.history_figure import local_x
from screens.i18n import N_, _

# Muted tones (ISA-101: saturated colour is kept for alarms); unknown is hatched so it never reads as a state.
CATEGORY_STYLE: dict[StateCategory, tuple[str, str, str]] = {
    StateCategory.RUNNING: ("#7d9a7d", "", N_("Running")),
    StateCategory.STARVED_BLOCKED: ("#c2b280", "/", N_("Starved / blocked")),
    StateCategory.DOWN: ("#8f5a5a", "", N_("Down")),
    StateCategory.IDLE: ("#cfcfcf", "", N_("Idle")),
    StateCategory.TRANSITION: ("#a9b7c6", ".", N_("Transition")),
    StateCategory.UNKNOWN: ("#ffffff", "x", N_("Unknown / no data")),
}
_BASE_LAYOUT: dict[str, Any] = {
    "paper_bgcolor": "#e8e8e8",
    "plot_bgcolor": "#f2f2f2",
    "margin": {"l": 110, "r": 20, "t": 10, "b": 40},
}


def timeline_figure(
    rows: Sequence[tuple[str, Sequence[Any]]],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    *,
    height: int | None = None,
) -> dict[str, Any]:
    """One bar row per (label, segments); each segment a bar from its start to its end, by state category."""
    traces: list[dict[str, Any]] = []
    for cat, (colour, pattern, label) in CATEGORY_STYLE.items():
        xs: list[float] = []
        bases: list[str] = []
        ys: list[str] = []
        texts: list[str] = []
        for row_label, segments in rows:
            for seg in segments:
                if seg.category is not cat:
                    continue
                xs.append((seg.end - seg.start).total_seconds() * 1000)
                bases.append(local_x(seg.start, zone))
                ys.append(row_label)
                texts.append(f"{seg.state}: {local_x(seg.start, zone)[11:19]} – {local_x(seg.end, zone)[11:19]}")
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": _(label),
                "x": xs,
                "base": bases,
                "y": ys,
                "marker": {"color": colour, "line": {"color": "#5a5a5a", "width": 0.5}, "pattern": {"shape": pattern}},
                "hovertext": texts,
                "hoverinfo": "text",
                "showlegend": True,
            }
        )
    layout = {
        **_BASE_LAYOUT,
        "height": height or 90 + 34 * max(1, len(rows)),
        "barmode": "overlay",
        "xaxis": {
            "type": "date",
            "range": [local_x(start, zone), local_x(end, zone)],
            "title": {"text": _("time ({zone})").format(zone=zone.key)},
        },
        "yaxis": {"autorange": "reversed", "type": "category"},
        "legend": {"orientation": "h", "y": -0.35},
    }
    return {"data": traces, "layout": layout, "config": {"displaylogo": False, "responsive": True}}


def pareto_figure(rows: Sequence[Any], *, height: int = 320) -> dict[str, Any]:
    """Downtime minutes by reason, largest first, with the cumulative share on a second axis."""
    names = [r.text for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": [round(r.duration_s / 60, 1) for r in rows],
                "name": _("minutes"),
                "marker": {"color": ["#b0b0b0" if r.reason is None else "#5a6f8f" for r in rows]},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": names,
                "y": [round(100 * r.cumulative_share, 1) for r in rows],
                "yaxis": "y2",
                "name": _("cumulative %"),
                "line": {"color": "#1a1a1a"},
            },
        ],
        "layout": {
            **_BASE_LAYOUT,
            "height": height,
            "margin": {"l": 50, "r": 50, "t": 10, "b": 90},
            "yaxis": {"title": {"text": _("downtime (min)")}},
            "yaxis2": {"title": {"text": _("cumulative %")}, "overlaying": "y", "side": "right", "range": [0, 105]},
            "legend": {"orientation": "h", "y": -0.45},
        },
        "config": {"displaylogo": False, "responsive": True},
    }


def shift_trend_figure(
    series: Sequence[tuple[str, Sequence[tuple[str, str, float | None]]]], *, height: int = 300
) -> dict[str, Any]:
    """OEE per shift, one line per production line, at each shift's start (x, plant local) with its name;
    a shift without data is a gap, not a zero."""
    colours = ("#1f3b73", "#0b7a75", "#7a4f0b", "#6b2d5c", "#5a5a5a", "#2f5f2f")
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": line,
                "x": [x for x, _, _ in points],
                "text": [label for _, label, _ in points],
                "y": [None if v is None else round(100 * v, 1) for _, _, v in points],
                "hovertemplate": "%{text}: %{y} %<extra>" + line + "</extra>",
                "connectgaps": False,
                "line": {"color": colours[i % len(colours)]},
            }
            for i, (line, points) in enumerate(series)
        ],
        "layout": {
            **_BASE_LAYOUT,
            "height": height,
            "margin": {"l": 50, "r": 20, "t": 10, "b": 60},
            "yaxis": {"title": {"text": "OEE %"}, "rangemode": "tozero"},
            "xaxis": {"type": "date", "title": {"text": _("shift start")}},
            "legend": {"orientation": "h", "y": -0.3},
        },
        "config": {"displaylogo": False, "responsive": True},
    }

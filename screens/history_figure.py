"""The plotly figure of a trend: pens on one axis per unit, each pen's limits in its own colour and dash, labels that
never overlap, bad/stale periods, activations and the cursor.

Pure data in, a figure dict out (no NiceGUI here), so what the chart receives is testable on its own.

Layout rules (docs/operators.md, Trends):
- pens with the same unit share one y axis; axes alternate left, right, left, right, at most two on a side (the
  outer one shifted out by plotly's `autoshift`, never drawn over the inner one);
- more than four units do not fit that way: the chart is split into stacked rows sharing the time axis, two units
  (left and right) per row;
- the value axes have fixed ranges (the pens' values, limits and normal ranges, padded), so a limit is always in
  view and label positions can be computed here: `place_labels` keeps them at least LABEL_GAP_PX apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from hmi.config import PlantConfig
from hmi.oee.service import Stop
from hmi.oee.states import StateCategory
from screens.fmt import CATEGORY_WORD
from screens.i18n import N_, _, plant

COLOURS = ("#1f3b73", "#5a5a5a", "#0b7a75", "#7a4f0b", "#3d3d8f", "#6b2d5c", "#2f5f2f", "#8f3d3d")
LIMIT_TYPES = ("HH", "H", "L", "LL")
# The line of a limit is in its pen's colour; the dash tells the kind, so it reads in greyscale too: the outer
# alarm pair (HH/LL) long dashes, the inner pair (H/L) dots, the normal range thin dash-dots.
LIMIT_STYLE: dict[str, tuple[str, float]] = {
    "HH": ("dash", 2.0),
    "LL": ("dash", 2.0),
    "H": ("dot", 2.0),
    "L": ("dot", 2.0),
    "normal": ("longdashdot", 1.0),
}
# When not every label fits, the outer alarm limits keep theirs first, the normal range gives way first.
LABEL_RANK = {"HH": 0, "LL": 0, "H": 1, "L": 1, "normal": 2}
LABEL_GAP_PX = 16  # label centres at least this far apart (10 px text in a bordered box is about 14 px high)
LABEL_EDGE_PX = 24  # the top and bottom strips of each row are left to the labels of bad/stale periods
MAX_PER_SIDE = 2
OVERLAID_UNITS = 2 * MAX_PER_SIDE
ROW_GAP = 0.06  # share of the plot height between stacked rows
ROW_EXTRA_PX = 160  # each stacked row beyond the first makes the chart this much taller
MARGIN = {"l": 10, "r": 10, "t": 10, "b": 40}  # the value axes widen l and r to fit themselves (automargin)
MAX_MARKS = 60
# Eight pens use at most axes y..y8; the cursor grid has its own hidden axis.
CURSOR_AXIS = "yaxis9"
CURSOR_TRACE = "cursor"
CURSOR_POINTS = 240
# No plotly mode bar: its 22 px buttons are below the 48 px touch minimum (ISA-101; WCAG 2.5.5); the trend screen
# has its own buttons for the tools people use (reset, zoom or pan, picture).
CONFIG: dict[str, Any] = {"displayModeBar": False, "displaylogo": False, "responsive": True}


class SeriesLike(Protocol):
    """What a figure reads of a pen's series (hmi.historian.Series, read only)."""

    @property
    def times(self) -> Sequence[datetime]: ...

    @property
    def values(self) -> Sequence[float | None]: ...

    @property
    def bad_spans(self) -> Sequence[tuple[datetime, datetime, str]]: ...


@dataclass(frozen=True, slots=True)
class Mark:
    """An alarm activation drawn on the trend."""

    at: datetime
    alarm_id: str
    priority: str


@dataclass(frozen=True, slots=True)
class Limit:
    """One horizontal line of a pen: an alarm limit (HH, H, L, LL) or an end of its normal range."""

    pen: str
    kind: str  # "HH", "H", "L", "LL", "normal low", "normal high"
    value: float
    unit: str

    @property
    def style(self) -> str:
        """The key into LIMIT_STYLE and LABEL_RANK."""
        return "normal" if self.kind.startswith("normal") else self.kind

    def text(self, short: str) -> str:
        """'Filler.Temperature H 80 °C'."""
        return f"{short} {_(self.kind)} {self.value:g} {self.unit}".strip()


@dataclass(frozen=True, slots=True)
class Axis:
    """Where one unit's y axis goes: its plotly name, row (stacked layout) and side."""

    unit: str
    index: int
    row: int
    side: str
    outer: bool  # the second axis on its side (overlaid layout): shifted out past the first

    @property
    def ref(self) -> str:
        """'y', 'y2', ... as traces and shapes name it."""
        return "y" if self.index == 0 else f"y{self.index + 1}"

    @property
    def key(self) -> str:
        """'yaxis', 'yaxis2', ... as the layout names it."""
        return "yaxis" if self.index == 0 else f"yaxis{self.index + 1}"


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


def colour(index: int) -> str:
    """The colour of the pen at `index`."""
    return COLOURS[index % len(COLOURS)]


def units_of(plant: PlantConfig, pens: Sequence[str]) -> list[str]:
    """The distinct units of `pens` in pen order; each gets its own y axis."""
    units: list[str] = []
    for name in pens:
        unit = plant.tags[name].tag.unit
        if unit not in units:
            units.append(unit)
    return units


def plan_axes(units: Sequence[str]) -> list[Axis]:
    """One axis per unit: up to four overlaid (left, right, left, right), else stacked rows of two."""
    stacked = len(units) > OVERLAID_UNITS
    return [
        Axis(
            unit,
            k,
            row=k // 2 if stacked else 0,
            side="left" if k % 2 == 0 else "right",
            outer=not stacked and k >= 2,
        )
        for k, unit in enumerate(units)
    ]


def row_domains(rows: int) -> list[tuple[float, float]]:
    """The paper [bottom, top] of each row, the first row on top."""
    height = (1.0 - ROW_GAP * (rows - 1)) / rows
    out = []
    for r in range(rows):
        top = 1.0 - r * (height + ROW_GAP)
        out.append((max(0.0, round(top - height, 6)), round(top, 6)))
    return out


def short_names(pens: Sequence[str]) -> dict[str, str]:
    """Pen names without the dotted prefix all pens share (their line): 'Line1.Filler.Temperature' and
    'Line1.Speed' read 'Filler.Temperature' and 'Speed'; a single pen keeps its last two parts."""
    parts = [p.split(".") for p in pens]
    if len(parts) == 1:
        return {pens[0]: ".".join(parts[0][-2:])}
    common = 0
    if parts:
        shortest = min(len(p) for p in parts) - 1
        while common < shortest and len({p[common] for p in parts}) == 1:
            common += 1
    return {p: ".".join(split[common:]) for p, split in zip(pens, parts, strict=True)}


def pen_limits(plant: PlantConfig, name: str) -> list[Limit]:
    """The HH/H/L/LL limits and the normal range of pen `name` (deviation and rate-of-change limits are not
    values of the pen, so they are not drawn)."""
    tag = plant.tags[name].tag
    found = [
        Limit(name, alarm.type, alarm.limit, tag.unit)
        for alarm in tag.alarms
        if alarm.type in LIMIT_TYPES and alarm.limit is not None
    ]
    if tag.normal_range is not None:
        found += [
            Limit(name, N_("normal low"), tag.normal_range[0], tag.unit),
            Limit(name, N_("normal high"), tag.normal_range[1], tag.unit),
        ]
    return found


def axis_range(
    values: Iterable[float | None], fixed: Iterable[float], fallback: tuple[float, float] | None
) -> list[float]:
    """[low, high] of a value axis: the drawn values and the limits (`fixed`), padded by 5 %; the engineering
    range (`fallback`), else [0, 1], when there is nothing to draw."""
    nums = [v for v in values if v is not None and math.isfinite(v)] + list(fixed)
    if not nums:
        return list(fallback) if fallback else [0.0, 1.0]
    low, high = min(nums), max(nums)
    pad = (high - low) * 0.05 or max(abs(high) * 0.05, 1.0)
    return [low - pad, high + pad]


def place_labels(
    wanted: Sequence[float], gap: float, low: float, high: float, rank: Sequence[int] | None = None
) -> list[float | None]:
    """Positions (px, any direction) for labels that want to sit at `wanted`: at least `gap` apart, inside
    [low, high], in the order of their wanted positions, each group of crowded labels centred on where its
    members want to be. When not all fit, the labels of the highest `rank` (least important) are left out
    (None), the later ones first."""
    n = len(wanted)
    fits = int((high - low) // gap) + 1 if high >= low else 0
    ranks = list(rank) if rank is not None else [0] * n
    kept = sorted(range(n), key=lambda i: (ranks[i], i))[:fits]
    clusters: list[list[int]] = []
    bases: list[float] = []

    def clamp(base: float, size: int) -> float:
        return min(max(base, low), high - (size - 1) * gap)

    for i in sorted(kept, key=lambda i: (wanted[i], i)):
        clusters.append([i])
        bases.append(clamp(wanted[i], 1))
        # Merge with the group below while they overlap; a merged group sits where its members want it on average.
        while len(clusters) > 1 and bases[-2] + len(clusters[-2]) * gap > bases[-1] + 1e-9:
            members = clusters[-2] + clusters[-1]
            base = sum(wanted[m] - k * gap for k, m in enumerate(members)) / len(members)
            clusters[-2:] = [members]
            bases[-2:] = [clamp(base, len(members))]
    placed: list[float | None] = [None] * n
    for members, base in zip(clusters, bases, strict=True):
        for k, m in enumerate(members):
            placed[m] = base + k * gap
    return placed


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


def pen_trace(
    plant: PlantConfig, name: str, index: int, axis_ref: str, x: list[str], y: list[float | None]
) -> dict[str, Any]:
    """The line of one pen, on its unit's axis, in the pen's colour.

    Gaps stay gaps (connectgaps off: a None breaks the line). Between two points the value is held, then steps
    ("hv"): OPC UA reports changes and the historian records on change, so an unchanged value (a stopped line's
    speed of 0) has no points in between, and a straight line would draw a ramp across the stop that never was.
    """
    tag = plant.tags[name].tag
    return {
        "type": "scatter",
        "mode": "lines",
        "name": f"{name} [{tag.unit}]" if tag.unit else name,
        "x": x,
        "y": y,
        "line": {"color": colour(index), "width": 2, "shape": "hv"},
        "connectgaps": False,
        "yaxis": axis_ref,
        # Plotly reads hover text as a small HTML subset: the plant file's unit is escaped.
        "hovertemplate": f"%{{y:.4g}} {escape(tag.unit)}<extra>{escape(name)}</extra>",
    }


def stop_bands(stops: Sequence[Stop], zone: ZoneInfo, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A band for each period a pen's line was stopped, labelled with the line and the state category.

    A stopped line's values are held (nothing changes, so nothing is recorded): the band says why the line is flat,
    so the held value is not read as production. Periods without data ("No data") are gaps already, not bands.
    """
    bands: list[dict[str, Any]] = []
    for stop in stops:
        if stop.category is StateCategory.UNKNOWN:
            continue
        x0, x1 = max(stop.start, start), min(stop.end or end, end)
        if x1 <= x0:
            continue
        bands.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "layer": "below",
                "x0": local_x(x0, zone),
                "x1": local_x(x1, zone),
                # Grey, never red (ISA-101: colour is for alarms); a dashed edge tells it from a BAD/STALE period.
                "fillcolor": "#c8c8c8",
                "opacity": 0.5,
                "line": {"width": 1, "color": "#5a5a5a", "dash": "dash"},
                "label": {
                    "text": escape(
                        _("{line} stopped: {state}").format(
                            line=plant(stop.line), state=_(CATEGORY_WORD[stop.category])
                        )
                    ),
                    "font": {"size": 10},
                    "textposition": "top center",
                },
            }
        )
    return bands


def break_gaps(
    times: Sequence[datetime], values: Sequence[float | None], max_gap: timedelta, after: datetime | None = None
) -> tuple[list[datetime], list[float | None]]:
    """The points with a gap (None, just after the earlier point) wherever two neighbours, or `after` (the last
    point already drawn) and the first, are more than `max_gap` apart: the historian records at least every
    max interval, so a longer silence is missing data, not a value to draw a line across."""
    out_t: list[datetime] = []
    out_v: list[float | None] = []
    last_t = after  # the time of the last point with a value, None after a gap
    step = timedelta(microseconds=1)
    for t, v in zip(times, values, strict=True):
        if last_t is not None and v is not None and t - last_t > max_gap:
            out_t.append(last_t + step)
            out_v.append(None)
        out_t.append(t)
        out_v.append(v)
        last_t = t if v is not None else None
    return out_t, out_v


def limit_shapes(plant: PlantConfig, pens: Sequence[str], axes: Mapping[str, Axis]) -> list[dict[str, Any]]:
    """A line across the plot at each limit and normal-range end of each pen, in the pen's colour with the
    dash of its kind, on the pen's unit axis (the labels are annotations, see limit_labels)."""
    shapes: list[dict[str, Any]] = []
    for i, name in enumerate(pens):
        axis = axes[plant.tags[name].tag.unit]
        for limit in pen_limits(plant, name):
            dash, width = LIMIT_STYLE[limit.style]
            shapes.append(
                {
                    "type": "line",
                    "name": _("limit {name} {kind}").format(name=name, kind=_(limit.kind)),
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": axis.ref,
                    "y0": limit.value,
                    "y1": limit.value,
                    "line": {"dash": dash, "width": width, "color": colour(i)},
                }
            )
    return shapes


def limit_labels(
    plant: PlantConfig,
    pens: Sequence[str],
    axes: Mapping[str, Axis],
    ranges: Mapping[str, list[float]],
    domains: Sequence[tuple[float, float]],
    plot_px: float,
) -> list[dict[str, Any]]:
    """One annotation per limit line at the plot's left edge ('Filler.Temperature H 80 °C', in the pen's colour),
    moved apart so no two overlap (place_labels per row); the full pen name shows on hover."""
    short = short_names(pens)
    annotations: list[dict[str, Any]] = []
    for row, (bottom, top) in enumerate(domains):
        found: list[tuple[int, Limit]] = []
        for i, name in enumerate(pens):
            if axes[plant.tags[name].tag.unit].row == row:
                found += [(i, limit) for limit in pen_limits(plant, name)]
        if not found:
            continue
        wanted = []
        for _i, limit in found:
            low, high = ranges[limit.unit]
            share = (limit.value - low) / (high - low) if high > low else 0.5
            wanted.append((bottom + (top - bottom) * share) * plot_px)
        placed = place_labels(
            wanted,
            LABEL_GAP_PX,
            bottom * plot_px + LABEL_EDGE_PX,
            top * plot_px - LABEL_EDGE_PX,
            [LABEL_RANK[limit.style] for _, limit in found],
        )
        for (i, limit), at in zip(found, placed, strict=True):
            if at is None:
                continue  # no room: the pen list beside the chart names every limit
            annotations.append(
                {
                    "name": _("limit {name} {kind}").format(name=limit.pen, kind=_(limit.kind)),
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0,
                    "xanchor": "left",
                    "xshift": 4,
                    "y": round(at / plot_px, 6),
                    "yanchor": "middle",
                    "showarrow": False,
                    # Plotly reads annotation text as a small HTML subset: names and units are escaped.
                    "text": escape(limit.text(short[limit.pen])),
                    "hovertext": escape(f"{limit.pen}: {_(limit.kind)} {limit.value:g} {limit.unit}".strip()),
                    "font": {"size": 10, "color": colour(i)},
                    "bgcolor": "rgba(242,242,242,0.85)",
                    "bordercolor": colour(i),
                    "borderwidth": 1,
                }
            )
    return annotations


def chart_layout(
    plant: PlantConfig,
    zone: ZoneInfo,
    pens: Sequence[str],
    values: Mapping[str, Sequence[float | None]],
    *,
    height: int,
    shapes: Sequence[dict[str, Any]] = (),
    legend: bool = True,
) -> dict[str, Any]:
    """The layout every trend shares (history and live): time in plant local time, the unit axes (plan_axes) with
    ranges that hold `values` and every limit, the pens' limit lines and their labels, then `shapes`."""
    units = units_of(plant, pens)
    axes = {a.unit: a for a in plan_axes(units)}
    rows = max((a.row for a in axes.values()), default=0) + 1
    domains = row_domains(rows)
    height += ROW_EXTRA_PX * (rows - 1)
    ranges: dict[str, list[float]] = {}
    layout: dict[str, Any] = {
        "height": height,
        "margin": dict(MARGIN, b=MARGIN["b"] + (40 if legend else 0)),
        "paper_bgcolor": "#e8e8e8",
        "plot_bgcolor": "#f2f2f2",
        "showlegend": legend,
        "legend": {"orientation": "h", "y": -0.18},
        "xaxis": {
            "title": {"text": _("time ({zone})").format(zone=zone.key)},
            "gridcolor": "#cccccc",
            "domain": [0, 1],
        },
    }
    if not units:
        layout["yaxis"] = {"title": {"text": ""}, "gridcolor": "#cccccc", "automargin": True}
    # The first (left) axis of each row is the one the others of the row overlay.
    row_base = {a.row: a for a in reversed(list(axes.values())) if a.side == "left"}
    for unit, axis in axes.items():
        on_axis = [p for p in pens if plant.tags[p].tag.unit == unit]
        eng = next((plant.tags[p].tag.eng_range for p in on_axis if plant.tags[p].tag.eng_range), None)
        ranges[unit] = axis_range(
            (v for p in on_axis for v in values.get(p, ())),
            (lim.value for p in on_axis for lim in pen_limits(plant, p)),
            eng,
        )
        base = row_base[axis.row]
        spec: dict[str, Any] = {
            "title": {"text": escape(unit) or _("(no unit)")},
            "range": ranges[unit],
            # Zoom and pan move through time only: the value axes stay as they are.
            "fixedrange": True,
            "automargin": True,
            "side": axis.side,
            "zeroline": False,
        }
        if axis is base:
            spec.update({"gridcolor": "#cccccc", "domain": list(domains[axis.row]), "anchor": "x"})
        else:
            spec.update({"overlaying": base.ref, "showgrid": False})
            if axis.outer:
                spec.update({"anchor": "free", "position": 0 if axis.side == "left" else 1, "autoshift": True})
            else:
                spec["anchor"] = "x"
        if len(on_axis) == 1:
            # An axis of one pen says whose it is by its colour.
            spec["title"]["font"] = {"color": colour(list(pens).index(on_axis[0]))}
        layout[axis.key] = spec
    if units:
        # The time axis runs along the bottom row.
        layout["xaxis"]["anchor"] = row_base[rows - 1].ref
    plot_px = height - layout["margin"]["t"] - layout["margin"]["b"]
    layout["shapes"] = limit_shapes(plant, pens, axes) + list(shapes)
    layout["annotations"] = limit_labels(plant, pens, axes, ranges, domains, plot_px)
    return layout


def in_range(
    layout: Mapping[str, Any], plant: PlantConfig, pens: Sequence[str], values: Mapping[str, Iterable[float | None]]
) -> bool:
    """Whether every value of `values` (new points) lies inside its pen's axis range in `layout`."""
    axes = {a.unit: a for a in plan_axes(units_of(plant, pens))}
    for name, vs in values.items():
        if name not in plant.tags:
            continue
        axis = axes.get(plant.tags[name].tag.unit)
        if axis is None or axis.key not in layout:
            continue
        low, high = layout[axis.key]["range"]
        if any(v is not None and not low <= v <= high for v in vs):
            return False
    return True


def axis_refs(plant: PlantConfig, pens: Sequence[str]) -> dict[str, str]:
    """Each pen's y axis ('y', 'y2', ...)."""
    axes = {a.unit: a for a in plan_axes(units_of(plant, pens))}
    return {p: axes[plant.tags[p].tag.unit].ref for p in pens}


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
    legend: bool = True,
    stops: Sequence[Stop] = (),
) -> dict[str, Any]:
    """The figure for `pens` over [start, end]: gaps stay gaps (connectgaps off), never a line through them; the
    pens' lines' `stops` are bands."""
    refs = axis_refs(plant, pens)
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    spans: dict[tuple[datetime, datetime, str], list[str]] = {}
    short = short_names(pens)
    for i, name in enumerate(pens):
        s = series.get(name)
        traces.append(
            pen_trace(
                plant,
                name,
                i,
                refs[name],
                [local_x(t, zone) for t in s.times] if s else [],
                list(s.values) if s else [],
            )
        )
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
                    "text": escape(f"{', '.join(short[n] for n in names)}: {_(quality).upper()}"),
                    "font": {"size": 10},
                    "textposition": "top left" if k % 2 == 0 else "bottom left",
                },
            }
        )
    shapes += stop_bands(stops, zone, start, end)
    for mark in list(marks)[:MAX_MARKS]:
        shapes.append(
            vertical_line(
                local_x(mark.at, zone),
                {"width": 1, "color": "#1a1a1a", "dash": "dot"},
                {
                    "text": escape(f"P{mark.priority} {mark.alarm_id}"),
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
    values = {name: s.values for name, s in series.items()}
    layout = chart_layout(plant, zone, pens, values, height=height, shapes=shapes, legend=legend)
    layout.update({"hovermode": "x unified", "dragmode": "zoom"})
    layout["xaxis"].update({"type": "date", "range": [local_x(start, zone), local_x(end, zone)]})
    layout[CURSOR_AXIS] = {"overlaying": "y", "visible": False, "range": [0, 1], "fixedrange": True}
    return {"data": traces, "layout": layout, "config": dict(CONFIG)}


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


def quality_at(s: SeriesLike, at: datetime) -> str:
    """Why the pen has no value at `at` ('bad', 'stale', 'no data', ...), or 'good' when it has one."""
    for span_start, span_end, quality in s.bad_spans:
        if span_start <= at <= span_end:
            return quality
    return "good" if value_at(s, at) is not None else "no data"

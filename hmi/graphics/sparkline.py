"""Sparklines: a small trend of one value as inline SVG, built here so it is the same on every screen. Pure.

Gaps in the history (bad, stale or unrecorded periods, given as None) break the line instead of bridging them:
a stop must not look like a ramp. The SVG holds only numbers formatted here and text escaped with
xml.sax.saxutils, so nothing from the plant file or a PLC can become markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from hmi.graphics.analog import Scale
from hmi.graphics.line_picture import key_values

if TYPE_CHECKING:
    from hmi.config import PlantConfig
    from hmi.historian.live import Point as RingPoint

WIDTH = 240
HEIGHT = 48
PAD = 2.0
Point = tuple[float, float]
KEY_WINDOW = timedelta(hours=1)
"""How far back the small trends of the machines' key values on the line screen reach (ISA-101: key values have
an embedded trend)."""
_QUOTE = {'"': "&quot;"}  # attribute values are double-quoted


def sparkline_runs(
    times: Sequence[datetime],
    values: Sequence[float | None],
    start: datetime,
    end: datetime,
    scale: Scale | None = None,
    *,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> list[list[Point]]:
    """The drawn points, as runs separated by the gaps (None values). x spans start..end over the width; y spans
    the scale (default: the values' own min..max) over the height, higher values up, held inside the box."""
    span = (end - start).total_seconds()
    if span <= 0 or len(times) != len(values):
        raise ValueError("a sparkline needs end after start and one value per time")
    numbers = [v for v in values if v is not None]
    if not numbers:
        return []
    if scale is None:
        low, high = min(numbers), max(numbers)
        if high == low:
            low, high = low - 1.0, high + 1.0
        scale = Scale(low, high)
    runs: list[list[Point]] = []
    current: list[Point] = []
    for t, v in zip(times, values, strict=True):
        if v is None:
            if current:
                runs.append(current)
            current = []
            continue
        x = PAD + (width - 2 * PAD) * min(max((t - start).total_seconds() / span, 0.0), 1.0)
        y = PAD + (height - 2 * PAD) * (1.0 - scale.pct(v) / 100.0)
        current.append((round(x, 1), round(y, 1)))
    if current:
        runs.append(current)
    return runs


def level_y(value: float, scale: Scale, height: float = HEIGHT) -> float:
    """The y of a horizontal mark (target, normal band edge) at `value`."""
    return round(PAD + (height - 2 * PAD) * (1.0 - scale.pct(value) / 100.0), 1)


def sparkline_svg(
    runs: Sequence[Sequence[Point]],
    label: str,
    *,
    scale: Scale | None = None,
    target: float | None = None,
    band: tuple[float, float] | None = None,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> str:
    """Inline SVG of the runs: the normal band as a grey strip, the target as a dashed line (when a scale places
    them), each run as a dark polyline; a single point is a dot. `label` names it for screen readers (escaped)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" preserveAspectRatio="none"'
        f' class="ovw-spark" role="img" aria-label="{escape(label, _QUOTE)}">',
        f"<title>{escape(label)}</title>",
    ]
    if scale is not None and band is not None:
        top, bottom = level_y(band[1], scale, height), level_y(band[0], scale, height)
        parts.append(
            f'<rect x="0" y="{top:g}" width="{width:g}" height="{max(bottom - top, 1.0):g}" class="ovw-spark-band"/>'
        )
    if scale is not None and target is not None:
        y = level_y(target, scale, height)
        parts.append(f'<line x1="0" y1="{y:g}" x2="{width:g}" y2="{y:g}" class="ovw-spark-target"/>')
    for run in runs:
        if len(run) == 1:
            ((x, y),) = run
            parts.append(f'<circle cx="{x:g}" cy="{y:g}" r="1.8" class="ovw-spark-dot"/>')
        elif run:
            points = " ".join(f"{x:g},{y:g}" for x, y in run)
            parts.append(f'<polyline points="{points}" class="ovw-spark-line"/>')
    parts.append("</svg>")
    return "".join(parts)


def key_value_names(plant: PlantConfig) -> list[str]:
    """The key values of every machine (hmi.graphics.line_picture.key_values): the tags with a small trend."""
    return [t.name for _area, line in plant.lines() for m in line.machines for t in key_values(m)]


def ring_series(points: Sequence[RingPoint], now: datetime) -> tuple[list[datetime], list[float | None]]:
    """A live ring buffer's points (hmi.historian.live) as times and values; the last good value is held up to
    `now` (the ring records changes only, so an unchanged value has no newer point), a gap stays a gap."""
    times = [p[0] for p in points]
    values = [p[1] for p in points]
    if values and values[-1] is not None and times[-1] < now:
        times.append(now)
        values.append(values[-1])
    return times, values


def thin(
    times: Sequence[datetime],
    values: Sequence[float | None],
    start: datetime,
    end: datetime,
    columns: int = int(WIDTH),
) -> tuple[list[datetime], list[float | None]]:
    """At most the first, lowest, highest and last value of each run of points in one of `columns` slices of
    start..end, in time order, and every gap: the drawn shape (peaks included) stays, the SVG stays small."""
    if len(times) <= 4 * columns:
        return list(times), list(values)
    span = (end - start).total_seconds() or 1.0
    out_t: list[datetime] = []
    out_v: list[float | None] = []
    run: list[tuple[datetime, float]] = []

    def flush() -> None:
        if run:
            keep = {0, len(run) - 1, min(range(len(run)), key=lambda i: run[i][1])}
            keep.add(max(range(len(run)), key=lambda i: run[i][1]))
            for i in sorted(keep):
                out_t.append(run[i][0])
                out_v.append(run[i][1])
            run.clear()

    column = None
    for t, v in zip(times, values, strict=True):
        if v is None:
            flush()
            out_t.append(t)
            out_v.append(None)
            column = None
            continue
        here = int(columns * (t - start).total_seconds() / span)
        if here != column:
            flush()
            column = here
        run.append((t, v))
    flush()
    return out_t, out_v

"""Sparklines: a small trend of one value as inline SVG, built here so it is the same on every screen. Pure.

Gaps in the history (bad, stale or unrecorded periods, given as None) break the line instead of bridging them:
a stop must not look like a ramp. The SVG holds only numbers formatted here and text escaped with
xml.sax.saxutils, so nothing from the plant file or a PLC can become markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from hmi.graphics.analog import Scale

WIDTH = 240
HEIGHT = 48
PAD = 2.0
Point = tuple[float, float]
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

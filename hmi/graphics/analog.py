"""The moving analog indicator's geometry (ISA-101: analog with its normal band, never a bare number): where a
value, a target and a normal band sit on a scale, and whether a value is outside its normal range. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hmi.config import Line, Tag

Deviation = Literal["low", "high"]
HEADROOM = 1.25
"""Without an engineering range the scale runs from 0 to this much above the largest known mark (target,
normal band), so a line somewhat above its target still shows inside the bar."""


@dataclass(frozen=True, slots=True)
class Scale:
    """The span an indicator draws, low to high (high > low)."""

    low: float
    high: float

    def pct(self, value: float) -> float:
        """Where `value` sits on the bar in percent of its width, held to 0..100 (the ends show beyond)."""
        return max(0.0, min(100.0, (value - self.low) / (self.high - self.low) * 100.0))

    def beyond(self, value: float) -> Deviation | None:
        """'low' or 'high' when `value` lies outside the scale (its pointer stops at the end), else None."""
        if value < self.low:
            return "low"
        if value > self.high:
            return "high"
        return None


def line_target(line: Line, speed: Tag) -> float | None:
    """What a line's speed is compared with: the plan's rate (else the ideal rate) from its `oee` section, else the
    middle of the speed tag's normal range, else None. The speed tag is the line's output rate per minute."""
    if line.oee is not None:
        return line.oee.planned_rate_per_min or line.oee.ideal_rate_per_min
    if speed.normal_range is not None:
        return (speed.normal_range[0] + speed.normal_range[1]) / 2
    return None


def speed_scale(speed: Tag, target: float | None) -> Scale | None:
    """The speed indicator's scale: the tag's engineering range, else 0 to HEADROOM x the largest of the target
    and the normal range's top; None when nothing is known to draw against."""
    if speed.eng_range is not None and speed.eng_range[1] > speed.eng_range[0]:
        return Scale(*speed.eng_range)
    marks = [m for m in (target, speed.normal_range[1] if speed.normal_range else None) if m is not None and m > 0]
    if not marks:
        return None
    return Scale(0.0, max(marks) * HEADROOM)


def deviation(value: float, normal_range: tuple[float, float] | None) -> Deviation | None:
    """'low' or 'high' when `value` is outside the tag's normal range (the abnormal the screens mark with colour,
    a shape and a word, ISA-101), None inside it or without a normal range."""
    if normal_range is None:
        return None
    if value < normal_range[0]:
        return "low"
    if value > normal_range[1]:
        return "high"
    return None

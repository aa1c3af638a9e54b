"""Whether an alarm's condition holds for a value: limit alarms with deadband, discrete alarms."""

from __future__ import annotations

from typing import Any

from hmi.config import AlarmDef


def condition_active(alarm: AlarmDef, value: Any, was_active: bool) -> bool:
    """True while the alarm condition holds; the deadband only applies on the way out (ISA-18.2 / IEC 62682
    alarm deadband)."""
    if alarm.type == "discrete":
        return bool(value == alarm.value)
    assert alarm.limit is not None
    limit, band = alarm.limit, alarm.deadband
    if alarm.type in ("H", "HH"):
        return bool(value >= limit - band if was_active else value >= limit)
    return bool(value <= limit + band if was_active else value <= limit)

"""What the publisher sends, as plain JSON-ready events: a tag change, an alarm transition, a line's state, its OEE.

Events are what the outbox keeps on disk; each format (hmi/mqtt/uns.py, hmi/mqtt/sparkplug.py) turns them into
MQTT messages only when they are sent, so Sparkplug sequence numbers follow the session that sends them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hmi.alarms.engine import AlarmChange
from hmi.oee.service import LineReport
from hmi.tags import TagState

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message to publish."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


def iso(when: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and a Z, the form JSON consumers parse most widely."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    """The datetime `iso` wrote."""
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def plain(value: Any) -> Any:
    """A value JSON can carry: numbers, booleans, text and null as they are; a non-finite number or anything else
    as its text (JSON has no NaN, RFC 8259 §6)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def tag_event(state: TagState) -> Event:
    """A tag's new value with its quality, status and source time (the time of the value, IEC 62541-4 §7.11)."""
    return {
        "kind": "tag",
        "tag": state.name,
        "value": plain(state.value),
        "quality": state.quality.value,
        "status": state.status,
        "time": iso(state.time),
    }


def alarm_event(change: AlarmChange) -> Event:
    """An alarm transition with the state after it (ISA-18.2 cl. 5)."""
    alarm = change.alarm
    return {
        "kind": "alarm",
        "id": alarm.id,
        "event": str(change.kind),
        "state": str(alarm.state),
        "priority": alarm.priority,
        "message": alarm.message,
        "tag": alarm.tag,
        "area": alarm.area,
        "line": alarm.line,
        "value": plain(alarm.value),
        "time": iso(change.at),
        "user": change.username,
    }


def line_state_event(line: str, state: TagState) -> Event:
    """A line's state (its state tag, PackML state name) changed."""
    return {
        "kind": "line_state",
        "line": line,
        "state": plain(state.value),
        "quality": state.quality.value,
        "time": iso(state.time),
    }


def oee_event(report: LineReport, shift: str, now: datetime) -> Event:
    """A line's OEE and its factors so far in the current shift (ISO 22400-2)."""
    oee = report.oee
    return {
        "kind": "oee",
        "line": report.line,
        "shift": shift,
        "start": iso(report.start),
        "end": iso(report.end),
        "oee": oee.oee if oee else None,
        "availability": oee.availability if oee else None,
        "performance": oee.performance if oee else None,
        "quality": oee.quality if oee else None,
        "good": report.good,
        "rejects": report.rejects,
        "time": iso(now),
    }


def dumps(event: Event) -> str:
    """The event as compact JSON text (for the outbox and the `uns` payloads)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

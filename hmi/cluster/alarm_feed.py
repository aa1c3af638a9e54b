"""The active instance's alarms as the standbys receive them: one JSON payload per NOTIFY message.

A payload is `{"reset": bool, "alarms": [row, ...], "gone": [id, ...]}`: the alarms that changed (whole, as the
engine holds them), the ids that returned to quiet normal, and `reset` when the payload starts a whole picture (the
standby drops what it had). Rows are cut below NOTIFY's payload limit (hmi/cluster/feed.py PAYLOAD_MAX); the texts
of a single row too long for one message are shortened, never the states or the times.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from hmi.alarms.engine import Alarm
from hmi.alarms.states import AlarmState, AlarmStatus, Shelf
from hmi.sources.server_alarms import ServerAlarm

# Texts longer than this in a row that would not fit one message (a PLC's message, a comment).
_TEXT_CUT = 1000


def iso(at: datetime | None) -> str | None:
    """A time as the feed sends it (ISO 8601 with its offset), or None."""
    return at.isoformat() if at is not None else None


def when(text: str | None) -> datetime | None:
    """The time `iso` sent, or None."""
    return datetime.fromisoformat(text) if text else None


def plain(value: Any) -> Any:
    """A value as JSON carries it: numbers, text, booleans and None as they are, anything else as its text."""
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _server_row(s: ServerAlarm) -> list[Any]:
    return [
        s.condition_id,
        s.event_id.hex(),
        s.endpoint,
        s.source_name,
        s.source_node,
        s.condition_name,
        s.message,
        s.severity,
        s.priority,
        s.active,
        s.acked,
        s.retain,
        iso(s.time),
        iso(s.received_at),
        s.comment,
    ]


def _server(row: list[Any] | None) -> ServerAlarm | None:
    if row is None:
        return None
    cid, event, endpoint, source, node, condition, message, severity, priority, active, acked, retain, at, got, note = (
        row
    )
    return ServerAlarm(
        condition_id=cid,
        event_id=bytes.fromhex(event),
        endpoint=endpoint,
        source_name=source,
        source_node=node,
        condition_name=condition,
        message=message,
        severity=int(severity),
        priority=int(priority),
        active=bool(active),
        acked=bool(acked),
        retain=bool(retain),
        time=when(at) or datetime.fromisoformat(got),
        received_at=datetime.fromisoformat(got),
        comment=note,
    )


def alarm_row(a: Alarm) -> dict[str, Any]:
    """One alarm as JSON-ready data (its definition is not sent: the standby has the same plant file)."""
    st = a.status
    return {
        "id": a.id,
        "priority": a.priority,
        "message": a.message,
        "tag": a.tag,
        "line": a.line,
        "area": a.area,
        "status": [
            st.lifecycle.value,
            st.condition,
            st.latching,
            None if st.shelf is None else [iso(st.shelf.until)],
            st.suppressed,
            st.out_of_service,
        ],
        "changed_at": iso(a.changed_at),
        "value": plain(a.value),
        "activated_at": iso(a.activated_at),
        "activation": a.activation,
        "first_out": a.first_out,
        "acked_by": a.acked_by,
        "acked_at": iso(a.acked_at),
        "ack_comment": a.ack_comment,
        "mode_by": a.mode_by,
        "mode_at": iso(a.mode_at),
        "mode_reason": a.mode_reason,
        "source": a.source,
        "server": None if a.server is None else _server_row(a.server),
    }


def alarm_of(row: dict[str, Any]) -> Alarm:
    """The alarm of one row, without its definition (the engine that mirrors it adds its own)."""
    lifecycle, condition, latching, shelf, suppressed, out_of_service = row["status"]
    changed_at = when(row["changed_at"])
    if changed_at is None:
        raise ValueError(f"alarm {row.get('id')!r} has no changed_at")
    return Alarm(
        id=str(row["id"]),
        priority=int(row["priority"]),
        message=str(row["message"]),
        tag=str(row["tag"]),
        line=str(row["line"]),
        area=str(row["area"]),
        status=AlarmStatus(
            lifecycle=AlarmState(lifecycle),
            condition=bool(condition),
            latching=bool(latching),
            shelf=None if shelf is None else Shelf(when(shelf[0])),
            suppressed=bool(suppressed),
            out_of_service=bool(out_of_service),
        ),
        changed_at=changed_at,
        value=row["value"],
        activated_at=when(row["activated_at"]),
        activation=int(row["activation"]),
        first_out=bool(row["first_out"]),
        acked_by=row["acked_by"],
        acked_at=when(row["acked_at"]),
        ack_comment=row["ack_comment"],
        mode_by=row["mode_by"],
        mode_at=when(row["mode_at"]),
        mode_reason=row["mode_reason"],
        source=str(row["source"]),
        server=_server(row["server"]),
    )


def _shortened(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for key in ("message", "ack_comment", "mode_reason"):
        if isinstance(row[key], str):
            row[key] = row[key][:_TEXT_CUT]
    row["value"] = None if row["value"] is None else str(row["value"])[:_TEXT_CUT]
    if row["server"] is not None:
        server = list(row["server"])
        server[6] = server[6][:_TEXT_CUT]
        server[14] = server[14][:_TEXT_CUT]
        row["server"] = server
    return row


def encode_alarms(alarms: Iterable[Alarm], gone: Sequence[str], *, reset: bool, limit: int) -> list[str]:
    """The changes as payloads of at most `limit` characters; `reset` is set on the first one only."""
    payloads: list[str] = []
    rows: list[str] = []
    first = reset

    def head(n: int) -> int:
        return len(json.dumps({"reset": first, "alarms": [], "gone": []})) + n

    def close(gone_ids: Sequence[str]) -> None:
        nonlocal rows, first
        gone_json = json.dumps(list(gone_ids), separators=(",", ":"))
        payloads.append(f'{{"reset":{json.dumps(first)},"alarms":[{",".join(rows)}],"gone":{gone_json}}}')
        rows, first = [], False

    size = head(0)
    for alarm in alarms:
        text = json.dumps(alarm_row(alarm), separators=(",", ":"))
        if head(len(text)) > limit:
            text = json.dumps(_shortened(alarm_row(alarm)), separators=(",", ":"))
        if rows and size + len(text) + 1 > limit:
            close(())
            size = head(0)
        rows.append(text)
        size += len(text) + 1
    # The ids that went quiet, in as many payloads as they need (an id is at most a few hundred characters).
    pending: list[str] = []
    listed = 0
    for alarm_id in gone:
        item = len(json.dumps(alarm_id)) + 1
        if (rows or pending) and size + listed + item > limit:
            close(pending)
            pending, size, listed = [], head(0), 0
        pending.append(alarm_id)
        listed += item
    if rows or pending or first:
        close(pending)
    return payloads


def decode_alarms(payload: str) -> tuple[bool, list[Alarm], list[str]]:
    """(reset, alarms, gone) of one payload."""
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("an alarm feed message is a JSON object")
    return bool(data["reset"]), [alarm_of(row) for row in data["alarms"]], [str(i) for i in data["gone"]]

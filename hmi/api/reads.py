"""GET endpoints: the plant, live values, history, alarms, the journal, OEE and stops, shift notes and the audit
trail, each read through the service the screens use."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.engine import Alarm
from hmi.alarms.journal_query import JournalFilter, query_journal
from hmi.api.auth import Caller, need
from hmi.api.errors import ApiError
from hmi.api.paging import Paging, iso, json_value, page, time_range, window
from hmi.config import CommandRef, Line, Tag
from hmi.historian.query import MIN_POINTS
from hmi.limits import check_span
from hmi.oee.service import LineReport, Stop
from hmi.records.audit_export import AuditFilter
from hmi.runtime import Runtime
from hmi.store.models import AlarmEvent, AuditEntry, ShiftNote
from hmi.tags import TagState

FROM = Query(None, alias="from", description="start, ISO 8601 with zone (e.g. 2025-01-06T06:00:00Z)")
TO = Query(None, alias="to", description="end, ISO 8601 with zone; default now")


def stop_id(line: str, start: datetime) -> str:
    """The id of a stop in the API: `<line>@<start, ISO 8601 UTC>` (a stop is its line and when it began)."""
    return f"{line}@{iso(start)}"


def read_routes(rt: Runtime, caller: Caller) -> APIRouter:
    """The read endpoints for `rt`."""
    router = APIRouter(prefix="/v1")
    who = Depends(caller)
    paged = Depends(Paging)

    @router.get("/plant", summary="Areas, lines, machines, tags (units, ranges, write limits) and commands")
    async def plant(ctx: ActionContext = who) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        p = rt.plant
        return {
            "site": {"name": p.site.name, "timezone": p.site.zone.key},
            "areas": [{"name": a.name, "lines": [_line(rt, ln) for ln in a.lines]} for a in p.areas],
        }

    @router.get("/tags", summary="Live values with quality, status code name, source and server time, unit")
    async def tags(
        request: Request,
        names: str | None = Query(None, description="comma-separated tag names; default every tag"),
        paging: Paging = paged,
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        wanted = [n.strip() for n in names.split(",") if n.strip()] if names else list(rt.plant.tags)
        unknown = [n for n in wanted if n not in rt.plant.tags]
        if unknown:
            raise ApiError(404, "not found", f"no tag {', '.join(unknown)} in the plant; GET /api/v1/plant lists them")
        rows = window(list(dict.fromkeys(wanted)), paging)
        return page(request, paging, rows, lambda name: tag_json(rt, name, rt.cache.get(name)))

    @router.get("/tags/{name}/history", summary="Recorded values, downsampled like the trend screen, or raw")
    async def history(
        request: Request,
        name: str,
        start: datetime | None = FROM,
        end: datetime | None = TO,
        max_points: int = Query(1000, ge=MIN_POINTS, le=5000, description="most points of the downsampled series"),
        raw: bool = Query(False, description="every recorded sample instead, in pages (limit, offset)"),
        paging: Paging = paged,
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        ref = rt.plant.tags.get(name)
        if ref is None:
            raise ApiError(404, "not found", f"no tag {name} in the plant; GET /api/v1/plant lists them")
        start, end = time_range(start, end, rt.clock(), timedelta(hours=1))
        if raw:
            samples = await rt.history.raw(name, start, end, limit=paging.limit + 1, offset=paging.offset)
            body = page(
                request,
                paging,
                samples,
                lambda s: {
                    "time": iso(s.time),
                    "value": json_value(s.value) if s.text is None else s.text,
                    "quality": s.quality,
                    "status": s.status,
                },
            )
            return {"tag": name, "unit": ref.tag.unit, "from": iso(start), "to": iso(end), **body}
        series = (await rt.history.series([name], start, end, max_points))[name]
        return {
            "tag": name,
            "unit": ref.tag.unit,
            "from": iso(start),
            "to": iso(end),
            "downsampled": series.downsampled,
            "points": [
                {"time": iso(t), "value": json_value(v)} for t, v in zip(series.times, series.values, strict=True)
            ],
            "gaps": [{"from": iso(a), "to": iso(b), "why": why} for a, b, why in series.bad_spans],
        }

    @router.get("/alarms/active", summary="Alarms in the operator's list, most urgent first")
    async def active(request: Request, paging: Paging = paged, ctx: ActionContext = who) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        alarms = sorted(rt.alarms.active(), key=lambda a: (a.priority, -a.changed_at.timestamp()))
        return page(request, paging, window(alarms, paging), alarm_json)

    @router.get("/alarms/journal", summary="The alarm journal (ISA-18.2 §16), newest first")
    async def journal(
        request: Request,
        start: datetime | None = FROM,
        end: datetime | None = TO,
        line: str | None = None,
        priority: str | None = None,
        kind: str | None = None,
        alarm_id: str | None = None,
        paging: Paging = paged,
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        start, end = time_range(start, end, rt.clock(), timedelta(days=1))
        check_span("the journal range", start, end, rt.plant.limits.list_max_days)
        flt = JournalFilter(since=start, until=end, line=line, priority=priority, kind=kind, alarm_id=alarm_id)
        rows = await query_journal(rt.db, flt, limit=paging.limit + 1, offset=paging.offset)
        return page(request, paging, rows, _event)

    @router.get("/lines/{line}/oee", summary="OEE of a line over the current shift, day or week (ISO 22400-2)")
    async def oee(
        line: str,
        window_name: Literal["shift", "day", "week"] = Query("shift", alias="window"),
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        _known_line(rt, line)
        start, end = rt.oee.windows()[window_name]
        return _report(await rt.oee.report(line, start, end), window_name)

    @router.get("/lines/{line}/stops", summary="Stops of a line with their downtime reasons, oldest first")
    async def stops(
        request: Request,
        line: str,
        start: datetime | None = FROM,
        end: datetime | None = TO,
        paging: Paging = paged,
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        _known_line(rt, line)
        start, end = time_range(start, end, rt.clock(), timedelta(days=1))
        check_span("the stops range", start, end, rt.plant.limits.list_max_days)
        found = await rt.oee.stops(line, start, end)
        return page(request, paging, window(found, paging), _stop)

    @router.get("/shift-notes", summary="Shift notes as they stand, newest first")
    async def notes(
        request: Request,
        line: str | None = None,
        start: datetime | None = FROM,
        end: datetime | None = TO,
        category: str | None = None,
        paging: Paging = paged,
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        need(ctx, Permission.VIEW)
        since, until = (
            (None, None) if start is None and end is None else time_range(start, end, rt.clock(), timedelta(days=7))
        )
        rows = await rt.notes.list(
            line, paging.limit + 1, since=since, until=until, category=category or None, offset=paging.offset
        )
        return page(request, paging, rows, _note)

    @router.get("/audit", summary="The audit trail, newest first (auditor roles only)")
    async def audit(
        request: Request,
        start: datetime | None = FROM,
        end: datetime | None = TO,
        user: str | None = None,
        action: str | None = None,
        paging: Paging = paged,
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        # As the audit screen: a refusal is itself recorded (21 CFR 11.10(e)).
        await rt.audit.require(ctx, Permission.VIEW_AUDIT, action="audit.view", object_type="audit")
        start, end = time_range(start, end, rt.clock(), timedelta(days=1))
        check_span("the audit range", start, end, rt.plant.limits.list_max_days)
        flt = AuditFilter.build(since=start, until=end, username=user or "", action=action or "")
        rows = await flt.query(rt.audit, paging.limit + 1, offset=paging.offset)
        return page(request, paging, rows, _audit_row)

    return router


def _known_line(rt: Runtime, line: str) -> None:
    if rt.plant.line(line) is None:
        known = ", ".join(ln.name for _, ln in rt.plant.lines())
        raise ApiError(404, "not found", f"no line {line} in the plant; known lines: {known}")


def _tag_info(rt: Runtime, tag: Tag) -> dict[str, Any]:
    limits = rt.plant.write_limits(tag.name)
    return {
        "name": tag.name,
        "description": tag.description,
        "data_type": tag.data_type,
        "unit": tag.unit,
        "eng_range": list(tag.eng_range) if tag.eng_range else None,
        "normal_range": list(tag.normal_range) if tag.normal_range else None,
        "writable": tag.write is not None,
        "write_limits": list(limits) if limits else None,
        "write_step": tag.write.step if tag.write is not None else None,
    }


def _command_info(ref: CommandRef) -> dict[str, Any]:
    return {"id": ref.id, "name": ref.command.name, "title": ref.command.title}


def _line(rt: Runtime, ln: Line) -> dict[str, Any]:
    commands = [ref for ref in rt.plant.commands.values() if ref.line.name == ln.name]
    return {
        "name": ln.name,
        "description": ln.description,
        "tags": [_tag_info(rt, t) for t in ln.tags],
        "commands": [_command_info(c) for c in commands if c.machine is None],
        "machines": [
            {
                "name": m.name,
                "description": m.description,
                "tags": [_tag_info(rt, t) for t in m.tags],
                "commands": [_command_info(c) for c in commands if c.machine is not None and c.machine.name == m.name],
            }
            for m in ln.machines
        ],
    }


def tag_json(rt: Runtime, name: str, state: TagState | None) -> dict[str, Any]:
    unit = rt.plant.tags[name].tag.unit
    if state is None:
        return {"name": name, "value": None, "quality": "no value", "status": None, "unit": unit}
    return {
        "name": name,
        "value": json_value(state.value),
        "quality": state.quality.value,
        "status": state.status,
        "source_time": iso(state.source_time),
        "server_time": iso(state.server_time),
        "stale_since": iso(state.stale_since),
        "unit": unit,
    }


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "name": alarm.name,
        "priority": alarm.priority,
        "message": alarm.message,
        "tag": alarm.tag,
        "area": alarm.area,
        "line": alarm.line,
        "state": alarm.state.value,
        "value": json_value(alarm.value),
        "activated_at": iso(alarm.activated_at),
        "changed_at": iso(alarm.changed_at),
        "acknowledged_by": alarm.acked_by,
        "acknowledged_at": iso(alarm.acked_at),
        "source": alarm.source,
    }


def _event(row: AlarmEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "alarm_id": row.alarm_id,
        "tag": row.tag,
        "area": row.area,
        "line": row.line,
        "priority": row.priority,
        "kind": str(row.kind),
        "state": row.state,
        "value": row.value,
        "message": row.message,
        "source_time": iso(row.source_time),
        "server_time": iso(row.server_time),
        "username": row.username,
        "comment": row.comment,
    }


def _stop(stop: Stop) -> dict[str, Any]:
    return {
        "id": stop_id(stop.line, stop.start),
        "line": stop.line,
        "start": iso(stop.start),
        "end": iso(stop.end),
        "duration_s": stop.duration_s,
        "state": stop.state,
        "category": str(stop.category),
        "reason": stop.reason,
        "reason_text": stop.reason_text,
        "planned": stop.planned,
        "comment": stop.comment,
        "assigned_by": stop.assigned_by,
        "assigned_at": iso(stop.assigned_at),
    }


def _report(report: LineReport, window_name: str) -> dict[str, Any]:
    result = report.oee
    return {
        "line": report.line,
        "window": window_name,
        "from": iso(report.start),
        "to": iso(report.end),
        "oee": result.oee if result else None,
        "availability": result.availability if result else None,
        "performance": result.performance if result else None,
        "quality": result.quality if result else None,
        "planned_busy_s": report.planned_busy_s,
        "actual_production_s": report.actual_production_s,
        "unknown_s": report.unknown_s,
        "good": report.good,
        "rejects": report.rejects,
        "produced": report.produced,
        "plan": report.plan,
        "stops": len(report.stops),
    }


def _note(note: ShiftNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "note_key": note.note_key,
        "version": note.version,
        "line": note.line,
        "machine": note.machine,
        "category": str(note.category),
        "shift": note.shift_name,
        "shift_date": note.shift_date.isoformat(),
        "text": note.text,
        "author": note.author_name,
        "station": note.station,
        "created_at": iso(note.created_at),
        "alarm_id": note.alarm_id,
    }


def _audit_row(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "username": row.username,
        "station": row.station,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "old_value": row.old_value,
        "new_value": row.new_value,
        "reason": row.reason,
        "detail": row.detail,
        "action_id": row.action_id,
    }

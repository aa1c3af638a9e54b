"""POST / PUT endpoints: every change through the service a screen uses, as the token's user (docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from hmi.access.context import ActionContext
from hmi.alarms.service import MAX_COMMENT
from hmi.api.auth import Caller
from hmi.api.errors import ApiError
from hmi.api.paging import iso, json_value
from hmi.api.reads import stop_id
from hmi.config import CommandRef
from hmi.control.outcome import Refusal, Result, WriteOutcome
from hmi.control.writes import NOT_GIVEN
from hmi.runtime import Runtime
from hmi.shifts import current_shift
from hmi.store.models import NoteCategory

# A refusal's HTTP status: the caller may not (403), the plant's state stands against it now (409), or the request
# itself is wrong (422). Reasons not listed (a new one) are 409.
_REFUSAL_STATUS = {
    Refusal.ROLE: 403,
    Refusal.SIGNATURE: 403,
    Refusal.INTERLOCK: 409,
    Refusal.MODE: 409,
    Refusal.PENDING: 409,
    Refusal.CHANGED: 409,
    Refusal.QUALITY: 409,
    Refusal.ENDPOINT_DOWN: 409,
    Refusal.LIMITS: 422,
    Refusal.STEP: 422,
    Refusal.BAD_VALUE: 422,
    Refusal.REASON_MISSING: 422,
    Refusal.NOT_WRITABLE: 422,
}
# What became of a write that was sent: confirmed by read-back, refused by the OPC UA server (a bad gateway), or
# sent but not confirmed in time (accepted, outcome unknown: check the value).
_RESULT_STATUS = {Result.CONFIRMED: 200, Result.SERVER_REFUSED: 502, Result.NOT_CONFIRMED: 202}


class AckBody(BaseModel):
    comment: str = Field("", max_length=MAX_COMMENT, description="why, or what was done (kept in the journal)")


class WriteBody(BaseModel):
    value: float | int | bool | str = Field(description="the new value, typed or as text")
    reason: str = Field("", max_length=1000, description="why (required where the plant says so)")
    expected: float | int | bool | str | None = Field(
        None, description="compare-before-write: the value the caller last saw; refused (409) if it changed"
    )


class CommandBody(BaseModel):
    args: dict[str, float | int | bool | str] = Field(default_factory=dict, description="method arguments by name")
    reason: str = Field("", max_length=1000)


class NoteBody(BaseModel):
    line: str = Field(max_length=120)
    text: str = Field(description="the note for the next shift")
    category: NoteCategory = NoteCategory.PRODUCTION
    machine: str = Field("", max_length=120)
    alarm_id: str | None = Field(None, max_length=200)


class StopReasonBody(BaseModel):
    reason: str = Field(max_length=64, description="a code of the plant's downtime_reasons")
    comment: str = Field("", max_length=1000)


class DownloadBody(BaseModel):
    reason: str = Field("", max_length=1000)


def act_routes(rt: Runtime, caller: Caller) -> APIRouter:
    """The endpoints that change something, for `rt`."""
    router = APIRouter(prefix="/v1")
    who = Depends(caller)

    @router.post("/alarms/{alarm_id}/ack", summary="Acknowledge an alarm (ISA-18.2 §11.5)")
    async def ack(alarm_id: str, body: AckBody, ctx: ActionContext = who) -> dict[str, Any]:
        if rt.alarms.get(alarm_id) is None:
            raise ApiError(404, "not found", f"no alarm {alarm_id}; GET /api/v1/alarms/active lists them")
        result = await rt.alarm_service.acknowledge(ctx, [alarm_id], body.comment)
        if result.failed:
            failure = result.failed[0]
            raise ApiError(
                502, "server refused", f"the OPC UA server did not acknowledge {alarm_id}: {failure.message}"
            )
        if not result.changes:
            raise ApiError(409, "nothing to acknowledge", f"alarm {alarm_id} is not waiting for an acknowledgement")
        change = result.changes[0]
        return {"alarm_id": alarm_id, "state": change.alarm.state.value, "at": iso(change.at), "by": ctx.username}

    @router.post("/tags/{name}/write", summary="Write a setpoint through the write service (limits, read-back)")
    async def write(name: str, body: WriteBody, response: Response, ctx: ActionContext = who) -> dict[str, Any]:
        if name not in rt.plant.tags:
            raise ApiError(404, "not found", f"no tag {name} in the plant; GET /api/v1/plant lists them")
        expected = body.expected if "expected" in body.model_fields_set else NOT_GIVEN
        outcome = await rt.control.write(ctx, name, body.value, expected=expected, reason=body.reason)
        return _answer(rt, outcome, response)

    @router.post(
        "/machines/{machine}/commands/{command}",
        summary="Run a command of a machine (or, by line name, of a line) through the write service",
    )
    async def command(
        machine: str, command: str, body: CommandBody, response: Response, ctx: ActionContext = who
    ) -> dict[str, Any]:
        ref = _command(rt, machine, command)
        outcome = await rt.control.command(ctx, ref.id, args=body.args, reason=body.reason)
        return _answer(rt, outcome, response)

    @router.post("/shift-notes", status_code=201, summary="Write a shift note for the next shift")
    async def add_note(body: NoteBody, ctx: ActionContext = who) -> dict[str, Any]:
        if rt.plant.line(body.line.strip()) is None:
            raise ApiError(404, "not found", f"no line {body.line} in the plant")
        shift = current_shift(rt.plant.site, rt.clock())
        note = await rt.notes.add(
            ctx,
            body.line,
            body.text,
            shift.name,
            shift.date,
            category=body.category,
            machine=body.machine,
            alarm_id=body.alarm_id,
        )
        return {"id": note.id, "note_key": note.note_key, "shift": note.shift_name, "created_at": iso(note.created_at)}

    @router.put("/stops/{stop}/reason", summary="Give a line stop its downtime reason")
    async def stop_reason(stop: str, body: StopReasonBody, ctx: ActionContext = who) -> dict[str, Any]:
        line, sep, when = stop.rpartition("@")
        try:
            start = datetime.fromisoformat(when) if sep else None
        except ValueError:
            start = None
        if start is None or start.tzinfo is None:
            raise ApiError(422, "invalid request", f"{stop!r} is not a stop id; use the id GET .../stops gives")
        if rt.plant.line(line) is None:
            raise ApiError(404, "not found", f"no line {line} in the plant")
        assigned = await rt.oee.assign_reason(ctx, line, start, body.reason, body.comment)
        return {"id": stop_id(line, start), "reason": assigned.reason, "by": assigned.username, "at": iso(assigned.at)}

    @router.post(
        "/recipes/{name}/versions/{version}/download",
        summary="Download an approved recipe version to the line through the write service",
    )
    async def download(
        name: str,
        body: DownloadBody,
        # Versions count from 1; the bound keeps a wild number from reaching the database's 64-bit integers.
        version: int = Path(ge=1, le=2**31 - 1, description="the approved version's number"),
        ctx: ActionContext = who,
    ) -> dict[str, Any]:
        if await rt.recipes.version_of(name, version) is None:
            raise ApiError(404, "not found", f"there is no version {version} of recipe {name!r}")
        report = await rt.recipes.download(ctx, name, version, reason=body.reason)
        return report.as_dict() | {"success": report.success}

    return router


def _command(rt: Runtime, machine: str, command: str) -> CommandRef:
    """The command `command` of `machine` (a machine name unique in the plant, `LINE.MACHINE`, or a line name)."""
    found = [
        ref
        for ref in rt.plant.commands.values()
        if ref.command.name == command
        and (
            (ref.machine is not None and machine in (ref.machine.name, f"{ref.line.name}.{ref.machine.name}"))
            or (ref.machine is None and ref.line.name == machine)
        )
    ]
    if not found:
        raise ApiError(404, "not found", f"no command {command} on {machine}; GET /api/v1/plant lists the commands")
    if len(found) > 1:
        ids = ", ".join(ref.id.rsplit(".", 1)[0] for ref in found)
        raise ApiError(409, "ambiguous", f"{machine} names several machines; say which: {ids}")
    return found[0]


def _answer(rt: Runtime, outcome: WriteOutcome, response: Response) -> dict[str, Any]:
    body = {
        "target": outcome.target,
        "kind": outcome.kind,
        "result": outcome.result.value,
        "message": outcome.message(rt.plant.site.zone),
        "requested": json_value(outcome.requested) if not isinstance(outcome.requested, dict) else outcome.requested,
        "old": json_value(outcome.old),
        "readback": json_value(outcome.readback),
        "status": outcome.status,
        "at": iso(outcome.at),
    }
    if outcome.result is Result.REFUSED:
        refusal = outcome.refusal
        status = _REFUSAL_STATUS.get(refusal, 409) if refusal is not None else 409
        detail = outcome.message(rt.plant.site.zone)
        raise ApiError(status, f"refused: {refusal.value if refusal else 'refused'}", detail, extra={"outcome": body})
    response.status_code = _RESULT_STATUS[outcome.result]
    return body

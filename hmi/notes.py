"""Shift notes: written by the people at the line for the next shift; stored with their audit entry."""

from __future__ import annotations

import builtins
from datetime import date

from sqlmodel import col, select

from hmi.audit import AuditLog
from hmi.clock import Clock, utc_now
from hmi.context import ActionContext
from hmi.roles import Permission
from hmi.store.database import Database
from hmi.store.models import ShiftNote

MAX_NOTE_LENGTH = 4000


class ShiftNotes:
    """Adds and lists shift notes; checks ADD_NOTE itself and audits additions and refusals."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def add(self, ctx: ActionContext, line: str, text: str, shift_name: str, shift_date: date) -> ShiftNote:
        """Store a note for `line` (needs ADD_NOTE); ValueError for empty or over-long text."""
        line = line.strip()
        await self._audit.require(ctx, Permission.ADD_NOTE, action="note.add", object_type="shift_note",
                                  object_id=line)
        text = text.strip()
        if not text:
            raise ValueError("the note is empty; write what the next shift needs to know")
        if len(text) > MAX_NOTE_LENGTH:
            raise ValueError(f"the note has {len(text)} characters; at most {MAX_NOTE_LENGTH} fit, please shorten it")
        if not line:
            raise ValueError("a note needs the line it is about")
        note = ShiftNote(line=line, shift_name=shift_name.strip(), shift_date=shift_date, author_id=ctx.user_id,
                         author_name=ctx.username, created_at=self._clock(), text=text, station=ctx.station,
                         action_id=ctx.id)
        async with self._audit.transaction() as session:
            session.add(note)
            await session.flush()
            await self._audit.record(
                ctx, "note.add", "shift_note", str(note.id), session=session, new_value=text,
                detail=f"line {line}, shift {note.shift_name} {shift_date.isoformat()}",
            )
        return note

    async def list(self, line: str | None = None, limit: int = 200) -> builtins.list[ShiftNote]:
        """Notes newest first, of one line or of all lines."""
        statement = select(ShiftNote)
        if line is not None:
            statement = statement.where(ShiftNote.line == line.strip())
        statement = statement.order_by(col(ShiftNote.created_at).desc(), col(ShiftNote.id).desc()).limit(max(1, limit))
        async with self._db.session() as session:
            return builtins.list((await session.execute(statement)).scalars())

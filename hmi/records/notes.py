"""Shift notes: written by the people at the line for the next shift; stored with their audit entry.

Notes are never edited in place (21 CFR 11.10(e): changes must not obscure what was recorded): an amendment or a
deletion is a new version of the note with a reason, and every version stays readable in its history."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.listeners import Listeners
from hmi.records.audit import AuditLog
from hmi.records.signatures import SignatureService, canonical_json
from hmi.store.database import Database
from hmi.store.models import NoteCategory, ShiftNote, Signature
from hmi.texts import Text

MAX_NOTE_LENGTH = 4000
MAX_REASON_LENGTH = 1000


class NoteNotFound(LookupError):
    """No note version has this id."""

    def __str__(self) -> str:
        return str(self.args[0])


class StaleNote(ValueError):
    """The version given is no longer the note's latest (someone amended or deleted it meanwhile)."""


@dataclass(frozen=True, slots=True)
class NoteChange:
    """A note added, amended, deleted or signed, told after its commit: the screens listing notes read them again."""

    note_id: int
    line: str
    remote: bool = False
    """Heard from another instance of a redundant pair (hmi/cluster/notes_feed.py), not made here."""


class ShiftNotes:
    """Adds and lists shift notes; checks ADD_NOTE itself and audits additions and refusals."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        # Every stored change, here or (on a pair) on another instance: how an open shift log hears of new notes.
        self.changes: Listeners[NoteChange] = Listeners("shift note")

    def _changed(self, note: ShiftNote) -> None:
        self.changes.emit(NoteChange(note.id or 0, note.line))

    async def add(
        self,
        ctx: ActionContext,
        line: str,
        text: str,
        shift_name: str,
        shift_date: date,
        *,
        category: NoteCategory | str = NoteCategory.PRODUCTION,
        machine: str = "",
        alarm_id: str | None = None,
    ) -> ShiftNote:
        """Store a note for `line` (and a machine, optionally linked to an alarm); needs ADD_NOTE.

        ValueError for empty or over-long text or an unknown category.
        """
        line = line.strip()
        await self._audit.require(ctx, Permission.ADD_NOTE, action="note.add", object_type="shift_note", object_id=line)
        text = _text(text)
        if not line:
            raise ValueError(Text("a note needs the line it is about"))
        category = _category(category)
        machine = machine.strip()[:120]
        alarm_id = (alarm_id or "").strip()[:200] or None
        note = ShiftNote(
            line=line,
            shift_name=shift_name.strip(),
            shift_date=shift_date,
            author_id=ctx.user_id,
            author_name=ctx.username,
            created_at=self._clock(),
            text=text,
            station=ctx.station,
            action_id=ctx.id,
            category=category,
            machine=machine,
            alarm_id=alarm_id,
        )
        where = f"line {line}" + (f", machine {machine}" if machine else "")
        async with self._audit.transaction() as session:
            session.add(note)
            await session.flush()
            await self._audit.record(
                ctx,
                "note.add",
                "shift_note",
                str(note.id),
                session=session,
                new_value=text,
                detail=f"{where}, {category.value}, shift {note.shift_name} {shift_date.isoformat()}"
                + (f", alarm {alarm_id}" if alarm_id else "")
                + f", note {note.note_key}",
            )
        self._changed(note)
        return note

    async def amend(self, ctx: ActionContext, note_id: int, text: str, reason: str) -> ShiftNote:
        """A new version of note `note_id` (its latest version) with new text and the reason; needs AMEND_NOTE."""
        await self._audit.require(
            ctx, Permission.AMEND_NOTE, action="note.amend", object_type="shift_note", object_id=str(note_id)
        )
        return await self._new_version(
            ctx, "note.amend", note_id, _text(text), _reason(reason, deleting=False), deleted=False
        )

    async def delete(self, ctx: ActionContext, note_id: int, reason: str) -> ShiftNote:
        """Delete note `note_id` logically: a last version marked deleted, with the reason; needs AMEND_NOTE."""
        await self._audit.require(
            ctx, Permission.AMEND_NOTE, action="note.delete", object_type="shift_note", object_id=str(note_id)
        )
        return await self._new_version(ctx, "note.delete", note_id, None, _reason(reason, deleting=True), deleted=True)

    async def sign(
        self,
        ctx: ActionContext,
        note_id: int,
        signatures: SignatureService,
        *,
        username: str | None,
        password: str,
        meaning: str = "Reviewed",
    ) -> Signature:
        """Sign one version of a note (21 CFR 11.50, 11.70); the signature is bound to that version's content, so an
        amendment needs its own signature."""
        await self._audit.require(
            ctx, Permission.ADD_NOTE, action="note.sign", object_type="shift_note", object_id=str(note_id)
        )
        note = await self.get(note_id)
        if note is None or note.deleted:
            raise ValueError(Text("there is no note {note_id} to sign", note_id=note_id))
        signature = await signatures.sign(
            ctx,
            username=username,
            password=password,
            meaning=meaning,
            object_type="shift_note",
            object_id=str(note.id),
            content=note_content(note),
        )
        self._changed(note)
        return signature

    async def get(self, note_id: int) -> ShiftNote | None:
        """One note version by id."""
        async with self._db.session() as session:
            return await session.get(ShiftNote, note_id)

    async def history(self, note_key: str) -> builtins.list[ShiftNote]:
        """Every version of one note, first to latest (deleted ones included)."""
        statement = select(ShiftNote).where(ShiftNote.note_key == note_key).order_by(col(ShiftNote.version))
        async with self._db.session() as session:
            return builtins.list((await session.execute(statement)).scalars())

    async def _new_version(
        self, ctx: ActionContext, action: str, note_id: int, text: str | None, reason: str, *, deleted: bool
    ) -> ShiftNote:
        try:
            async with self._audit.transaction() as session:
                old = await session.get(ShiftNote, note_id)
                if old is None:
                    raise NoteNotFound(Text("there is no note {note_id}", note_id=note_id))
                newer = (
                    await session.execute(select(ShiftNote.id).where(ShiftNote.supersedes_id == note_id).limit(1))
                ).first()
                if newer is not None:
                    raise StaleNote(Text("this note was changed meanwhile; reload and amend its latest version"))
                if old.deleted:
                    raise StaleNote(Text("this note was deleted; it can no longer be amended"))
                note = ShiftNote(
                    line=old.line,
                    shift_name=old.shift_name,
                    shift_date=old.shift_date,
                    author_id=ctx.user_id,
                    author_name=ctx.username,
                    created_at=self._clock(),
                    text=old.text if text is None else text,
                    station=ctx.station,
                    action_id=ctx.id,
                    note_key=old.note_key,
                    version=old.version + 1,
                    supersedes_id=old.id,
                    category=old.category,
                    machine=old.machine,
                    alarm_id=old.alarm_id,
                    deleted=deleted,
                    reason=reason,
                )
                session.add(note)
                await session.flush()
                # Prior values are never obscured: the old text is kept both in its row and in the audit entry.
                await self._audit.record(
                    ctx,
                    action,
                    "shift_note",
                    str(note.id),
                    session=session,
                    old_value=old.text,
                    new_value=None if deleted else note.text,
                    reason=reason,
                    detail=f"note {old.note_key} version {note.version} supersedes version {old.version} "
                    f"(id {old.id}) by {old.author_name}",
                )
        except IntegrityError:
            # Another person superseded the same version between our check and our insert.
            raise StaleNote(Text("this note was changed meanwhile; reload and amend its latest version")) from None
        self._changed(note)
        return note

    async def list(
        self,
        line: str | None = None,
        limit: int = 200,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        category: NoteCategory | str | None = None,
        include_deleted: bool = False,
        offset: int = 0,
    ) -> builtins.list[ShiftNote]:
        """Notes as they stand (latest version of each, deleted ones left out), newest first; of one line or of
        all lines, optionally only those written (first version) in [since, until); `offset` newest skipped."""
        superseded = select(ShiftNote.supersedes_id).where(col(ShiftNote.supersedes_id).is_not(None))
        statement = select(ShiftNote).where(col(ShiftNote.id).not_in(superseded))
        if not include_deleted:
            statement = statement.where(col(ShiftNote.deleted).is_(False))
        if category is not None:
            statement = statement.where(ShiftNote.category == _category(category))
        if since is not None or until is not None:
            first = select(ShiftNote.note_key).where(ShiftNote.version == 1)
            if since is not None:
                first = first.where(col(ShiftNote.created_at) >= since)
            if until is not None:
                first = first.where(col(ShiftNote.created_at) < until)
            statement = statement.where(col(ShiftNote.note_key).in_(first))
        if line is not None:
            statement = statement.where(ShiftNote.line == line.strip())
        statement = statement.order_by(col(ShiftNote.created_at).desc(), col(ShiftNote.id).desc())
        statement = statement.offset(max(0, offset)).limit(max(1, limit))
        async with self._db.session() as session:
            return builtins.list((await session.execute(statement)).scalars())


def _text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(Text("the note is empty; write what the next shift needs to know"))
    if len(text) > MAX_NOTE_LENGTH:
        raise ValueError(
            Text(
                "the note has {length} characters; at most {most} fit, please shorten it",
                length=len(text),
                most=MAX_NOTE_LENGTH,
            )
        )
    return text


def _reason(reason: str, *, deleting: bool) -> str:
    reason = reason.strip()
    if not reason:
        # Two whole sentences, not one with the verb filled in: a translation words each its own way.
        if deleting:
            raise ValueError(Text("deleting a note needs a reason; say why it changes"))
        raise ValueError(Text("amending a note needs a reason; say why it changes"))
    if len(reason) > MAX_REASON_LENGTH:
        raise ValueError(
            Text("the reason has {length} characters; at most {most} fit", length=len(reason), most=MAX_REASON_LENGTH)
        )
    return reason


def _category(category: NoteCategory | str) -> NoteCategory:
    try:
        return NoteCategory(str(category).strip().lower())
    except ValueError:
        choices = ", ".join(c.value for c in NoteCategory)
        raise ValueError(
            Text("unknown note category {category!r}; choose one of: {choices}", category=category, choices=choices)
        ) from None


def note_content(note: ShiftNote) -> str:
    """The text a signature on a note version is bound to."""
    return canonical_json(
        {
            "id": note.id,
            "note_key": note.note_key,
            "version": note.version,
            "line": note.line,
            "machine": note.machine,
            "category": str(note.category),
            "alarm_id": note.alarm_id,
            "text": note.text,
            "author": note.author_name,
            "created_at": note.created_at.isoformat(),
        }
    )

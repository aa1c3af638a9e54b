"""Shift notes on real databases: who may write them, what they hold, and their audit entries."""

from __future__ import annotations

from datetime import date

import pytest

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.records.audit import AuditLog
from hmi.records.notes import MAX_NOTE_LENGTH, ShiftNotes
from hmi.store.database import Database

MONDAY = date(2025, 1, 6)


@pytest.fixture
def notes(db: Database, audit: AuditLog, clock: ManualClock) -> ShiftNotes:
    return ShiftNotes(db, audit, clock)


async def sign_in(users: UserService, name: str, role: Role) -> ActionContext:
    await users.create_user(name, "a good password", role, name.title())
    ctx = (await users.sign_in(name, "a good password", station=f"{name}-panel")).ctx
    assert ctx is not None
    return ctx


@pytest.mark.req("SCR-008")
async def test_add_and_list_newest_first(
    users: UserService, audit: AuditLog, clock: ManualClock, notes: ShiftNotes
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    first = await notes.add(olga, "L1", "  Pump 2 noisy since 05:40.\n", "Early", MONDAY)
    clock.advance(600)
    second = await notes.add(olga, "L2", "Label roll low", "Early", MONDAY)
    clock.advance(600)
    third = await notes.add(olga, "L1", "Pump 2 bearing greased", "Early", MONDAY)

    assert first.text == "Pump 2 noisy since 05:40."
    assert (first.line, first.shift_name, first.shift_date, first.author_id, first.author_name, first.station) == (
        "L1",
        "Early",
        MONDAY,
        olga.user_id,
        "olga",
        "olga-panel",
    )
    assert third.created_at == clock.now()
    assert [n.id for n in await notes.list()] == [third.id, second.id, first.id]
    assert [n.id for n in await notes.list(line="L1")] == [third.id, first.id]
    assert [n.id for n in await notes.list(limit=1)] == [third.id]
    [stored] = await notes.list(line="L2")
    assert stored.created_at.tzinfo is not None
    assert stored.shift_date == MONDAY


@pytest.mark.req("REC-001")
async def test_note_and_audit_entry_share_the_action_id(
    users: UserService, audit: AuditLog, clock: ManualClock, notes: ShiftNotes
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    note = await notes.add(olga, "L1", "Changeover done", "Late", MONDAY)
    [entry] = await audit.query(action="note.add")
    assert note.action_id == olga.id == entry.action_id
    assert (entry.object_type, entry.object_id, entry.new_value, entry.username, entry.at) == (
        "shift_note",
        str(note.id),
        "Changeover done",
        "olga",
        note.created_at,
    )
    assert await audit.verify() is None


@pytest.mark.req("SCR-008")
async def test_manager_is_refused_and_the_refusal_audited(
    users: UserService, audit: AuditLog, clock: ManualClock, notes: ShiftNotes
) -> None:
    mara = await sign_in(users, "mara", Role.MANAGER)
    with pytest.raises(PermissionDenied, match="may not add note"):
        await notes.add(mara, "L1", "Looks fine", "Early", MONDAY)
    assert await notes.list() == []
    [refusal] = await audit.query(action="note.add.denied")
    assert (refusal.username, refusal.object_id, refusal.action_id) == ("mara", "L1", mara.id)


@pytest.mark.parametrize(
    ("text", "message"), [("", "empty"), ("  \n\t ", "empty"), ("x" * (MAX_NOTE_LENGTH + 1), "at most 4000")]
)
@pytest.mark.req("SEC-010")
async def test_empty_or_overlong_text_is_refused(
    users: UserService, audit: AuditLog, notes: ShiftNotes, text: str, message: str
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    with pytest.raises(ValueError, match=message):
        await notes.add(olga, "L1", text, "Early", MONDAY)
    assert await notes.list() == []
    assert await audit.query(action="note.add") == []


@pytest.mark.req("SEC-010")
async def test_longest_note_fits(users: UserService, notes: ShiftNotes) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    note = await notes.add(olga, "L1", "ü" * MAX_NOTE_LENGTH, "Early", MONDAY)
    [stored] = await notes.list()
    assert stored.text == note.text


@pytest.mark.req("REC-001")
async def test_note_and_audit_commit_together(audit: AuditLog, notes: ShiftNotes) -> None:
    # A context whose user row does not exist: the note insert fails on its foreign key,
    # and the audit entry written in the same transaction must go with it.
    ghost = ActionContext(user_id=999, username="ghost", full_name="Ghost", role=Role.OPERATOR)
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await notes.add(ghost, "L1", "boo", "Early", MONDAY)
    assert await notes.list() == []
    assert await audit.query() == []

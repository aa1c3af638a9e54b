"""Shift notes are never edited in place (21 CFR 11.10(e)): amendments and deletions are versions with reasons."""

from __future__ import annotations

from datetime import date

import pytest

from hmi.access.auth import UserService
from hmi.access.context import PermissionDenied
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.records.audit import AuditLog
from hmi.records.notes import ShiftNotes, StaleNote
from hmi.store.database import Database
from hmi.store.models import NoteCategory
from tests.integration.test_notes import sign_in

MONDAY = date(2025, 1, 6)


@pytest.fixture
def notes(db: Database, audit: AuditLog, clock: ManualClock) -> ShiftNotes:
    return ShiftNotes(db, audit, clock)


@pytest.mark.req("REC-007")
async def test_category_machine_and_alarm_link(users: UserService, notes: ShiftNotes) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    note = await notes.add(
        olga,
        "L1",
        "Jam cleared, guide rail bent",
        "Early",
        MONDAY,
        category="maintenance",
        machine="M1",
        alarm_id="L1.M1.Jam.discrete",
    )
    [stored] = await notes.list()
    assert (stored.category, stored.machine, stored.alarm_id, stored.version) == (
        NoteCategory.MAINTENANCE,
        "M1",
        "L1.M1.Jam.discrete",
        1,
    )
    assert note.note_key == stored.note_key
    with pytest.raises(ValueError, match="unknown note category"):
        await notes.add(olga, "L1", "x", "Early", MONDAY, category="gossip")


@pytest.mark.req("REC-007")
async def test_amend_and_delete_are_new_versions_with_reasons(
    users: UserService, audit: AuditLog, clock: ManualClock, notes: ShiftNotes
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    lena = await sign_in(users, "lena", Role.LEAD)
    first = await notes.add(olga, "L1", "Pump 2 noisy", "Early", MONDAY, category=NoteCategory.MAINTENANCE)
    other = await notes.add(olga, "L2", "Label roll low", "Early", MONDAY)
    clock.advance(60)
    with pytest.raises(ValueError, match="needs a reason"):
        await notes.amend(lena, first.id or 0, "Pump 2 very noisy", "  ")
    second = await notes.amend(lena, first.id or 0, "Pump 2 very noisy", "understated")
    assert (second.version, second.supersedes_id, second.note_key, second.author_name, second.reason) == (
        2,
        first.id,
        first.note_key,
        "lena",
        "understated",
    )
    assert second.category is NoteCategory.MAINTENANCE
    # Only the latest version can be amended: someone working from an old screen is told to reload.
    with pytest.raises(StaleNote):
        await notes.amend(olga, first.id or 0, "Pump 2 fine", "was wrong")
    assert [n.id for n in await notes.list()] == [second.id, other.id]

    clock.advance(60)
    gone = await notes.delete(olga, other.id or 0, "wrong line")
    assert gone.deleted
    assert gone.text == "Label roll low"
    assert [n.id for n in await notes.list()] == [second.id]
    with pytest.raises(StaleNote):
        await notes.amend(olga, gone.id or 0, "back", "undo")

    history = await notes.history(first.note_key)
    assert [(n.version, n.text) for n in history] == [(1, "Pump 2 noisy"), (2, "Pump 2 very noisy")]
    [amend] = await audit.query(action="note.amend")
    assert (amend.old_value, amend.new_value, amend.reason) == ("Pump 2 noisy", "Pump 2 very noisy", "understated")
    [delete] = await audit.query(action="note.delete")
    assert (delete.old_value, delete.new_value, delete.reason) == ("Label roll low", None, "wrong line")
    assert await audit.verify() is None


@pytest.mark.req("REC-007")
async def test_manager_cannot_amend_and_the_refusal_is_audited(
    users: UserService, audit: AuditLog, notes: ShiftNotes
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    max_ = await sign_in(users, "max", Role.MANAGER)
    note = await notes.add(olga, "L1", "x", "Early", MONDAY)
    with pytest.raises(PermissionDenied):
        await notes.amend(max_, note.id or 0, "y", "because")
    with pytest.raises(PermissionDenied):
        await notes.delete(max_, note.id or 0, "because")
    assert {e.action for e in await audit.query(username="max")} >= {"note.amend.denied", "note.delete.denied"}


@pytest.mark.req("REC-010", "REC-011")
async def test_a_note_version_is_signed_and_the_signature_is_bound_to_it(
    db: Database, users: UserService, audit: AuditLog, clock: ManualClock, notes: ShiftNotes
) -> None:
    """21 CFR 11.50, 11.70, 11.200 for notes: user id + password, manifestation, bound to exactly that version's
    content."""
    from hmi.records.notes import note_content
    from hmi.records.signatures import SignatureRefused, SignatureService

    signatures = SignatureService(db, audit, users, clock)
    lena = await sign_in(users, "lena", Role.LEAD)
    note = await notes.add(lena, "L1", "Cleaning done, line released", "Early", MONDAY, category="quality")
    with pytest.raises(SignatureRefused):
        await notes.sign(lena, note.id or 0, signatures, username="lena", password="wrong password")
    sig = await notes.sign(
        lena, note.id or 0, signatures, username="lena", password="a good password", meaning="Approved"
    )
    assert (sig.username, sig.meaning, sig.object_type, sig.object_id) == (
        "lena",
        "Approved",
        "shift_note",
        str(note.id),
    )
    assert signatures.verify(sig, note_content(note))
    amended = await notes.amend(lena, note.id or 0, "Cleaning done, line released at 07:10", "time added")
    assert not signatures.verify(sig, note_content(amended)), "a signature does not move to the amended text"
    assert "Signed by Lena (lena)" in signatures.manifestation(sig)
    assert [e.action for e in await audit.query(action="sign")] == ["sign"]


@pytest.mark.req("REC-011")
async def test_a_manager_may_not_sign_a_note(
    db: Database, users: UserService, audit: AuditLog, clock: ManualClock, notes: ShiftNotes
) -> None:
    from hmi.records.signatures import SignatureService

    olga = await sign_in(users, "olga", Role.OPERATOR)
    max_ = await sign_in(users, "max", Role.MANAGER)
    note = await notes.add(olga, "L1", "Seal replaced", "Early", MONDAY)
    with pytest.raises(PermissionDenied):
        await notes.sign(
            max_, note.id or 0, SignatureService(db, audit, users, clock), username="max", password="a good password"
        )
    assert [e.username for e in await audit.query(action="note.sign.denied")] == ["max"]

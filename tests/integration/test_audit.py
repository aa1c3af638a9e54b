"""The audit trail on real databases: append, query, the hash chain, and tampering found by verify()."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission, Role
from hmi.clock import ManualClock
from hmi.records.audit import AuditLog, row_hash, system_context
from hmi.store.database import Database
from hmi.store.models import GENESIS_HASH, AuditEntry
from tests.conftest import drop_audit_guards, execute
from tests.waiting import until

ALICE = ActionContext(user_id=1, username="alice", full_name="Alice Adams", role=Role.OPERATOR, station="panel-1")
MARA = ActionContext(user_id=2, username="mara", full_name="Mara Meyer", role=Role.MANAGER, station="office")


async def fill(audit: AuditLog, clock: ManualClock, count: int) -> list[AuditEntry]:
    entries = []
    for i in range(count):
        entries.append(await audit.record(ALICE, "note.add", "shift_note", str(i), new_value=f"note {i}"))
        clock.advance(60)
    return entries


@pytest.mark.req("REC-001")
async def test_record_fills_who_what_when(audit: AuditLog, clock: ManualClock) -> None:
    entry = await audit.record(
        ALICE,
        "alarm.shelve",
        "alarm",
        "L1.TempHigh",
        old_value="unack_active",
        new_value={"state": "shelved", "minutes": 30},
        reason="sensor replaced",
    )
    [stored] = await audit.query()
    assert stored == entry
    assert (stored.id, stored.at, stored.user_id, stored.username, stored.station) == (
        1,
        clock.now(),
        1,
        "alice",
        "panel-1",
    )
    assert (stored.action, stored.object_type, stored.object_id) == ("alarm.shelve", "alarm", "L1.TempHigh")
    assert stored.old_value == "unack_active"
    assert stored.new_value == '{"minutes": 30, "state": "shelved"}'
    assert stored.reason == "sensor replaced"
    assert stored.action_id == ALICE.id
    assert stored.prev_hash == GENESIS_HASH
    assert stored.at.tzinfo is not None


@pytest.mark.req("REC-001")
async def test_system_actor_has_no_user_id(audit: AuditLog) -> None:
    entry = await audit.record(system_context("cli:root", station="host"), "user.create", "user", "bob")
    anonymous = await audit.record(None, "runtime.start", "runtime", "")
    assert (entry.user_id, entry.username, entry.station) == (None, "cli:root", "host")
    assert (anonymous.user_id, anonymous.username, anonymous.action_id) == (None, "system", None)


@pytest.mark.req("REC-006")
async def test_query_is_newest_first_and_filters(audit: AuditLog, clock: ManualClock) -> None:
    start = clock.now()
    await fill(audit, clock, 5)
    await audit.record(MARA, "audit.export", "audit", "all")
    assert [e.id for e in await audit.query()] == [6, 5, 4, 3, 2, 1]
    assert [e.id for e in await audit.query(limit=2)] == [6, 5]
    assert [e.id for e in await audit.query(username="mara")] == [6]
    assert [e.id for e in await audit.query(action="note.add")] == [5, 4, 3, 2, 1]
    window = await audit.query(since=start + timedelta(minutes=1), until=start + timedelta(minutes=3))
    assert [e.id for e in window] == [3, 2]


@pytest.mark.req("REC-003")
async def test_chain_verifies_and_links_each_row_to_the_one_before(audit: AuditLog, clock: ManualClock) -> None:
    entries = await fill(audit, clock, 12)
    assert await audit.verify() is None
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.row_hash


@pytest.mark.req("REC-003")
async def test_empty_trail_verifies(audit: AuditLog) -> None:
    assert await audit.verify() is None


@pytest.mark.req("REC-003")
async def test_concurrent_appends_keep_one_unbroken_chain(db: Database, clock: ManualClock) -> None:
    # Two AuditLogs on two engines stand for two processes (or two instances sharing PostgreSQL):
    # only the database's own lock keeps them from linking to the same previous row.
    other = Database(db.url)
    await other.start()
    try:
        first, second = AuditLog(db, clock), AuditLog(other, clock)
        await asyncio.gather(
            *(log.record(ALICE, "note.add", "shift_note", str(i)) for i in range(15) for log in (first, second))
        )
    finally:
        await other.stop()
    entries = await AuditLog(db, clock).query()
    assert sorted(e.id for e in entries) == list(range(1, 31))
    assert await first.verify() is None


@pytest.mark.req("REC-001")
async def test_appends_in_a_callers_session_do_not_deadlock_with_other_appends(db: Database, audit: AuditLog) -> None:
    # The alarm service writes its records and their audit rows in its own write session. While that session
    # holds the database lock, another append waits for it; the service's next append must not wait for that one.
    async def service_transaction() -> asyncio.Task[AuditEntry]:
        async with db.session(write=True) as session:
            await audit.record(ALICE, "acknowledge", "alarm", "A1", session=session)
            other = asyncio.create_task(audit.record(MARA, "audit.export", "audit", "all"))
            # Fence: the other append holds the audit lock (and goes on to wait for the database). Taking that
            # lock here as well would deadlock.
            await until(audit._lock.locked, what="the other append to take the audit lock")
            await audit.record(ALICE, "acknowledge", "alarm", "A2", session=session)
            await session.commit()
        return other

    other = await asyncio.wait_for(service_transaction(), timeout=4)
    await asyncio.wait_for(other, timeout=4)
    assert [e.object_id for e in await audit.query()] == ["all", "A2", "A1"]
    assert await audit.verify() is None


@pytest.mark.req("REC-001")
async def test_a_failed_transaction_leaves_no_audit_row(audit: AuditLog) -> None:
    async def record_then_fail() -> None:
        async with audit.transaction() as session:
            await audit.record(ALICE, "note.add", "shift_note", "1", session=session)
            raise RuntimeError("record failed")

    with pytest.raises(RuntimeError, match="record failed"):
        await record_then_fail()
    assert await audit.query() == []
    await audit.record(ALICE, "note.add", "shift_note", "1")
    assert await audit.verify() is None


@pytest.mark.req("REC-001")
async def test_nested_transaction_is_refused_instead_of_hanging(audit: AuditLog) -> None:
    async with audit.transaction():
        with pytest.raises(RuntimeError, match="not re-entrant"):
            async with audit.transaction():
                pass


@pytest.mark.req("REC-001")
async def test_require_audits_the_refusal(audit: AuditLog) -> None:
    await audit.require(ALICE, Permission.ADD_NOTE, action="note.add", object_type="shift_note")
    with pytest.raises(PermissionDenied, match="mara"):
        await audit.require(MARA, Permission.ADD_NOTE, action="note.add", object_type="shift_note", object_id="L1")
    [refusal] = await audit.query()
    assert (refusal.username, refusal.action, refusal.object_id) == ("mara", "note.add.denied", "L1")
    assert refusal.reason == "role manager lacks add_note"


@pytest.mark.req("REC-002")
async def test_the_database_refuses_update_and_delete(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    await fill(audit, clock, 2)
    for statement in (
        "UPDATE audit_entries SET username = 'mallory' WHERE id = 1",
        "DELETE FROM audit_entries WHERE id = 2",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await execute(db, statement)
    assert len(await audit.query()) == 2


@pytest.mark.req("REC-004")
async def test_verify_finds_a_direct_update(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    await fill(audit, clock, 6)
    await drop_audit_guards(db)
    await execute(db, "UPDATE audit_entries SET new_value = 'nothing to see' WHERE id = 4")
    assert await audit.verify() == 4


@pytest.mark.req("REC-004")
async def test_verify_finds_an_update_with_a_recomputed_row_hash(
    db: Database, audit: AuditLog, clock: ManualClock
) -> None:
    entries = await fill(audit, clock, 6)
    await drop_audit_guards(db)
    forged = entries[2].model_copy(update={"username": "mallory"})
    await execute(
        db, "UPDATE audit_entries SET username = 'mallory', row_hash = :h WHERE id = 3", {"h": row_hash(forged)}
    )
    # Row 3 is self-consistent now, but row 4 still points at the original.
    assert await audit.verify() == 4


@pytest.mark.req("REC-004")
async def test_verify_finds_a_direct_delete(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    await fill(audit, clock, 6)
    await drop_audit_guards(db)
    await execute(db, "DELETE FROM audit_entries WHERE id = 3")
    assert await audit.verify() == 4


@pytest.mark.req("REC-004")
async def test_verify_reads_long_trails_in_batches(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    async with audit.transaction() as session:
        for i in range(40):
            await audit.record(ALICE, "tag.write", "tag", f"T{i}", new_value=i, session=session)
    await drop_audit_guards(db)
    assert await audit.verify(batch_size=7) is None
    await execute(db, "DELETE FROM audit_entries WHERE id IN (8, 29)")
    # Row 9 starts the second batch; its link to row 7 must still be checked across the batch boundary.
    assert await audit.verify(batch_size=7) == 9

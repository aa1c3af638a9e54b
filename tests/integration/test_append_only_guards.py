"""Records stay as written (21 CFR 11.10(e), ISA-18.2 §16 alarm history): the database refuses changes to the
audit trail, alarm journal, acknowledgements and signatures; guards found missing at start-up are re-installed and
that is recorded in the audit trail and shown to administrators, never silently. SQLite file and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from hmi.access.roles import Role
from hmi.records.audit import GUARDS_INSTALLED, GUARDS_RESTORED, AuditLog, record_guard_report
from hmi.records.audit_anchor import AnchorFile
from hmi.records.audit_key import AuditKeyError, load_key
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.store.models import SCHEME_HMAC, Acknowledgement, AlarmEvent, AlarmEventKind, Signature, User
from tests.conftest import execute
from tests.opcua_server import free_port
from tests.plant_fixture import small_plant

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)


async def seed_records(db: Database) -> None:
    async with db.session() as session:
        session.add(User(id=1, username="olga", role=Role.OPERATOR, password_hash="x", created_at=T0))
        await session.flush()
        session.add(
            AlarmEvent(
                alarm_id="L1.TempHigh",
                kind=AlarmEventKind.ACTIVATED,
                state="unack_active",
                server_time=T0,
                message="Temperature high",
            )
        )
        session.add(
            Acknowledgement(
                alarm_id="L1.TempHigh", activation_source_time=T0, user_id=1, username="olga", at=T0, action_id="a1"
            )
        )
        session.add(
            Signature(
                user_id=1,
                username="olga",
                printed_name="Olga",
                signed_at=T0,
                meaning="Reviewed",
                object_type="handover",
                object_id="1",
                content_hash="0" * 64,
                action_id="a2",
            )
        )
        await session.commit()


@pytest.mark.parametrize(
    ("table", "column"), [("alarm_events", "message"), ("acknowledgements", "username"), ("signatures", "meaning")]
)
@pytest.mark.req("REC-002")
async def test_journal_acknowledgements_and_signatures_are_append_only(db: Database, table: str, column: str) -> None:
    await seed_records(db)
    statements = [f"UPDATE {table} SET {column} = 'changed'", f"DELETE FROM {table}"]
    if db.dialect == "postgresql":
        statements.append(f"TRUNCATE {table} CASCADE")
    for statement in statements:
        with pytest.raises(DBAPIError, match=f"{table} is append-only"):
            await execute(db, statement)
    async with db.session() as session:
        assert (await session.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))).scalar_one() == 1


def runtime(db: Database, data_dir: Path) -> Runtime:
    # Nothing listens at the endpoint: the source keeps retrying in the background, records work regardless.
    return Runtime(small_plant(f"opc.tcp://127.0.0.1:{free_port()}"), db, data_dir=data_dir)


async def drop_guards(db: Database) -> list[str]:
    """Remove guards as the database owner could; returns the names the finding must list."""
    if db.dialect == "sqlite":
        names = ["audit_entries_no_delete", "alarm_events_no_update"]
        for name in names:
            await execute(db, f"DROP TRIGGER {name}")
        return names
    await execute(db, "DROP TRIGGER audit_entries_append_only ON audit_entries")
    await execute(db, "ALTER TABLE alarm_events DISABLE TRIGGER alarm_events_append_only")
    return ["audit_entries_append_only", "alarm_events_append_only"]


@pytest.mark.req("REC-005")
async def test_dropped_guards_are_reinstalled_and_recorded_at_start(db: Database, tmp_path: Path) -> None:
    rt = runtime(db, tmp_path / "data")
    await rt.start()
    await rt.stop()
    assert rt.findings == []
    await db.start()
    dropped = await drop_guards(db)
    await db.stop()

    rt = runtime(db, tmp_path / "data")
    await rt.start()
    try:
        [restored] = await rt.audit.query(action=GUARDS_RESTORED)
        assert json.loads(restored.new_value or "") == dropped
        assert restored.scheme == SCHEME_HMAC
        [finding] = rt.findings
        assert all(name in finding for name in dropped)
        assert "run `hmi audit verify`" in finding
        async with db.session() as session:
            session.add(AlarmEvent(alarm_id="A", kind=AlarmEventKind.ACTIVATED, state="unack_active", server_time=T0))
            await session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            await execute(db, "DELETE FROM audit_entries")
        with pytest.raises(DBAPIError, match="append-only"):
            await execute(db, "UPDATE alarm_events SET message = 'x'")
    finally:
        await rt.stop()
    # Recorded once: the next start finds them intact.
    rt = runtime(db, tmp_path / "data")
    await rt.start()
    try:
        assert len(await rt.audit.query(action=GUARDS_RESTORED)) == 1
        assert rt.findings == []
    finally:
        await rt.stop()


@pytest.mark.req("REC-005")
async def test_a_guard_replaced_by_one_that_does_nothing_is_found(db: Database) -> None:
    audit = AuditLog(db)
    await record_guard_report(audit, db)  # the new database's guards, recorded as installed
    if db.dialect == "sqlite":
        await execute(db, "DROP TRIGGER audit_entries_no_delete")
        await execute(db, "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries BEGIN SELECT 1; END")
        expected = ["audit_entries_no_delete"]
    else:
        await execute(
            db,
            "CREATE OR REPLACE FUNCTION hmi_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN OLD; END $$",
        )
        expected = ["function hmi_audit_append_only()"]
    await db.stop()
    await db.start()
    finding = await record_guard_report(audit, db)
    assert finding is not None
    [restored] = await audit.query(action=GUARDS_RESTORED)
    assert json.loads(restored.new_value or "") == expected


@pytest.mark.req("REC-005")
async def test_guards_new_in_this_version_are_installed_not_reported_as_tampering(db: Database) -> None:
    audit = AuditLog(db)
    # A database of the previous version: rows in the audit trail and its own guards, none on the journal yet.
    await audit.record(None, "login", "user", "olga")
    if db.dialect == "sqlite":
        for name in ("alarm_events_no_update", "alarm_events_no_delete"):
            await execute(db, f"DROP TRIGGER {name}")
    else:
        await execute(db, "DROP TRIGGER alarm_events_append_only ON alarm_events")
        await execute(db, "DROP TRIGGER alarm_events_no_truncate ON alarm_events")
    await db.stop()
    await db.start()
    assert await record_guard_report(audit, db) is None
    [installed] = await audit.query(action=GUARDS_INSTALLED)
    assert {"alarm_events_no_update", "alarm_events_append_only"} & set(json.loads(installed.new_value or ""))
    assert await audit.query(action=GUARDS_RESTORED) == []
    # Once installed (and recorded), removing them is tampering.
    await execute(
        db,
        "DROP TRIGGER alarm_events_no_update"
        if db.dialect == "sqlite"
        else "DROP TRIGGER alarm_events_append_only ON alarm_events",
    )
    await db.stop()
    await db.start()
    assert await record_guard_report(audit, db) is not None


@pytest.mark.req("REC-005")
async def test_verify_reports_missing_guards_without_reinstalling_them(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hmi.cli import main

    await AuditLog(db).record(None, "test.row", "thing", "1")
    await drop_guards(db)
    code = await asyncio.to_thread(main, ["audit", "verify", "--db", db.url, "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "WARNING: append-only guards missing or altered:" in out
    # Still missing: verify only looked (the row can be deleted, and nothing was recorded).
    async with db.session() as session:
        assert (await session.execute(sa.text("SELECT action FROM audit_entries"))).scalars().all() == ["test.row"]
    await execute(db, "DELETE FROM audit_entries")


@pytest.mark.req("SEC-009")
async def test_the_runtime_keys_anchors_and_keeps_its_files_private(db: Database, tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = os.umask(0)  # the widest umask: the modes must not depend on it
    try:
        rt = runtime(db, data)
        await rt.start()
        await rt.users.create_user("olga", "a-long-password-1", Role.OPERATOR, enforce_policy=False)
        first = await rt.anchors.anchor_now() if rt.anchors else None
        await rt.users.create_user("max", "a-long-password-2", Role.OPERATOR, enforce_policy=False)
        await rt.stop()
    finally:
        os.umask(old)
    modes = [stat.S_IMODE(path.stat().st_mode) for path in (data, data / "audit.key", data / "audit.anchor")]
    assert modes == [0o700, 0o600, 0o600]
    key = load_key(data / "audit.key")
    await db.start()
    audit = AuditLog(db, key=key)
    check = await audit.check_chain()
    assert check.intact
    assert check.legacy == 0
    [created] = await audit.query(action="audit.key.create")
    assert created.new_value == audit.key_id
    # The anchor written at stop covers the last row; the one before it an earlier head.
    last = AnchorFile(data / "audit.anchor").last()
    assert last is not None
    assert (last.rows, last.head) == (check.rows, check.last_hash)
    assert first is not None
    assert first.rows < last.rows


@pytest.mark.req("SEC-009")
async def test_the_runtime_refuses_a_keyed_trail_whose_key_is_missing(db: Database, tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = runtime(db, data)
    await rt.start()
    await rt.stop()
    (data / "audit.key").rename(tmp_path / "elsewhere.key")
    rt = runtime(db, data)
    # A new key would make every keyed row unverifiable: the start stops and says what to restore.
    with pytest.raises(AuditKeyError, match=r"keyed rows but the audit key file .* is missing"):
        await rt.start()
    assert not (data / "audit.key").exists()
    await rt.stop()

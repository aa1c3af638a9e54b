"""The audit trail against someone who can write the database (21 CFR 11.10(e)): a keyed (HMAC) chain, its head
anchored in a file outside the database, `hmi audit verify` naming the first row that breaks, and databases from
before the key migrating with their rows still verifiable. On the SQLite file and the local PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.records.audit import AuditKeyMissing, AuditLog, record_guard_report, row_hash
from hmi.records.audit_anchor import Anchor, AnchorFile
from hmi.records.audit_export import CHAIN_HEAD_PREFIX
from hmi.records.audit_key import key_id, load_or_create_key
from hmi.store.database import Database
from hmi.store.models import SCHEME_HMAC, SCHEME_SHA256, AuditEntry
from tests.conftest import drop_audit_guards, execute
from tests.integration.conftest import Hmi

OLGA = ActionContext(user_id=1, username="olga", full_name="Olga Operator", role=Role.OPERATOR, station="panel-1")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data directory holding audit.key and audit.anchor (the database itself is the `db` fixture's)."""
    return tmp_path / "hmi-data"


@pytest.fixture
def key(data_dir: Path) -> bytes:
    """The audit key, created as the runtime does on first start."""
    return load_or_create_key(data_dir / "audit.key")[0]


@pytest.fixture
def keyed(db: Database, clock: ManualClock, key: bytes) -> AuditLog:
    """An audit log signing with `key`."""
    return AuditLog(db, clock, key)


async def fill(audit: AuditLog, clock: ManualClock, count: int, start: int = 0) -> list[AuditEntry]:
    rows = []
    for i in range(start, start + count):
        rows.append(await audit.record(OLGA, "note.add", "shift_note", str(i), new_value=f"note {i}"))
        clock.advance(60)
    return rows


async def anchor(audit: AuditLog, data_dir: Path) -> Anchor:
    """Anchor the verified head as the runtime's anchor task does."""
    check = await audit.check_chain()
    assert check.intact
    head = audit.anchor_of(check)
    await asyncio.to_thread(AnchorFile(data_dir / "audit.anchor").append, head)
    return head


async def forge_without_key(db: Database, rows: list[AuditEntry], first: int, *, downgrade: bool) -> None:
    """Edit row `first` and recompute its hash and every later one, as someone without the key can: with plain
    SHA-256 (the only hash they can make), either keeping the rows' keyed scheme or marking them unkeyed."""
    prev = rows[first - 2].row_hash if first > 1 else "0" * 64
    for original in rows[first - 1 :]:
        scheme = SCHEME_SHA256 if downgrade else original.scheme
        forged = original.model_copy(update={"prev_hash": prev, "scheme": SCHEME_SHA256})
        if original.id == first:
            forged.new_value = "nothing happened"
        new_hash = row_hash(forged)
        await execute(
            db,
            "UPDATE audit_entries SET new_value = :v, prev_hash = :p, row_hash = :h, scheme = :s WHERE id = :id",
            {"v": forged.new_value, "p": prev, "h": new_hash, "s": scheme, "id": original.id},
        )
        prev = new_hash


@pytest.mark.req("REC-003")
async def test_rows_are_keyed_and_verify_says_so(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, data_dir: Path, key: bytes
) -> None:
    rows = await fill(keyed, clock, 4)
    assert {row.scheme for row in rows} == {SCHEME_HMAC}
    assert rows[0].row_hash != row_hash(rows[0].model_copy(update={"scheme": SCHEME_SHA256}))
    await anchor(keyed, data_dir)
    code, out, err = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "OK: 4 rows, chain intact"
    assert lines[1] == f"last row hash: {rows[-1].row_hash}"
    assert lines[2] == "4 keyed rows (HMAC-SHA256), 0 unkeyed rows (SHA-256, written before the key existed)"
    assert lines[3].startswith("tail matches the anchor of ")
    # Without the key the keyed rows cannot be checked at all: said so, not reported intact.
    code, _, err = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir / "elsewhere"))
    assert code == 2
    assert "give the audit key with --key-file" in err
    assert key_id(key) == keyed.key_id


@pytest.mark.parametrize("downgrade", [False, True], ids=["keeping-scheme", "marked-unkeyed"])
@pytest.mark.req("REC-004")
async def test_an_edit_with_the_chain_recomputed_without_the_key_is_found(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, data_dir: Path, downgrade: bool
) -> None:
    rows = await fill(keyed, clock, 6)
    await drop_audit_guards(db)
    await forge_without_key(db, rows, 3, downgrade=downgrade)
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("BROKEN at row 3: ")
    assert ("recomputed without the key" in first) if downgrade else ("does not match its HMAC" in first)
    assert out.splitlines()[1] == "2 rows before it are intact"


@pytest.mark.req("REC-004")
async def test_a_whole_chain_recomputed_unkeyed_is_found_by_the_anchor(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, data_dir: Path
) -> None:
    rows = await fill(keyed, clock, 5)
    await anchor(keyed, data_dir)
    await drop_audit_guards(db)
    # Every row rewritten as a plain SHA-256 chain: self-consistent, and without a key it would look legacy.
    await forge_without_key(db, rows, 1, downgrade=True)
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN at row 1: this row is unkeyed but the anchor of ")
    assert "counted only 0 unkeyed rows" in out.splitlines()[0]


@pytest.mark.req("REC-004")
async def test_deleted_last_rows_are_found_against_the_anchor(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, data_dir: Path
) -> None:
    await fill(keyed, clock, 6)
    await anchor(keyed, data_dir)
    await drop_audit_guards(db)
    await execute(db, "DELETE FROM audit_entries WHERE id >= 5")
    assert await keyed.verify() is None, "the shorter chain is valid in itself"
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN at row 5: truncated: the anchor of ")
    assert "recorded 6 rows up to row 6" in out.splitlines()[0]
    assert "the database ends at row 4" in out.splitlines()[0]


@pytest.mark.req("REC-004")
async def test_another_head_than_the_anchor_is_found(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, data_dir: Path
) -> None:
    # Even someone holding the key (but not the anchor file) who cuts the tail and writes new rows is found.
    await fill(keyed, clock, 4)
    await anchor(keyed, data_dir)
    await drop_audit_guards(db)
    await execute(db, "DELETE FROM audit_entries WHERE id = 4")
    await fill(keyed, clock, 2, start=100)
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN at row 4: its hash differs from the head anchored at ")


@pytest.mark.req("REC-003")
async def test_a_legacy_database_migrates_and_verifies(
    hmi: Hmi, db: Database, clock: ManualClock, data_dir: Path, key: bytes
) -> None:
    legacy = await fill(AuditLog(db, clock), clock, 3)
    # As a database of the previous version has it: no scheme column at all.
    await execute(db, "ALTER TABLE audit_entries DROP COLUMN scheme")
    await db.stop()
    await db.start()  # the migration adds the column; old rows read as plain SHA-256
    assert [row.scheme for row in await AuditLog(db, clock).query()] == [SCHEME_SHA256] * 3
    keyed = AuditLog(db, clock, key)
    new = await fill(keyed, clock, 2, start=3)
    assert new[0].prev_hash == legacy[-1].row_hash, "the first keyed row chains onto the last unkeyed one"
    await anchor(keyed, data_dir)
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert code == 0, out
    assert "2 keyed rows (HMAC-SHA256), 3 unkeyed rows (SHA-256, written before the key existed)" in out
    # From now on an unkeyed writer is refused rather than appending a row a forger could have made.
    with pytest.raises(AuditKeyMissing, match="this process has no audit key"):
        await AuditLog(db, clock).record(OLGA, "note.add", "shift_note", "x")
    # The legacy rows are covered by the keyed row after them: recomputing them breaks its link.
    await drop_audit_guards(db)
    await forge_without_key(db, legacy, 2, downgrade=False)
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir))
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN at row 4: its link to row 3 does not match")


@pytest.mark.req("REC-003")
async def test_a_wrong_key_is_not_reported_intact(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, tmp_path: Path, data_dir: Path
) -> None:
    await fill(keyed, clock, 2)
    other = tmp_path / "other.key"
    load_or_create_key(other)
    code, out, _ = await hmi("audit", "verify", "--db", db.url, "--data-dir", str(data_dir), "--key-file", str(other))
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN at row 1: its content does not match its HMAC")


@pytest.mark.req("REC-006")
async def test_exports_carry_the_chain_head(
    hmi: Hmi, db: Database, keyed: AuditLog, clock: ManualClock, data_dir: Path, tmp_path: Path, key: bytes
) -> None:
    await fill(keyed, clock, 3)
    await record_guard_report(keyed, db)  # as the runtime's first start does: the guards' baseline row
    [last] = await keyed.query(limit=1)
    out_csv, out_json = tmp_path / "a.csv", tmp_path / "a.json"
    for fmt, out_file in (("csv", out_csv), ("json", out_json)):
        code, _, err = await hmi(
            "audit",
            "export",
            "--format",
            fmt,
            "--out",
            str(out_file),
            "--db",
            db.url,
            "--data-dir",
            str(data_dir),
            "--user",
            "nobody",
        )
        assert (code, err) == (0, "")
    footer = out_csv.read_text(encoding="utf-8-sig").splitlines()[-1]
    assert footer.startswith(f"{CHAIN_HEAD_PREFIX}4 rows up to row 4 · head {last.row_hash} · at ")
    assert footer.endswith(f"· 0 unkeyed · key {key_id(key)}")
    # The CSV export's own audit row came after it: the JSON export names the head including that row.
    head = json.loads(out_json.read_text(encoding="utf-8"))["chain_head"]
    csv_export, _json_export = sorted(await keyed.query(action="audit.export"), key=lambda row: row.id)
    assert (head["rows"], head["last_id"], head["head"]) == (5, 5, csv_export.row_hash)
    assert csv_export.scheme == SCHEME_HMAC, "the CLI signs with the data directory's key"

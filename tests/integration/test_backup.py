"""Records are enduring (21 CFR 11.10(c)): an online backup of the SQLite database restores with its audit chain
intact; a restore checks the backup first, refuses while an HMI runs, and keeps a complete dated copy (rows still
in the WAL included) of the database it replaces: nothing committed is ever deleted."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hmi.cli import main
from hmi.records.audit import AuditLog
from hmi.records.audit_key import load_or_create_key
from hmi.runtime import Runtime
from hmi.store.database import Database
from tests.opcua_server import free_port
from tests.plant_fixture import small_plant


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMI_DB_URL", raising=False)
    monkeypatch.delenv("HMI_AUDIT_KEY_FILE", raising=False)


async def _write_rows(path: Path, n: int, key: bytes | None = None, first: int = 0) -> None:
    db = Database(f"sqlite:///{path}")
    await db.start()
    audit = AuditLog(db, key=key)
    for i in range(first, first + n):
        await audit.record(None, "test.row", "thing", str(i), new_value=i)
    await db.stop()


def _count(path: Path, table: str = "audit_entries") -> int:
    with contextlib.closing(sqlite3.connect(path)) as con:
        return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _kept(data: Path) -> list[Path]:
    return sorted(p for p in data.glob("hmi.db.before-restore-*") if not p.name.endswith(("-wal", "-shm")))


@pytest.mark.req("REC-015")
def test_backup_then_restore_keeps_every_row_and_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    key = load_or_create_key(data / "audit.key")[0]
    asyncio.run(_write_rows(data / "hmi.db", 5, key))
    backup = tmp_path / "backups" / "hmi-2026-11-29.db"
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    assert "5 audit rows" in capsys.readouterr().out
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 2, "never overwrites"
    asyncio.run(_write_rows(data / "hmi.db", 2, key, first=5))  # written after the backup

    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(backup)]) == 0
    out = capsys.readouterr().out
    # The 5 rows of the backup, then what the restore recorded; the anchor now names the restored head.
    assert "OK: 7 rows, chain intact" in out
    assert "7 keyed rows (HMAC-SHA256)" in out
    assert "tail matches the anchor of" in out
    [kept] = _kept(data)
    assert _count(kept) == 7, "the replaced database is kept whole, rows written after the backup included"
    assert f"kept as {kept}" in out
    with contextlib.closing(sqlite3.connect(data / "hmi.db")) as con:
        added = con.execute("SELECT action, detail FROM audit_entries WHERE id > 5 ORDER BY id").fetchall()
    assert [action for action, _ in added] == ["db.guards.installed", "audit.restore"]
    assert str(kept) in added[-1][1]


@pytest.mark.req("REC-015")
def test_a_damaged_live_database_is_kept_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_write_rows(data / "hmi.db", 3))
    backup = tmp_path / "b.db"
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    (data / "hmi.db").write_bytes(b"this is not a database any more")
    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(backup)]) == 0
    [kept] = _kept(data)
    assert kept.read_bytes() == b"this is not a database any more"
    assert _count(data / "hmi.db") == 3 + 2, "the backup's rows, the guards' baseline and the restore"


@pytest.mark.req("REC-015")
def test_a_damaged_backup_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_write_rows(data / "hmi.db", 2))
    before = (data / "hmi.db").read_bytes()
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(bad)]) == 2
    assert "hmi audit restore" in capsys.readouterr().err
    assert (data / "hmi.db").read_bytes() == before
    assert _kept(data) == []


@pytest.mark.req("REC-015")
def test_a_backup_whose_chain_was_edited_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    key = load_or_create_key(data / "audit.key")[0]
    asyncio.run(_write_rows(data / "hmi.db", 4, key))
    backup = tmp_path / "b.db"
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    with sqlite3.connect(backup) as con:
        con.execute("DROP TRIGGER audit_entries_no_update")
        con.execute("UPDATE audit_entries SET new_value = '99' WHERE id = 2")
    capsys.readouterr()
    before = (data / "hmi.db").read_bytes()
    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(backup)]) == 2
    err = capsys.readouterr().err
    assert "the audit trail in" in err
    assert "is broken at row 2" in err
    assert (data / "hmi.db").read_bytes() == before
    assert _kept(data) == []
    # A keyed backup cannot be checked without its key: refused, not restored unchecked.
    assert (
        main(
            [
                "audit",
                "restore",
                "--data-dir",
                str(data),
                "--from",
                str(data / "hmi.db"),
                "--key-file",
                str(tmp_path / "missing.key"),
            ]
        )
        == 2
    )


@pytest.mark.req("REC-015")
async def test_restore_is_refused_while_an_hmi_runs_on_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    await _write_rows(data / "hmi.db", 2)
    backup = tmp_path / "b.db"
    assert await asyncio.to_thread(main, ["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    rt = Runtime(
        small_plant(f"opc.tcp://127.0.0.1:{free_port()}"), Database(f"sqlite:///{data / 'hmi.db'}"), data_dir=data
    )
    await rt.start()
    try:
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["audit", "restore", "--data-dir", str(data), "--from", str(backup)])
        assert code == 2
        assert "an HMI is running on" in capsys.readouterr().err
        assert _kept(data) == []
    finally:
        await rt.stop()
    # Stopped: now it may.
    code = await asyncio.to_thread(main, ["audit", "restore", "--data-dir", str(data), "--from", str(backup)])
    assert code == 0, capsys.readouterr()


@pytest.mark.req("REC-015")
def test_the_kept_copy_holds_rows_still_in_the_wal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_write_rows(data / "hmi.db", 2))
    backup = tmp_path / "b.db"
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    # A process that commits and then dies (power cut, kill -9) leaves its rows in the WAL, not the main file.
    script = textwrap.dedent(f"""
        import os, sqlite3
        con = sqlite3.connect({str(data / "hmi.db")!r})
        con.execute("PRAGMA wal_autocheckpoint=0")
        for i in range(3):
            con.execute("INSERT INTO alarm_events (alarm_id, tag, area, line, priority, kind, state, message, "
                        "server_time) VALUES ('A', 'T', '', '', '1', 'activated', 'unack_active', 'm', "
                        "'2025-01-06 06:00:00.000000')")
        con.commit()
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert Path(f"{data / 'hmi.db'}-wal").stat().st_size > 0
    main_file_only = tmp_path / "main-only.db"
    main_file_only.write_bytes((data / "hmi.db").read_bytes())
    assert _count(main_file_only, "alarm_events") == 0, "the rows are only in the WAL"

    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(backup)]) == 0
    [kept] = _kept(data)
    assert _count(kept, "alarm_events") == 3


@pytest.mark.req("REC-015")
def test_restore_writes_nothing_but_the_database_and_anchor(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_write_rows(data / "hmi.db", 2))
    backup = tmp_path / "b.db"
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    backup_bytes = backup.read_bytes()
    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(backup)]) == 0
    assert backup.read_bytes() == backup_bytes, "the backup itself is never changed"
    leftovers = {p.name for p in data.iterdir()} - {
        "hmi.db",
        "hmi.db-wal",
        "hmi.db-shm",
        "hmi.db.lock",
        "audit.anchor",
        _kept(data)[0].name,
    }
    assert leftovers == set()


@pytest.mark.req("REC-015")
def test_postgresql_is_pointed_to_pg_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["audit", "backup", "--db", "postgresql://postgres@127.0.0.1:5432/test", "--out", str(tmp_path / "x.db")])
        == 2
    )
    assert "pg_dump" in capsys.readouterr().err

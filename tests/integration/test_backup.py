"""Records are enduring (STANDARDS.md 5.8): an online backup of the SQLite database restores with its audit
chain intact, and a damaged backup is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hmi.audit import AuditLog
from hmi.cli import main
from hmi.store.database import Database


async def _write_rows(path: Path, n: int) -> None:
    db = Database(f"sqlite:///{path}")
    await db.start()
    audit = AuditLog(db)
    for i in range(n):
        await audit.record(None, "test.row", "thing", str(i), new_value=i)
    await db.stop()


def test_backup_then_restore_keeps_every_row_and_the_chain(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_write_rows(data / "hmi.db", 5))
    backup = tmp_path / "backups" / "hmi-2026-11-29.db"
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 0
    assert "5 audit rows" in capsys.readouterr().out
    assert main(["audit", "backup", "--data-dir", str(data), "--out", str(backup)]) == 2, "never overwrites"

    (data / "hmi.db").write_bytes(b"this is not a database any more")
    assert main(["audit", "restore", "--data-dir", str(data), "--from", str(backup)]) == 0
    out = capsys.readouterr().out
    assert "OK: 5 rows, chain intact" in out
    assert (data / "hmi.db.before-restore").read_bytes() == b"this is not a database any more"


def test_a_damaged_backup_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    assert main(["audit", "restore", "--data-dir", str(tmp_path), "--from", str(bad)]) == 2
    assert "hmi audit restore" in capsys.readouterr().err


def test_postgresql_is_pointed_to_pg_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "backup", "--db", "postgresql://postgres@127.0.0.1:5432/test", "--out",
                 str(tmp_path / "x.db")]) == 2
    assert "pg_dump" in capsys.readouterr().err

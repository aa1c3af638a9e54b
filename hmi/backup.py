"""Backups of the embedded SQLite database (STANDARDS.md 5.8 "enduring"): an online, consistent copy taken while
the HMI runs, and a restore that checks the audit chain before it replaces anything."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore could not be made; the message says why and what to do."""


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL; BackupError for other databases (PostgreSQL: use pg_dump / pg_restore)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise BackupError("this database is not a SQLite file: back PostgreSQL up with pg_dump and restore it with "
                          "pg_restore")
    return Path(parsed.database)


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` to `target` with SQLite's online backup (consistent even while the HMI writes); returns the
    number of audit rows in the copy."""
    if not source.exists():
        raise BackupError(f"{source} does not exist; check --db / --data-dir")
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file so no backup is overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        return int(dst.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0])


def restore_sqlite(backup: Path, target: Path) -> None:
    """Put a backup in place of `target` (the HMI must be stopped); the previous file is kept beside it."""
    if not backup.exists():
        raise BackupError(f"{backup} does not exist")
    try:
        with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as con:
            healthy = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup} is not a usable SQLite backup ({exc}); use another backup") from None
    if not healthy:
        raise BackupError(f"{backup} is damaged (SQLite integrity check failed); use another backup")
    if target.exists():
        shutil.copy2(target, target.with_suffix(target.suffix + ".before-restore"))
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copy2(backup, target)

"""Backups of the embedded SQLite database (21 CFR 11.10(c), records protected and retrievable): an online,
consistent copy taken while the HMI runs, and a restore that checks the backup before it touches anything and keeps
a complete copy of the database it replaces, so nothing committed is ever lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from hmi.access.context import ActionContext
from hmi.clock import Clock, utc_now
from hmi.private_files import FILE_MODE
from hmi.records.audit import AuditKeyMissing, AuditLog, record_guard_report, system_context
from hmi.records.audit_anchor import Anchor, AnchorFile
from hmi.store.database import Database

try:  # POSIX; the HMI's SQLite deployments are Linux panels and servers.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # the module or None; callers check before locking


class BackupError(Exception):
    """A backup or restore could not be made; the message says why and what to do."""


class DatabaseBusy(BackupError):
    """Another process holds the database lock: an HMI runs on it, or a restore is under way."""


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL; BackupError for other databases (PostgreSQL: use pg_dump / pg_restore)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise BackupError(
            "this database is not a SQLite file: back PostgreSQL up with pg_dump and restore it with pg_restore"
        )
    return Path(parsed.database)


class DatabaseLock:
    """An advisory lock on `<database>.lock`: shared by every HMI running on the file, exclusive for a restore.

    flock rather than a PID file: the kernel drops the lock when the holder exits, even on a crash or kill -9,
    so there is no stale lock to clean up and no reused PID to misread; and unlike probing SQLite's own locks
    it holds while the HMI is idle between transactions. (A SQLite file is only ever used from one host.)
    """

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool) -> None:
        """Take the lock without waiting; DatabaseBusy naming the conflict if another process holds it."""
        if fcntl is None or self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if exclusive:
                raise DatabaseBusy(
                    f"an HMI is running on {self.path.with_suffix('')} (it holds {self.path}); stop "
                    "it first, then restore. Nothing was changed"
                ) from None
            raise DatabaseBusy(
                f"a restore of {self.path.with_suffix('')} is under way (it holds {self.path}); "
                "start the HMI when it has finished"
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` to `target` with SQLite's online backup (consistent even while the HMI writes); returns the
    number of audit rows in the copy."""
    if not source.exists():
        raise BackupError(f"{source} does not exist; check --db / --data-dir")
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file so no backup is overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        return int(dst.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0])


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did: the copy of the replaced database, and the restored chain's head (anchored)."""

    kept: Path | None
    anchor: Anchor


async def restore_sqlite(
    backup: Path,
    target: Path,
    *,
    key: bytes | None,
    anchors: AnchorFile | None,
    actor: ActionContext | None = None,
    clock: Clock = utc_now,
) -> RestoreResult:
    """Put `backup` in place of the SQLite database `target`, in this order, stopping at the first problem:

    1. refuse while an HMI runs on `target` (its lock); hold the lock so none starts meanwhile;
    2. the backup passes SQLite's integrity check and its audit chain verifies (with `key` for keyed rows);
    3. a dated, complete copy of the live database is made with SQLite's backup API (rows still in its WAL
       included) — or, if it is no longer readable as a database, a byte copy of its files;
    4. only then is the live database replaced; the restore is recorded in the restored trail and anchored.
    """
    lock = DatabaseLock(target)
    await asyncio.to_thread(lock.acquire, exclusive=True)
    stamp = clock().strftime("%Y%m%dT%H%M%SZ")
    staging = target.with_name(f".{target.name}.restore-{stamp}")
    try:
        kept = await asyncio.to_thread(_stage, backup, staging, target, stamp)
        db = Database(f"sqlite+aiosqlite:///{staging}")
        await db.start()
        try:
            audit = AuditLog(db, clock, key)
            try:
                check = await audit.check_chain()
            except AuditKeyMissing:
                raise BackupError(
                    f"the audit trail in {backup} is keyed; give its key with --key-file (or "
                    "--data-dir holding audit.key) so it can be checked. Nothing was changed"
                ) from None
            if not check.intact:
                raise BackupError(
                    f"the audit trail in {backup} is broken at row {check.broken_at}: {check.reason}; "
                    "use another backup. Nothing was changed"
                )
            who = actor or system_context("restore")
            await record_guard_report(audit, db, who)
            await audit.record(
                who,
                "audit.restore",
                "database",
                str(target),
                old_value=str(kept or ""),
                new_value=str(backup),
                detail=f"{check.rows} audit rows restored from {backup}; the "
                f"database it replaced is kept as {kept or '(none)'}",
            )
            restored = await audit.check_chain(start=audit.anchor_of(check))
            note = f"restored from {backup}; previous database kept as {kept or '(none)'}"
            anchor = audit.anchor_of(restored)
            anchor = Anchor(anchor.at, anchor.rows, anchor.last_id, anchor.head, anchor.legacy, anchor.key_id, note)
        finally:
            await db.stop()
        await asyncio.to_thread(_replace, staging, target, kept)
        if anchors is not None:
            # A restored (older) chain is shorter than the last anchor; this line says why, and is the new head.
            await asyncio.to_thread(anchors.append, anchor)
        return RestoreResult(kept, anchor)
    finally:
        for path in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            path.unlink(missing_ok=True)
        lock.release()


def _stage(backup: Path, staging: Path, target: Path, stamp: str) -> Path | None:
    """Check the backup and copy it to `staging`; the name for the copy of the live database (None: none)."""
    if not backup.is_file():
        raise BackupError(f"{backup} does not exist")
    _check_integrity(backup)
    _copy_database(backup, staging)
    return _free_name(target.with_name(f"{target.name}.before-restore-{stamp}")) if target.exists() else None


def _check_integrity(backup: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as con:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            f"{backup} is not a usable SQLite backup ({exc}); use another backup. Nothing was changed"
        ) from None
    if result != "ok":
        raise BackupError(
            f"{backup} is damaged (SQLite integrity check: {result}); use another backup. Nothing was changed"
        )


def _copy_database(source: Path, target: Path) -> None:
    """Copy through SQLite's backup API: consistent, and it includes committed rows still in the source's WAL."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}-{n}"), n + 1
    return candidate


def _replace(staging: Path, target: Path, kept: Path | None) -> None:
    """Keep the live database as `kept`, then put `staging` in its place."""
    if kept is None:
        os.replace(staging, target)
        return
    try:
        _copy_database(target, kept)
        readable = True
    except sqlite3.DatabaseError:
        # Not a database any more (damaged): keep its files byte for byte, whatever they hold.
        kept.unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            if (part := Path(f"{target}{suffix}")).exists():
                shutil.copy2(part, Path(f"{kept}{suffix}"))
        readable = False
    if readable:
        # Through SQLite, so the live file's WAL and locks stay consistent (no stale -wal replayed later).
        _copy_database(staging, target)
        return
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(staging, target)

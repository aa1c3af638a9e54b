"""The alarm journal writer: every activation and clear is queued and written in batches, off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.clock import Clock, utc_now
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import AlarmEvent, AlarmEventKind
from hmi.store.quarantine import Quarantine, is_unavailable, row_json
from hmi.supervise import Supervised, wait_event

log = logging.getLogger(__name__)


def journal_row(change: AlarmChange, server_time: datetime, user_id: int | None = None) -> dict[str, Any]:
    """The alarm_events row for one change."""
    alarm = change.alarm
    return {
        "alarm_id": alarm.id,
        "tag": alarm.tag,
        "area": alarm.area,
        "line": alarm.line,
        "priority": str(alarm.priority),
        "kind": change.kind,
        "state": alarm.state.value,
        "value": None if alarm.value is None else repr(alarm.value)[:200],
        "message": alarm.message,
        "source_time": change.at,
        "server_time": server_time,
        "user_id": user_id,
        "username": change.username,
        "comment": change.comment,
        "action_id": change.action_id,
    }


@dataclass(frozen=True, slots=True)
class JournalStatus:
    """What screens show about the journal writer: rows waiting (memory and spill file), whether it is behind."""

    pending: int
    spilled: int
    behind: bool
    unavailable_since: datetime | None
    last_error: str | None
    written: int
    quarantined: int


class AlarmJournal:
    """Subscribes to the engine; writes the process's own transitions (activations, clears, escalations,
    suppression, shelving expiry) in batches. People's commands are written by the AlarmService in the same
    transaction as their audit entry, so they are skipped here.

    While the database is down the rows wait in memory, and beyond `max_pending` in spill files on local disk,
    and are written when it returns: nothing is dropped. A row the database refuses for another reason is set
    aside in the quarantine and the rest are written. The writer task restarts after any failure.
    """

    def __init__(
        self,
        engine: AlarmEngine,
        db: Database,
        clock: Clock = utc_now,
        *,
        flush_s: float = 0.2,
        max_batch: int = 5000,
        max_pending: int = 50_000,
        behind_at: int = 1000,
        quarantine: Quarantine | None = None,
        spill_dir: Path | None = None,
    ) -> None:
        if max_pending < 1 or behind_at < 0:
            raise ValueError("max_pending must be at least 1 and behind_at at least 0")
        self._engine = engine
        self._db = db
        self._clock = clock
        self._flush_s = flush_s
        self._max_batch = max(1, min(max_batch, max_pending))
        self.max_pending = max_pending
        self.behind_at = behind_at
        self.quarantine = quarantine or Quarantine(db, None, clock)
        self._spill = JournalSpill(spill_dir) if spill_dir is not None else None
        self._spilled = 0
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        # Set to cut a pause short: a stop, or a queue over its bound that must be spilled now.
        self._urgent = asyncio.Event()
        self._writer = Supervised("alarm-journal", self._run)
        self._unsubscribe: Callable[[], None] | None = None
        # One writer at a time: two flushes of the same queue would store rows twice.
        self._flush_lock = asyncio.Lock()
        self._stopping = False
        self.unavailable_since: datetime | None = None
        self.written = 0
        self.last_error: str | None = None

    def start(self) -> None:
        """Subscribe to the engine and start the writer task."""
        self._stopping = False
        self._unsubscribe = self._engine.subscribe(self._on_changes)
        self._writer.start()

    async def stop(self) -> None:
        """Write what is pending (if the database allows; else spill it to disk when there is a spill folder),
        then end the task."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task = self._writer.task
        if task is not None:
            # Let the writer finish a batch in progress rather than cancelling it between commit and trim.
            self._stopping = True
            self._urgent.set()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await asyncio.shield(task)
            await self._writer.stop()
        try:
            await self.flush()
        except DatabaseUnavailable as exc:
            if self._spill is None:
                log.error("alarm journal: %d rows are lost at exit: %s", len(self._pending), exc)
                return
            await self._spill_rows(len(self._pending))

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The writer task, while started."""
        return self._writer.task

    @property
    def pending(self) -> int:
        """Rows waiting to be written, in memory and in spill files."""
        return len(self._pending) + self._spilled

    @property
    def behind(self) -> bool:
        """True while more than `behind_at` rows wait or the database is unavailable (the banner shows)."""
        return self.pending > self.behind_at or self.unavailable_since is not None

    @property
    def status(self) -> JournalStatus:
        """The writer's state for screens."""
        return JournalStatus(
            len(self._pending),
            self._spilled,
            self.behind,
            self.unavailable_since,
            self.last_error,
            self.written,
            self.quarantine.count,
        )

    def _on_changes(self, changes: Sequence[AlarmChange]) -> None:
        now = self._clock()
        # Changes people made (action_id set) are stored by the AlarmService with their audit entry.
        self._pending.extend(journal_row(c, now) for c in changes if c.action_id is None)
        if len(self._pending) > self.max_pending:
            self._urgent.set()
        self._wake.set()

    async def _run(self) -> None:
        if self._spill is not None and not self._spilled:
            self._spilled = await asyncio.to_thread(self._spill.count_rows)
            if self._spilled:
                log.warning(
                    "alarm journal: %d rows spilled by an earlier run in %s will be written",
                    self._spilled,
                    self._spill.directory,
                )
                self._wake.set()
        backoff = self._flush_s
        while not self._stopping:
            await self._wake.wait()
            # Let a burst gather so one transaction carries many rows; a stop or an overflow cuts the wait short.
            await self._pause(self._flush_s)
            await self._bound()
            try:
                await self.flush()
                backoff = self._flush_s
                self.last_error = None
                self.unavailable_since = None
            except DatabaseUnavailable as exc:
                self.last_error = str(exc)
                if self.unavailable_since is None:
                    self.unavailable_since = self._clock()
                log.error("alarm journal: %s; %d rows kept and retried", exc, self.pending)
                backoff = min(backoff * 2, 5.0)
                await self._pause(backoff)
                await self._bound()

    async def _pause(self, seconds: float) -> None:
        await wait_event(self._urgent, seconds)
        if not self._stopping:
            self._urgent.clear()

    async def _bound(self) -> None:
        """Keep at most `max_pending` rows in memory: the oldest beyond go to a spill file (IEC 62443-3-3 SR 7.2,
        bounded resource use). Without a spill folder they stay in memory and it is said loudly."""
        over = len(self._pending) - self.max_pending
        if over <= 0:
            return
        if self._spill is None:
            log.error(
                "alarm journal: %d rows wait in memory, more than the %d allowed, and there is no spill folder",
                len(self._pending),
                self.max_pending,
            )
            return
        async with self._flush_lock:
            await self._spill_rows(len(self._pending) - self.max_pending)

    async def _spill_rows(self, n: int) -> None:
        assert self._spill is not None
        while n > 0 and self._pending:
            batch = self._pending[: min(n, self._max_batch)]
            try:
                await self._spill.append(batch)
            except OSError as exc:
                self.last_error = f"alarm journal spill folder {self._spill.directory} is not writable: {exc}"
                log.error("%s; %d rows kept in memory", self.last_error, len(self._pending))
                return
            del self._pending[: len(batch)]
            self._spilled += len(batch)
            n -= len(batch)
            log.warning(
                "alarm journal: %d rows spilled to %s until the database takes them", len(batch), self._spill.directory
            )

    async def flush(self) -> None:
        """Write every pending row now (memory first, then spilled files); DatabaseUnavailable when it is away."""
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            try:
                await self._write(batch)
            except _Interrupted as stop:
                del self._pending[: stop.done]
                raise stop.cause from None
            # Only now are they stored: drop them from the queue (new ones may have arrived meanwhile).
            del self._pending[: len(batch)]
        while self._spill is not None and self._spilled:
            spilled = await self._spill.oldest()
            if spilled is None:
                self._spilled = 0
                break
            path, rows = spilled
            try:
                await self._write(rows)
            except _Interrupted as stop:
                # Rows written one by one before the database went away are not written twice.
                await self._spill.rewrite(path, rows[stop.done :])
                self._spilled = max(0, self._spilled - stop.done)
                raise stop.cause from None
            await self._spill.remove(path)
            self._spilled = max(0, self._spilled - len(rows))
        self._wake.clear()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        """Write `rows` in one transaction; when the database refuses it for another reason than being away, row
        by row, setting aside the ones it refuses. _Interrupted says how many were done when it went away."""
        try:
            await self._insert(rows)
            return
        except Exception as exc:
            if is_unavailable(exc):
                raise _Interrupted(0, self._unavailable(exc)) from exc
            # One row the database refuses must not hold back the others: find it row by row and set it aside.
            log.warning("alarm journal: a batch of %d rows was refused (%s); writing them one by one", len(rows), exc)
        for done, row in enumerate(rows):
            try:
                try:
                    await self._insert([row])
                except Exception as row_exc:
                    if is_unavailable(row_exc):
                        raise
                    await self.quarantine.put(AlarmEvent.__tablename__, row, row_exc)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                raise _Interrupted(done, self._unavailable(exc)) from exc

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        if isinstance(exc, DatabaseUnavailable):
            return exc
        return self._db.unavailable(str(exc) or type(exc).__name__)

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with self._db.session() as session:
            await session.execute(sa.insert(AlarmEvent), rows)
            await session.commit()
        self.written += len(rows)


class _Interrupted(Exception):
    """The database went away after `done` rows of a batch were written (or set aside) one by one."""

    def __init__(self, done: int, cause: DatabaseUnavailable) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause


class JournalSpill:
    """Journal rows the memory bound pushed out, one JSON lines file per batch, oldest first; file I/O off the loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._seq = itertools.count()

    def count_rows(self) -> int:
        """Rows waiting in the folder (read once at start)."""
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in self._files():
            with path.open("rb") as f:
                total += sum(1 for line in f if line.strip())
        return total

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("*.jsonl")) if self.directory.is_dir() else []

    async def append(self, rows: list[dict[str, Any]]) -> None:
        """Write rows durably as a new file."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}.jsonl"
        await asyncio.to_thread(self._write, self.directory / name, [row_json(r) for r in rows])

    def _write(self, path: Path, lines: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    async def oldest(self) -> tuple[Path, list[dict[str, Any]]] | None:
        """The oldest file and its rows, or None."""
        return await asyncio.to_thread(self._oldest)

    def _oldest(self) -> tuple[Path, list[dict[str, Any]]] | None:
        files = self._files()
        if not files:
            return None
        with files[0].open(encoding="utf-8") as f:
            return files[0], [_row_from_json(line) for line in f if line.strip()]

    async def remove(self, path: Path) -> None:
        """Delete a file once its rows are stored."""
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def rewrite(self, path: Path, rows: list[dict[str, Any]]) -> None:
        """Keep only `rows` in `path` (those not yet stored), replacing the file atomically."""
        await asyncio.to_thread(self._write, path, [row_json(r) for r in rows])


def _row_from_json(line: str) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(line)
    for key in ("source_time", "server_time"):
        if row.get(key) is not None:
            row[key] = datetime.fromisoformat(row[key])
    row["kind"] = AlarmEventKind(row["kind"])
    return row

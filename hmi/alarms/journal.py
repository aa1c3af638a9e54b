"""The alarm journal writer: every activation and clear is queued and written in batches, off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.clock import Clock, utc_now
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import AlarmEvent, AlarmEventKind

log = logging.getLogger(__name__)


def journal_row(change: AlarmChange, server_time: datetime, user_id: int | None = None) -> dict[str, Any]:
    """The alarm_events row for one change."""
    alarm = change.alarm
    return {"alarm_id": alarm.id, "tag": alarm.tag, "area": alarm.area, "line": alarm.line,
            "priority": str(alarm.priority), "kind": AlarmEventKind(change.kind), "state": alarm.state.value,
            "value": None if alarm.value is None else repr(alarm.value)[:200], "message": alarm.message,
            "source_time": change.at, "server_time": server_time, "user_id": user_id, "username": change.username,
            "comment": change.comment, "action_id": change.action_id}


class AlarmJournal:
    """Subscribes to the engine; writes the process's own transitions (activations, clears, escalations,
    suppression, shelving expiry) in batches. People's commands are written by the AlarmService in the same
    transaction as their audit entry, so they are skipped here.

    While the database is down the rows wait in memory and are written when it returns: nothing is lost.
    """

    def __init__(self, engine: AlarmEngine, db: Database, clock: Clock = utc_now, *, flush_s: float = 0.2,
                 max_batch: int = 5000) -> None:
        self._engine = engine
        self._db = db
        self._clock = clock
        self._flush_s = flush_s
        self._max_batch = max_batch
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # One writer at a time: two flushes of the same queue would store rows twice.
        self._flush_lock = asyncio.Lock()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self.written = 0
        self.last_error: str | None = None

    def start(self) -> None:
        """Subscribe to the engine and start the writer task."""
        self._unsubscribe = self._engine.subscribe(self._on_changes)
        self._task = asyncio.create_task(self._run(), name="alarm-journal")

    async def stop(self) -> None:
        """Write what is pending (if the database allows), then end the task."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            # Let the writer finish a batch in progress rather than cancelling it between commit and trim.
            self._stopping = True
            self._stop_event.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        with contextlib.suppress(DatabaseUnavailable):
            await self.flush()

    @property
    def pending(self) -> int:
        """Rows waiting to be written."""
        return len(self._pending)

    def _on_changes(self, changes: Sequence[AlarmChange]) -> None:
        now = self._clock()
        # Changes people made (action_id set) are stored by the AlarmService with their audit entry.
        self._pending.extend(journal_row(c, now) for c in changes if c.action_id is None)
        self._wake.set()

    async def _run(self) -> None:
        backoff = self._flush_s
        while not self._stopping:
            await self._wake.wait()
            # Let a burst gather so one transaction carries many rows; a stop cuts the wait short.
            await self._pause(self._flush_s)
            try:
                await self.flush()
                backoff = self._flush_s
                self.last_error = None
            except DatabaseUnavailable as exc:
                self.last_error = str(exc)
                log.error("alarm journal: %s; %d rows kept and retried", exc, len(self._pending))
                backoff = min(backoff * 2, 5.0)
                await self._pause(backoff)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def flush(self) -> None:
        """Write every pending row now."""
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            async with self._db.session() as session:
                await session.execute(sa.insert(AlarmEvent), batch)
                await session.commit()
            # Only now are they stored: drop them from the queue (new ones may have arrived meanwhile).
            del self._pending[: len(batch)]
            self.written += len(batch)
        self._wake.clear()

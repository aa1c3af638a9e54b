"""Shift notes written on one instance of a pair, told to the others over PostgreSQL LISTEN/NOTIFY.

Every instance writes notes straight into the shared database (a note needs no OPC UA session), so the only thing
missing on the other instances is the news: an open shift log there would show the note only when reloaded. Each
instance sends its own notes' changes (after their commit) on one channel, and tells its screens of the others'
through the same `ShiftNotes.changes` listeners as a note made locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from hmi.cluster.leadership import close_connection
from hmi.records.notes import NoteChange, ShiftNotes
from hmi.store.database import Database
from hmi.supervise import stop_tasks

log = logging.getLogger(__name__)

CHANNEL = "hmi_notes"
CONNECTION_NAME = "factory-hmi notes"
RETRY_S = 1.0
MAX_PENDING = 1000  # changes kept while the database is away (a screen reloads everything on the next one anyway)


class NotesFeed:
    """Sends this instance's note changes to the other instances and tells this one's screens of theirs."""

    def __init__(self, db: Database, notes: ShiftNotes, instance: str) -> None:
        self._db = db
        self._notes = notes
        self._instance = instance
        self._pending: deque[NoteChange] = deque(maxlen=MAX_PENDING)
        self._wake = asyncio.Event()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._off: Any = None
        self.heard = 0  # changes heard from other instances (tests)

    async def start(self) -> None:
        self._off = self._notes.changes.add(self._changed)
        self._task = asyncio.create_task(self._run(), name="notes-feed")

    async def stop(self) -> None:
        if self._off is not None:
            self._off()
            self._off = None
        task, self._task = self._task, None
        await stop_tasks(task)
        await close_connection(self._conn)
        self._conn = None

    def _changed(self, change: NoteChange) -> None:
        if change.remote:
            return  # heard from another instance: it told everyone already
        self._pending.append(change)
        self._wake.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data["origin"] == self._instance:
                return
            change = NoteChange(int(data["id"]), str(data["line"]), remote=True)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("a shift note message could not be read: %s", exc)
            return
        self.heard += 1
        self._notes.changes.emit(change)

    async def _run(self) -> None:
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._db.direct_connection(CONNECTION_NAME)
                    await self._conn.add_listener(CHANNEL, self._notified)
                while self._pending:
                    change = self._pending[0]
                    payload = json.dumps({"origin": self._instance, "id": change.note_id, "line": change.line})
                    await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
                    self._pending.popleft()
            except Exception as exc:  # the database is away: send what is pending once it is back
                log.warning("shift note changes cannot be sent or heard: %s", exc)
                await close_connection(self._conn)
                self._conn = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_S)
            self._wake.clear()

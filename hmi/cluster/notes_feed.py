"""Shift notes written on one instance of a pair, told to the others over PostgreSQL LISTEN/NOTIFY.

Every instance writes notes straight into the shared database (a note needs no OPC UA session), so the only thing
missing on the other instances is the news: an open shift log there would show the note only when reloaded. Each
instance sends its own notes' changes (after their commit) on one channel, and tells its screens of the others'
through the same `ShiftNotes.changes` listeners as a note made locally.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

from hmi.cluster.connection import OwnConnection
from hmi.records.notes import NoteChange, ShiftNotes
from hmi.store.database import Database
from hmi.supervise import stop_tasks, wait_event

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
        self._link = OwnConnection(db, CONNECTION_NAME, {CHANNEL: self._notified})
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
        await self._link.close()

    def _changed(self, change: NoteChange) -> None:
        if change.remote:
            return  # heard from another instance: it told everyone already
        self._pending.append(change)
        self._wake.set()

    def _notified(self, payload: str) -> None:
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
                await self._link.get()  # listening, so others' notes are heard while this one has none to send
                while self._pending:
                    change = self._pending[0]
                    payload = json.dumps({"origin": self._instance, "id": change.note_id, "line": change.line})
                    await self._link.notify(CHANNEL, payload)
                    self._pending.popleft()
            except Exception as exc:  # the database is away: send what is pending once it is back
                log.warning("shift note changes cannot be sent or heard: %s", exc)
                await self._link.close()
            await wait_event(self._wake, RETRY_S)
            self._wake.clear()

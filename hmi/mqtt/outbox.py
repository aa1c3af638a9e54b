"""The publisher's store and forward: events kept on local disk, in order, while the broker cannot be reached.

A SQLite file in the data directory (one writer: the publisher), bounded by a number of events: when full, the
oldest go first and are counted, so a long outage costs the oldest history, never the newest values nor the disk.
The count of dropped events survives a restart, so it is still shown after one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class Outbox:
    """Events (JSON text) waiting for the broker, oldest first; every call runs off the event loop."""

    def __init__(self, path: Path, max_events: int) -> None:
        self.path = path
        self.max_events = max_events
        self.count = 0
        """Events waiting on disk now."""
        self.dropped = 0
        """Events dropped (oldest first) because the outbox was full, since it was created."""
        self._db: sqlite3.Connection | None = None
        # One statement at a time on the one connection, whichever worker thread runs it.
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Create or open the file and read how many events wait and how many were dropped."""
        async with self._lock:
            await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            db.execute(statement)
        self.count = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        row = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        self.dropped = row[0] if row else 0
        self._db = db

    async def close(self) -> None:
        """Close the file (events stay in it for the next start)."""
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await asyncio.to_thread(db.close)

    async def append(self, events: Sequence[str]) -> int:
        """Keep `events` after the ones waiting; returns how many of the oldest were dropped to make room."""
        if not events:
            return 0
        async with self._lock:
            return await asyncio.to_thread(self._append, list(events))

    def _append(self, events: list[str]) -> int:
        db = self._connection()
        with db:
            db.execute("BEGIN")
            db.executemany("INSERT INTO outbox (event) VALUES (?)", [(e,) for e in events])
            over = self.count + len(events) - self.max_events
            if over > 0:
                db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (over,))
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                    (over,),
                )
        over = max(over, 0)
        self.count += len(events) - over
        self.dropped += over
        return over

    async def oldest(self, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` waiting events, oldest first, as (id, event)."""
        async with self._lock:
            return await asyncio.to_thread(self._oldest, limit)

    def _oldest(self, limit: int) -> list[tuple[int, str]]:
        rows = self._connection().execute("SELECT id, event FROM outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [(int(i), str(e)) for i, e in rows]

    async def remove_through(self, last_id: int) -> None:
        """Forget the events up to and including `last_id` (they reached the broker)."""
        async with self._lock:
            await asyncio.to_thread(self._remove, last_id)

    def _remove(self, last_id: int) -> None:
        db = self._connection()
        removed = db.execute("DELETE FROM outbox WHERE id <= ?", (last_id,)).rowcount
        self.count = max(self.count - removed, 0)

    async def number(self, key: str, default: int) -> int:
        """A number the publisher keeps across restarts (Sparkplug's bdSeq), or `default`."""
        async with self._lock:
            row = await asyncio.to_thread(
                lambda: self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            )
        return int(row[0]) if row else default

    async def set_number(self, key: str, value: int) -> None:
        """Keep `value` under `key` for the next start."""
        async with self._lock:
            await asyncio.to_thread(
                self._connection().execute,
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the MQTT outbox is not open")
        return self._db

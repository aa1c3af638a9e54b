"""Rows the database refused for a reason other than being unavailable, set aside where an engineer sees them.

A writer that meets such a row (a SourceName longer than its column on PostgreSQL, a violated constraint) puts it
here with the error and goes on with the rest; the row is kept whole, so nothing is lost and it can be repaired
and re-entered. The rows go to the `quarantined_rows` table, or, when the database refuses that too, to a JSON
lines file in the data directory. Engineers see how many there are in a banner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from hmi.clock import Clock, utc_now
from hmi.listeners import Listeners
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import QuarantinedRow

log = logging.getLogger(__name__)

MAX_ERROR = 2000


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database is away (keep the rows, retry later), not that it refused them.

    Driver errors that mean "unavailable" arrive as DatabaseUnavailable (Database.session translates them);
    RuntimeError is a stopped Database (shutdown order, a test), the same as unreachable for a writer.
    """
    return isinstance(exc, DatabaseUnavailable | OSError | TimeoutError | RuntimeError)


def row_json(row: Mapping[str, Any]) -> str:
    """A row as JSON text: times in ISO 8601, enums by value, anything else by its text."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Enum):
            return value.value
        return str(value)

    return json.dumps(dict(row), default=plain, ensure_ascii=False, sort_keys=True)


def error_text(exc: BaseException) -> str:
    """The error as an engineer reads it: its type and its first lines (drivers append the whole statement)."""
    text = " ".join(str(exc).split("\n[SQL:")[0].split())
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR]


class Quarantine:
    """Sets refused rows aside (table, else `fallback` file) and counts them for the engineers' banner."""

    def __init__(self, db: Database, fallback: Path | None = None, clock: Clock = utc_now) -> None:
        self._db = db
        self._fallback = fallback
        self._clock = clock
        self._count = 0
        self._listeners: Listeners[int] = Listeners("quarantine")

    @property
    def count(self) -> int:
        """Rows set aside (in the table and the fallback file), as known since `load`."""
        return self._count

    @property
    def fallback(self) -> Path | None:
        """The JSON lines file used when the database refuses the quarantine table too."""
        return self._fallback

    def subscribe(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Hear the new count after each row set aside; returns the unsubscribe function."""
        return self._listeners.add(listener)

    async def load(self) -> int:
        """Count what earlier runs set aside (table and file); returns the count."""
        total = 0
        try:
            async with self._db.session() as session:
                query = sa.select(sa.func.count()).select_from(QuarantinedRow)
                total = int((await session.execute(query)).scalar_one())
        except DatabaseUnavailable as exc:
            log.warning("quarantine: cannot count set-aside rows: %s", exc)
        if self._fallback is not None:
            total += await asyncio.to_thread(_count_lines, self._fallback)
        self._count = total
        return total

    async def put(self, source: str, row: Mapping[str, Any], exc: BaseException) -> None:
        """Set `row` (meant for table `source`) aside with the error `exc`. Raises DatabaseUnavailable only when
        the database is away and there is no fallback file (the caller keeps the row and retries)."""
        error = error_text(exc)
        text = row_json(row)
        at = self._clock()
        log.error("%s: a row was refused and set aside for an engineer (%s): %.500s", source, error, text)
        try:
            async with self._db.session(write=True) as session:
                session.add(QuarantinedRow(at=at, source=source, error=error, row=text))
                await session.commit()
        except Exception as db_exc:
            if self._fallback is None:
                raise
            line = json.dumps(
                {
                    "at": at.isoformat(),
                    "source": source,
                    "error": error,
                    "row": json.loads(text),
                    "quarantine_table_error": error_text(db_exc),
                },
                ensure_ascii=False,
            )
            await asyncio.to_thread(_append_line, self._fallback, line)
            log.error("quarantine table refused the row too (%s); it is in %s", error_text(db_exc), self._fallback)
        self._count += 1
        self._listeners.emit(self._count)

    async def rows(self, limit: int = 100) -> list[QuarantinedRow]:
        """The newest rows set aside in the table."""
        async with self._db.session() as session:
            query = sa.select(QuarantinedRow).order_by(col(QuarantinedRow.id).desc()).limit(limit)
            return list((await session.execute(query)).scalars())


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0

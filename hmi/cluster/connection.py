"""A PostgreSQL connection of one part of a pair: opened when first needed with its LISTEN channels, opened again
after it broke, closed at stop.

What lives as long as one connection does cannot use the pool: a LISTEN hears only while its session lives, and a
session-level advisory lock ends with its session (PostgreSQL manual, LISTEN and §13.3.5). So the value feed (both
ways), the forwarded commands, the shift-note news and the active role's lock each own one connection; what each does
with it is its own, and this class owns what they share: the channels, opening, and closing a broken one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hmi.store.database import Database

# How long closing a connection may take before it is terminated instead (a broken one never answers).
CLOSE_TIMEOUT_S = 5.0

Heard = Callable[[str], None]  # called with a notification's payload, on the event loop


class OwnConnection:
    """One direct connection, named `name` in pg_stat_activity, listening on `channels` (channel -> callback).

    `on_open` is awaited on every connection this opens, after its channels listen (e.g. to ask the other side for
    what was missed while it was away). A caller whose use of the connection fails calls `close`; the next `get`
    opens a new one.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        channels: Mapping[str, Heard] | None = None,
        *,
        on_open: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> None:
        self._db = db
        self.name = name
        self._channels = dict(channels or {})
        self._on_open = on_open
        self._conn: Any = None

    @property
    def current(self) -> Any:
        """The open connection, or None: for a use that must not silently go on on a new one (a lock's check)."""
        if self._conn is None or self._conn.is_closed():
            return None
        return self._conn

    async def get(self) -> Any:
        """The open connection, opening (and listening on) a new one when there is none; raises DatabaseUnavailable
        when the database cannot be reached."""
        if self.current is None:
            conn = await self._db.direct_connection(self.name)
            try:
                for channel, heard in self._channels.items():
                    await conn.add_listener(channel, _payload_to(heard))
                if self._on_open is not None:
                    await self._on_open(conn)
            except BaseException:
                await close_connection(conn)
                raise
            self._conn = conn
        return self._conn

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY on `channel` over this connection (opened when needed)."""
        conn = await self.get()
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def close(self) -> None:
        """Close the connection (its LISTENs and locks end with it); nothing when none is open."""
        conn, self._conn = self._conn, None
        await close_connection(conn)


def _payload_to(heard: Heard) -> Callable[[Any, int, str, str], None]:
    """asyncpg calls a listener with (connection, pid, channel, payload); the parts only need the payload."""

    def listener(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        heard(payload)

    return listener


async def close_connection(conn: Any) -> None:
    """Close a direct connection (None and closed ones are fine); a broken one is terminated instead."""
    if conn is not None and not conn.is_closed():
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await conn.close()
        except Exception:  # closing a broken connection: it goes away either way
            conn.terminate()

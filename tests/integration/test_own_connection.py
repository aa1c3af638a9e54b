"""The connection each part of a pair owns (hmi/cluster/connection.py), on the local PostgreSQL: it listens on its
channels, comes back with them after the server ended it, and never leaves a half-opened connection behind."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from hmi.cluster.connection import OwnConnection
from hmi.store.database import Database
from tests.waiting import until

pytestmark = pytest.mark.postgres

NAME = "factory-hmi own-connection-test"


async def _sessions(peer: Any) -> int:
    return int(await peer.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", NAME))


async def _no_sessions(peer: Any) -> bool:
    return await _sessions(peer) == 0


@pytest.mark.req("RED-001", "RED-013")
async def test_it_listens_comes_back_after_a_cut_and_closes(pg_url: str) -> None:
    db = Database(pg_url)
    await db.start()
    peer = await asyncpg.connect(pg_url)
    heard: list[str] = []
    opened: list[Any] = []

    async def on_open(conn: Any) -> None:
        opened.append(conn)

    link = OwnConnection(
        db, NAME, {"own_test_a": heard.append, "own_test_b": lambda p: heard.append("b:" + p)}, on_open=on_open
    )
    try:
        assert link.current is None
        first = await link.get()
        assert await link.get() is first, "an open connection is kept, not opened again"
        assert opened == [first]
        await peer.execute("SELECT pg_notify('own_test_a', 'one'), pg_notify('own_test_b', 'two')")
        await until(lambda: len(heard) == 2, timeout=5, what="both channels heard")
        assert heard == ["one", "b:two"]

        # What a database restart or a network cut does: the server ends the session.
        await peer.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", NAME)
        await until(lambda: link.current is None, timeout=10, what="the cut to be seen")
        second = await link.get()
        assert second is not first
        assert opened == [first, second]
        await peer.execute("SELECT pg_notify('own_test_a', 'three')")
        await until(lambda: heard[-1:] == ["three"], timeout=5, what="the channel heard again on the new connection")
        await link.notify("own_test_b", "four")
        await until(lambda: heard[-1:] == ["b:four"], timeout=5, what="its own NOTIFY")
        assert await _sessions(peer) == 1

        await link.close()
        assert link.current is None
        await until(lambda: _no_sessions(peer), timeout=5, what="the connection to be closed")
    finally:
        await link.close()
        await peer.close()
        await db.stop()


@pytest.mark.req("RED-001")
async def test_a_connection_whose_opening_fails_is_closed_not_kept(pg_url: str) -> None:
    db = Database(pg_url)
    await db.start()
    peer = await asyncpg.connect(pg_url)

    async def refuse(conn: Any) -> None:
        raise RuntimeError("the other side could not be asked")

    link = OwnConnection(db, NAME, {"own_test_a": lambda _p: None}, on_open=refuse)
    try:
        with pytest.raises(RuntimeError, match="could not be asked"):
            await link.get()
        assert link.current is None
        # A half-opened connection would listen on, owned by nobody.
        await until(lambda: _no_sessions(peer), timeout=5, what="the half-opened connection to be closed")
    finally:
        await link.close()
        await peer.close()
        await db.stop()

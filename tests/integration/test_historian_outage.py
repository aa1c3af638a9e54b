"""Store and forward: PostgreSQL unreachable for a minute while values keep changing; every sample arrives once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.config import parse_config
from hmi.historian import Historian
from hmi.store.database import Database
from hmi.tags import Quality, TagCache, TagState
from tests.conftest import fresh_postgres_database
from tests.integration.test_historian_writer import assert_rollups_match
from tests.tcp_proxy import TcpProxy
from tests.waiting import until

# Long enough for some 75 flushes (every 0.2 s) and a few thousand samples to wait on disk; a longer outage only
# repeats the same path (the spool is a file, bounded by disk, not by time).
OUTAGE_S = 15.0

PLANT = """
site: {name: T}
endpoints: [{name: e, url: 'opc.tcp://127.0.0.1:4840'}]
historian: {flush_interval_s: 0.2}
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: O.Flow, endpoint: e, node_id: 'ns=2;s=F'}
          - {name: O.Level, endpoint: e, node_id: 'ns=2;s=L', eng_range: [0, 100], history: {deadband: 0.5}}
"""


@pytest.mark.postgres
@pytest.mark.req("HIS-004")
async def test_an_outage_of_postgres_loses_nothing(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        proxy = TcpProxy("127.0.0.1", 5432)
        port = await proxy.start()
        db = Database(url.replace("127.0.0.1:5432", f"127.0.0.1:{port}"))
        await db.start()
        cache = TagCache()
        spool_dir = tmp_path / "spool"
        historian = Historian(parse_config(PLANT, "test"), cache, db, spool_dir)
        produced: list[float] = []

        async def produce() -> None:
            # Every value differs from the last by more than any deadband, so each one must be stored.
            for i in itertools.count():
                now = datetime.now(UTC)
                produced.append(float(i))
                cache.update(
                    [
                        TagState("O.Flow", float(i), 0, Quality.GOOD, now, now, now),
                        TagState("O.Level", float(i % 50), 0, Quality.GOOD, now, now, now),
                    ]
                )
                await asyncio.sleep(0.02)

        await historian.start()
        producer = asyncio.create_task(produce(), name="test-producer")
        try:
            await until(lambda: historian.status.written > 20, 30, "the first samples to be written")
            await proxy.cut()
            during_from = len(produced)
            await until(lambda: historian.status.buffering_since is not None, 30, "buffering to start")
            assert historian.status.last_error
            # The outage itself lasts its minute (that is what is tested), and at least until values kept coming
            # during it were spooled.
            await asyncio.sleep(OUTAGE_S)
            await until(
                lambda: historian.status.spooled_batches > 0 and len(produced) - during_from >= 300,
                30,
                "at least 300 values during the outage, spooled to disk",
            )
            await proxy.restore()
            await until(lambda: historian.status.buffering_since is None, 60, "the spool to be replayed")
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            await historian.stop()
            await db.stop()
            await proxy.close()

        assert list(spool_dir.iterdir()) == []
        direct = Database(url)
        await direct.start()
        try:
            async with direct.session() as session:
                flow = (
                    (await session.execute(sa.text("SELECT value FROM samples WHERE tag = 'O.Flow' ORDER BY t_us")))
                    .scalars()
                    .all()
                )
                level = (
                    await session.execute(sa.text("SELECT count(*) FROM samples WHERE tag = 'O.Level'"))
                ).scalar_one()
            # Every value, in order, exactly once (the key forbids a second copy; the count would show a loss).
            assert flow == produced
            assert level == len(produced)
            await assert_rollups_match(direct)
        finally:
            await direct.stop()

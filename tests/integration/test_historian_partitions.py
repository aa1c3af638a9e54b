"""Day partitions of the history on the local PostgreSQL: a new database's samples and rollups are partitioned by
day, rows land in their day's table, rows outside the tables wait in the default partition and move into their day's
table when it is made, and retention drops whole days once every tag's retention has passed them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hmi.clock import ManualClock
from hmi.historian import Historian, HistoryQuery
from hmi.historian.partitions import AHEAD_DAYS, Partitions, day_bounds, partition_name
from hmi.historian.recording import US_PER_S, to_us
from hmi.store.database import Database
from hmi.tags import TagCache
from tests.conftest import fresh_postgres_database
from tests.integration.test_historian_query import plant as query_plant
from tests.integration.test_historian_query import store
from tests.integration.test_historian_writer import good, plant

pytestmark = pytest.mark.postgres
T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    async with fresh_postgres_database() as url:
        db = Database(url)
        await db.start()
        try:
            yield db
        finally:
            await db.stop()


async def where_rows_are(db: Database, table: str = "samples") -> dict[str, int]:
    """Rows per partition of `table`."""
    async with db.session() as s:
        rows = (await s.execute(sa.text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1"))).all()
    return {str(r[0]): int(r[1]) for r in rows}


def days_from(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


@pytest.mark.req("HIS-003")
async def test_samples_land_in_their_day_and_the_default_holds_the_rest_until_their_day_comes(
    pg: Database, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    cache = TagCache()
    historian = Historian(plant(), cache, pg, tmp_path / "spool", clock)
    await historian.start()
    try:
        assert await historian.partitions.partitioned() == ["sample_rollups", "samples"]
        today = T0.date()
        assert await historian.partitions.days("samples") == days_from(today - timedelta(days=1), AHEAD_DAYS + 2)
        # A PLC clock five days ahead: no day table for it yet.
        cache.update([good("T.Flow", 1.0, T0), good("T.Temp", 20.0, T0 + timedelta(days=5))])
        await historian.flush()
        assert await where_rows_are(pg) == {"samples_20250106": 1, "samples_default": 1}
        assert set(await where_rows_are(pg, "sample_rollups")) == {"sample_rollups_20250106", "sample_rollups_default"}
        # Days pass: the fifth day's table is made and the waiting row moves into it.
        clock.advance(4 * 86400)
        await historian.prune()
        assert await where_rows_are(pg) == {"samples_20250106": 1, "samples_20250111": 1}
        assert "sample_rollups_default" not in await where_rows_are(pg, "sample_rollups")
    finally:
        await historian.stop()


@pytest.mark.req("HIS-003")
async def test_a_row_written_while_its_day_table_is_made_lands_in_that_table(pg: Database) -> None:
    """A writer inserting a row of a day whose table is being made (the demo's history backfill, a second instance's
    historian) waits for the table instead of leaving a row in the default that fails the table's creation."""
    day = T0.date() + timedelta(days=10)
    start, _ = day_bounds(day)
    writer = await pg.direct_connection("partition-test writer")
    try:
        tx = writer.transaction()
        await tx.start()
        # Routed to the default partition (no table for that day yet), not committed yet.
        await writer.execute(
            "INSERT INTO samples (tag, t_us, value, quality, status) VALUES ('T.Flow', $1, 1.0, 'good', 0)", start + 5
        )
        making = asyncio.create_task(Partitions(pg)._make("samples", day))
        await asyncio.sleep(0.5)
        assert not making.done(), "the table is made only once the writer is done"
        await tx.commit()
        assert await asyncio.wait_for(making, 10)
    finally:
        await writer.close()
    assert await where_rows_are(pg) == {partition_name("samples", day): 1}


@pytest.mark.req("HIS-005", "HIS-012")
async def test_retention_drops_whole_days_once_every_tag_is_past_them(pg: Database, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    cache = TagCache()
    historian = Historian(plant(), cache, pg, tmp_path / "spool", clock)  # retention 30 days, T.Count 1 day
    await historian.start()
    try:
        cache.update([good("T.Flow", 1.0, T0), good("T.Count", 5, T0)])
        await historian.flush()
        clock.advance(2 * 86400)
        await historian.prune()
        # T.Count's one day has passed: its row goes row by row; the day's table stays for T.Flow's 30 days.
        assert await where_rows_are(pg) == {"samples_20250106": 1}
        clock.advance(29 * 86400)
        await historian.prune()
        days = await historian.partitions.days("samples")
        assert date(2025, 1, 6) not in days, "31 days on, no tag keeps that day: its table is dropped"
        assert days[0] == T0.date() + timedelta(days=1), "the next day is kept until its own 30 days pass"
        assert await where_rows_are(pg) == {}
        assert (clock().date() + timedelta(days=AHEAD_DAYS)) in days
    finally:
        await historian.stop()


async def test_a_database_made_before_partitioning_keeps_its_plain_tables(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        db = Database(url)
        await db.start()
        async with db.session(write=True) as s:
            for table in ("samples", "sample_rollups"):
                await s.execute(sa.text(f"DROP TABLE {table} CASCADE"))
            await s.execute(
                sa.text(
                    "CREATE TABLE samples (tag varchar(200), t_us bigint, value float8, "
                    "text varchar(200), quality varchar(10) NOT NULL, status bigint NOT NULL, "
                    "PRIMARY KEY (tag, t_us))"
                )
            )
            await s.execute(
                sa.text(
                    "CREATE TABLE sample_rollups (tag varchar(200), bucket_us bigint, n int, "
                    "n_bad int, vmin float8, vmax float8, t_min_us bigint, t_max_us bigint, "
                    "PRIMARY KEY (tag, bucket_us))"
                )
            )
            await s.commit()
        await db.stop()
        db = Database(url)
        await db.start()  # the schema step finds plain tables: no default partition, no error
        try:
            cache = TagCache()
            historian = Historian(plant(), cache, db, tmp_path / "spool", ManualClock(T0))
            await historian.start()
            cache.update([good("T.Flow", 1.0, T0)])
            await historian.flush()
            assert await historian.partitions.partitioned() == []
            assert await historian.prune() == 0
            assert await where_rows_are(db) == {"samples": 1}
            await historian.stop()
        finally:
            await db.stop()


def relations(plan: dict[str, Any]) -> set[str]:
    """The tables and partitions an EXPLAIN (FORMAT JSON) plan reads."""
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= relations(child)
    return found


@pytest.mark.req("HIS-012")
async def test_a_zoomed_trend_reads_only_the_day_table_of_its_window(pg: Database) -> None:
    parts = Partitions(pg)
    days = days_from(T0.date(), 5)
    for day in days:
        await parts.ensure(datetime(day.year, day.month, day.day, tzinfo=UTC))
    noon = [datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for d in days]
    # Every day: a 1-s tag recorded from 11:55 to 12:15, so every day table holds rows of the pen.
    await store(
        pg,
        [
            {
                "tag": "Q.Fast",
                "t_us": to_us(n) + s * US_PER_S,
                "value": float(s),
                "text": None,
                "quality": "good",
                "status": 0,
            }
            for n in noon
            for s in range(-300, 900)
        ],
    )
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    query = HistoryQuery(pg, query_plant())
    sa.event.listen(pg.engine.sync_engine, "before_cursor_execute", capture)
    try:
        zoom = (await query.series(["Q.Fast"], noon[2], noon[2] + timedelta(minutes=10)))["Q.Fast"]
    finally:
        sa.event.remove(pg.engine.sync_engine, "before_cursor_execute", capture)
    assert not zoom.downsampled
    assert zoom.values == [float(s) for s in range(601)]
    assert zoom.bad_spans == []
    # Every statement the zoom sent, planned with the values it sent: only that day's table, not the days before
    # it (the value carried to the left edge is looked up no further back than a hole).
    reads = [(s, p) for s, p in sent if "FROM samples" in s]
    assert len(reads) == 3, "the value before the window, a count, the raw rows"
    async with pg.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        for statement, parameters in reads:
            doc = await driver.fetchval("EXPLAIN (FORMAT JSON) " + statement, *parameters)
            # The engine's connections decode json themselves; a plain asyncpg connection hands back the text.
            plan = (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]
            assert relations(plan) == {"samples_20250108"}, statement

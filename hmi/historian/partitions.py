"""Day partitions of the history tables on PostgreSQL (native declarative partitioning, PostgreSQL 11+).

`samples` and `sample_rollups` are created partitioned by range of their time column (integer microseconds since
the Unix epoch, UTC) with a DEFAULT partition. The historian keeps a partition per UTC day from yesterday to
AHEAD_DAYS ahead, so rows land in their day's table; a row outside them (a PLC clock far off) lands in the default
partition and moves into its day's table when that is made. Retention drops a whole day's table once every tag's
retention has passed it: no row-by-row DELETE over hundreds of millions of rows, no table bloat. Shorter retentions
of single tags are still deleted row by row (hmi.historian.writer).

A database made before partitioning keeps its plain tables and the row-by-row pruning; nothing here touches them.
On SQLite nothing is partitioned.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hmi.store.database import Database
from hmi.store.models import PARTITIONED as TABLES

log = logging.getLogger(__name__)

AHEAD_DAYS = 2
"""Day tables made ahead of today, so midnight never finds its table missing between two checks."""
_LOCK_KEY = 0x48_4D_49_50  # "HMIP": one instance at a time changes the partitions
_DAY = re.compile(r"_(\d{8})$")


def day_bounds(day: date) -> tuple[int, int]:
    """[start, end) of a UTC day in microseconds since the epoch."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return _us(start), _us(start + timedelta(days=1))


def _us(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000


def partition_name(table: str, day: date) -> str:
    return f"{table}_{day:%Y%m%d}"


class Partitions:
    """Makes and drops the day tables of the history tables on one PostgreSQL database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def partitioned(self) -> list[str]:
        """The history tables that are partitioned here (none on SQLite or on a database made before)."""
        if self._db.dialect != "postgresql":
            return []
        query = sa.text(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = ANY(:names) AND pg_table_is_visible(c.oid)"
        )
        async with self._db.session() as session:
            return sorted(str(r[0]) for r in (await session.execute(query, {"names": list(TABLES)})).all())

    async def days(self, table: str) -> list[date]:
        """The days `table` has its own partition for, oldest first."""
        query = sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table AND pg_table_is_visible(p.oid)"
        )
        async with self._db.session() as session:
            names = [str(r[0]) for r in (await session.execute(query, {"table": table})).all()]
        return sorted(date.fromisoformat(m.group(1)) for n in names if (m := _DAY.search(n)))

    async def ensure(self, now: datetime) -> list[str]:
        """Make the day tables from yesterday to AHEAD_DAYS ahead that are missing; returns the tables made."""
        made: list[str] = []
        today = now.astimezone(UTC).date()
        for table in await self.partitioned():
            have = set(await self.days(table))
            for offset in range(-1, AHEAD_DAYS + 1):
                day = today + timedelta(days=offset)
                if day not in have and await self._make(table, day):
                    made.append(partition_name(table, day))
        if made:
            log.info("historian: made day partitions %s", ", ".join(made))
        return made

    async def _make(self, table: str, day: date) -> bool:
        """One day's table, with the rows the default partition holds for that day moved into it (in one
        transaction, under a lock that another instance making the same table waits on)."""
        name, column = partition_name(table, day), TABLES[table]
        start, end = day_bounds(day)
        async with self._db.session(write=True) as session:
            await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            exists = await session.execute(sa.text("SELECT to_regclass(:name)"), {"name": name})
            if exists.scalar() is not None:
                return False
            # The default partition may already hold rows of that day; PostgreSQL refuses a new partition whose
            # range the default holds, so they are set aside, the table made, and they go back through the parent.
            # Writers wait meanwhile (the lock conflicts with their inserts' lock and ends at the commit): a row of
            # that day inserted between the move and the CREATE would land in the default and fail the CREATE
            # (a CheckViolation seen with the demo's history backfill on PostgreSQL). This lock lets readers on.
            await session.execute(sa.text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
            bounds: dict[str, Any] = {"start": start, "end": end}
            await session.execute(
                sa.text(
                    f"CREATE TEMP TABLE hmi_moving ON COMMIT DROP AS WITH moved AS (DELETE FROM {table}_default "
                    f"WHERE {column} >= :start AND {column} < :end RETURNING *) SELECT * FROM moved"
                ),
                bounds,
            )
            await session.execute(
                sa.text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({start}) TO ({end})")
            )
            await session.execute(sa.text(f"INSERT INTO {table} SELECT * FROM hmi_moving"))
            await session.commit()
        return True

    async def drop_before(self, cutoff: datetime) -> list[str]:
        """Drop the day tables that end at or before `cutoff` (every tag's retention has passed them)."""
        dropped: list[str] = []
        for table in await self.partitioned():
            for day in await self.days(table):
                if day_bounds(day)[1] > _us(cutoff):
                    break
                async with self._db.session(write=True) as session:
                    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                    await session.execute(sa.text(f"DROP TABLE IF EXISTS {partition_name(table, day)}"))
                    await session.commit()
                dropped.append(partition_name(table, day))
        if dropped:
            log.info("historian: dropped day partitions past every tag's retention: %s", ", ".join(dropped))
        return dropped

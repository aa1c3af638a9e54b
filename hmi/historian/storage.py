"""The historian's write path: idempotent sample inserts and minute rollups merged in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hmi.historian.recording import Row, drawable
from hmi.store.models import Sample, SampleRollup

MINUTE_US = 60_000_000
# Rows per executemany of the rollup upsert (one statement text whatever the count: no RETURNING).
ROLLUP_CHUNK = 2000
# Most rows in one sample INSERT. With RETURNING, SQLAlchemy renders an executemany as one multi-row VALUES
# ("insertmanyvalues"), so the SQL text differs with the row count, and each text becomes a prepared statement the
# driver keeps per connection (Python's sqlite3 up to 128, asyncpg 100): a SQLite statement of 300 rows holds about
# 220 KiB. With the historian's batch size changing every second, those caches filled for hours (SQLite's memory
# +0.4 MiB a minute on the soak bench). Rows go in chunks of power-of-two sizes up to this, so a connection only
# ever prepares ten shapes (about 700 KiB together on SQLite). Below SQLAlchemy's page size of 1000 rows, which
# would split a chunk again.
SHAPES_UP_TO = 512

T = TypeVar("T")


def shaped_chunks(rows: Sequence[T]) -> Iterator[Sequence[T]]:
    """`rows` in order, in chunks of SHAPES_UP_TO and then the binary digits of the rest (300 = 256 + 32 + 8 + 4)."""
    i = 0
    while i < len(rows):
        size = min(SHAPES_UP_TO, 1 << ((len(rows) - i).bit_length() - 1))
        yield rows[i : i + size]
        i += size


_SAMPLES = Sample.__table__  # type: ignore[attr-defined]  # SQLModel declares it only at runtime
_ROLLUPS = SampleRollup.__table__  # type: ignore[attr-defined]


def _insert(dialect: str, table: sa.Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def rollup_rows(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Per (tag, minute) aggregates of sample rows: count and extremes of drawable values, count of the others.

    Ties keep the earliest time, which is what merging and a recomputation from samples agree on.
    """
    acc: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        t = r["t_us"]
        bucket = t - t % MINUTE_US
        key = (r["tag"], bucket)
        a = acc.get(key)
        if a is None:
            a = acc[key] = {
                "tag": r["tag"],
                "bucket_us": bucket,
                "n": 0,
                "n_bad": 0,
                "vmin": None,
                "vmax": None,
                "t_min_us": None,
                "t_max_us": None,
            }
        v = r["value"]
        if drawable(r["quality"], v):
            a["n"] += 1
            if a["vmin"] is None or v < a["vmin"] or (v == a["vmin"] and t < a["t_min_us"]):
                a["vmin"], a["t_min_us"] = v, t
            if a["vmax"] is None or v > a["vmax"] or (v == a["vmax"] and t < a["t_max_us"]):
                a["vmax"], a["t_max_us"] = v, t
        elif r["text"] is None or r["quality"] != "good":
            # A good string is a value, not a gap; everything else without a drawable number is one.
            a["n_bad"] += 1
    return list(acc.values())


def _rollup_upsert(dialect: str) -> Any:
    ins = _insert(dialect, _ROLLUPS)
    ex = ins.excluded
    cur = _ROLLUPS.c
    take_min = sa.or_(
        cur.vmin.is_(None),
        sa.and_(
            ex.vmin.is_not(None), sa.or_(ex.vmin < cur.vmin, sa.and_(ex.vmin == cur.vmin, ex.t_min_us < cur.t_min_us))
        ),
    )
    take_max = sa.or_(
        cur.vmax.is_(None),
        sa.and_(
            ex.vmax.is_not(None), sa.or_(ex.vmax > cur.vmax, sa.and_(ex.vmax == cur.vmax, ex.t_max_us < cur.t_max_us))
        ),
    )
    return ins.on_conflict_do_update(
        index_elements=[cur.tag, cur.bucket_us],
        set_={
            "n": cur.n + ex.n,
            "n_bad": cur.n_bad + ex.n_bad,
            # Value and its time switch together, so both CASEs test the same condition on the old row.
            "vmin": sa.case((take_min, ex.vmin), else_=cur.vmin),
            "t_min_us": sa.case((take_min, ex.t_min_us), else_=cur.t_min_us),
            "vmax": sa.case((take_max, ex.vmax), else_=cur.vmax),
            "t_max_us": sa.case((take_max, ex.t_max_us), else_=cur.t_max_us),
        },
    )


async def upsert_rollups(session: AsyncSession, dialect: str, rollups: Sequence[dict[str, Any]]) -> None:
    """Merge minute aggregates into sample_rollups (counts add up, extremes keep the more extreme)."""
    stmt = _rollup_upsert(dialect)
    for i in range(0, len(rollups), ROLLUP_CHUNK):
        await session.execute(stmt, list(rollups[i : i + ROLLUP_CHUNK]))


async def write_batch(session: AsyncSession, dialect: str, rows: Sequence[Row]) -> int:
    """Insert samples (a key already stored is skipped) and merge the rollups of exactly the inserted ones.

    RETURNING reports only rows that were really inserted, so a batch replayed twice counts once in the rollups.
    Returns how many samples were new. The caller commits: samples and rollups change together or not at all.
    """
    if not rows:
        return 0
    cols = _SAMPLES.c
    stmt = (
        _insert(dialect, _SAMPLES)
        .on_conflict_do_nothing(index_elements=[cols.tag, cols.t_us])
        .returning(cols.tag, cols.t_us, cols.value, cols.text, cols.quality)
    )
    inserted: list[Row] = []
    # A batch may hold the same key twice (a spool replayed next to the live queue); keep the first.
    unique = list({(r["tag"], r["t_us"]): r for r in reversed(rows)}.values())
    for chunk in shaped_chunks(unique):
        result = await session.execute(stmt, chunk)
        inserted.extend(dict(m) for m in result.mappings())
    await upsert_rollups(session, dialect, rollup_rows(inserted))
    return len(inserted)

"""Trend benchmark: how fast does a 7-day trend of 8 pens open from 1-second history, against fetching it raw?

Loads 8 tags with 7 days of 1-second samples (about 4.84 million; wandering values, a few one-second spikes, a
30-minute bad-quality period) into a fresh SQLite file and into a scratch PostgreSQL database (created, then dropped).
Samples go in with the driver's bulk path (sqlite3 executemany / asyncpg COPY); the minute rollups are built with
the historian writer's own code (rollup_rows + upsert_rollups). Then it times, per database:
  trend_7d   HistoryQuery.series of all 8 pens over the 7 days (median of --runs);
  zoom       the same for a 10-minute window inside it (median);
  naive      fetching every raw sample of the 8 pens for the 7 days (once).
Last line (SQLite): trend_7d_s=A trend_zoom_s=B points_sent=N naive_ratio=R
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmi.config import PlantConfig, parse_config  # noqa: E402
from hmi.historian import HistoryQuery  # noqa: E402
from hmi.historian.recording import US_PER_S, to_us  # noqa: E402
from hmi.historian.storage import rollup_rows, upsert_rollups  # noqa: E402
from hmi.store.database import Database  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "hmi_bench_trends"
TAGS = [f"Bench.Pen{i}" for i in range(1, 9)]
END = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
CHUNK_S = 3600 * 6  # generate and load six hours of one tag at a time, so memory stays small


def plant() -> PlantConfig:
    """A plant with the 8 bench tags, each recorded at least every second."""
    tags = "\n".join(
        f"          - {{name: {t}, endpoint: sim, node_id: 'ns=2;s={t}', unit: bar, "
        f"eng_range: [0, 100], history: {{max_interval_s: 1}}}}"
        for t in TAGS
    )
    text = (
        "site: {name: Bench}\nendpoints: [{name: sim, url: 'opc.tcp://127.0.0.1:4840'}]\n"
        f"areas:\n  - name: A\n    lines:\n      - name: L\n        tags:\n{tags}\n"
    )
    return parse_config(text, "bench")


def generate(tag_index: int, start_us: int, seconds: int) -> Iterator[list[tuple[str, int, float | None, str, int]]]:
    """Chunks of (tag, t_us, value, quality, status) rows: a mean-reverting walk, spikes, one bad half hour."""
    rng = random.Random(tag_index)
    tag = TAGS[tag_index]
    value = 50.0
    mean = 40.0 + 3 * tag_index
    bad_from = seconds // 2 + tag_index * 3600
    spikes = {rng.randrange(seconds) for _ in range(5)}
    gauss = rng.gauss
    for chunk_start in range(0, seconds, CHUNK_S):
        rows = []
        for s in range(chunk_start, min(seconds, chunk_start + CHUNK_S)):
            value += 0.02 * (mean - value) + gauss(0, 0.3)
            t = start_us + s * US_PER_S
            if bad_from <= s < bad_from + 1800:
                rows.append((tag, t, None, "bad", 0x80000000))
            elif s in spikes:
                rows.append((tag, t, value + 40.0, "good", 0))
            else:
                rows.append((tag, t, round(value, 3), "good", 0))
        yield rows


async def build_rollups(db: Database, chunk: list[tuple[str, int, float | None, str, int]]) -> None:
    """Minute rollups of a loaded chunk through the writer's own aggregation and upsert."""
    rows = [{"tag": t, "t_us": u, "value": v, "text": None, "quality": q} for t, u, v, q, _ in chunk]
    async with db.session(write=True) as session:
        await upsert_rollups(session, db.dialect, rollup_rows(rows))
        await session.commit()


async def load_sqlite(db: Database, path: Path, start_us: int, seconds: int) -> int:
    """Bulk-load samples with sqlite3 (off the loop), rollups through the writer's code; returns rows."""
    total = 0
    con = sqlite3.connect(path, check_same_thread=False)
    try:
        for i in range(len(TAGS)):
            for chunk in generate(i, start_us, seconds):

                def insert(rows: list[tuple[str, int, float | None, str, int]] = chunk) -> None:
                    with con:
                        con.executemany(
                            "INSERT INTO samples (tag, t_us, value, text, quality, status) "
                            "VALUES (?, ?, ?, NULL, ?, ?)",
                            rows,
                        )

                await asyncio.to_thread(insert)
                await build_rollups(db, chunk)
                total += len(chunk)
    finally:
        con.close()
    return total


async def load_postgres(db: Database, url: str, start_us: int, seconds: int) -> int:
    """Bulk-load samples with COPY, rollups through the writer's code; returns rows."""
    total = 0
    con = await asyncpg.connect(url)
    try:
        for i in range(len(TAGS)):
            for chunk in generate(i, start_us, seconds):
                await con.copy_records_to_table(
                    "samples",
                    records=[(t, u, v, None, q, st) for t, u, v, q, st in chunk],
                    columns=["tag", "t_us", "value", "text", "quality", "status"],
                )
                await build_rollups(db, chunk)
                total += len(chunk)
        await con.execute("ANALYZE samples; ANALYZE sample_rollups")
    finally:
        await con.close()
    return total


async def measure(db: Database, label: str, days: float, runs: int) -> tuple[float, float, int, float]:
    """(7-day time, zoom time, points of the 7-day view, naive time) on one database."""
    query = HistoryQuery(db, plant())
    start = END - timedelta(days=days)
    times, zooms = [], []
    points = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await query.series(TAGS, start, END)
        times.append(time.perf_counter() - t0)
        points = sum(len(s.times) for s in result.values())
    zoom_start = start + (END - start) / 2
    for _ in range(runs):
        t0 = time.perf_counter()
        zoom = await query.series(TAGS, zoom_start, zoom_start + timedelta(minutes=10))
        zooms.append(time.perf_counter() - t0)
    zoom_points = sum(len(s.times) for s in zoom.values())
    t0 = time.perf_counter()
    async with db.session() as session:
        raw = (
            await session.execute(
                sa.text(
                    "SELECT tag, t_us, value, text, quality, status FROM samples WHERE tag IN :tags AND t_us >= :a "
                    "AND t_us <= :b ORDER BY tag, t_us"
                ).bindparams(sa.bindparam("tags", expanding=True)),
                {"tags": TAGS, "a": to_us(start), "b": to_us(END)},
            )
        ).all()
    naive = time.perf_counter() - t0
    a, b = statistics.median(times), statistics.median(zooms)
    # Extremes must survive downsampling: each pen's highest and lowest point equal the stored max and min.
    async with db.session() as session:
        truth = {
            r[0]: (r[1], r[2])
            for r in (
                await session.execute(sa.text("SELECT tag, min(value), max(value) FROM samples GROUP BY tag"))
            ).all()
        }
    kept = sum(
        1
        for tag, s in result.items()
        if (min(v for v in s.values if v is not None), max(v for v in s.values if v is not None)) == truth[tag]
    )
    gaps = sum(len(s.bad_spans) for s in result.values())
    print(
        f"{label}: trend {days:g} d x {len(TAGS)} pens {a:.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}), "
        f"{points} points, min and max kept on {kept}/{len(TAGS)} pens, {gaps} bad/no-data spans; "
        f"zoom 10 min {b:.3f} s "
        f"({zoom_points} points); naive fetch of {len(raw):,} raw rows {naive:.2f} s; ratio {naive / a:.1f}"
    )
    return a, b, points, naive


async def main_async(args: argparse.Namespace) -> None:
    days = 1.0 if args.quick else args.days
    seconds = int(days * 86_400)
    start_us = to_us(END) - seconds * US_PER_S
    work = Path(tempfile.mkdtemp(prefix="hmi-trends-"))
    path = work / "trends.db"
    db = Database(f"sqlite:///{path}")
    await db.start()
    try:
        t0 = time.perf_counter()
        n = await load_sqlite(db, path, start_us, seconds)
        print(f"SQLite: loaded {n:,} samples in {time.perf_counter() - t0:.1f} s ({path})")
        sqlite_figures = await measure(db, "SQLite", days, args.runs)
    finally:
        await db.stop()
        if not args.keep:
            await asyncio.to_thread(shutil.rmtree, work, True)

    if not args.no_postgres:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{PG_DB}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
            pg = Database(url)
            await pg.start()
            try:
                t0 = time.perf_counter()
                n = await load_postgres(pg, url, start_us, seconds)
                print(f"PostgreSQL: loaded {n:,} samples in {time.perf_counter() - t0:.1f} s")
                await measure(pg, "PostgreSQL", days, args.runs)
            finally:
                await pg.stop()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            await admin.close()

    a, b, points, naive = sqlite_figures
    print(f"trend_7d_s={a:.3f} trend_zoom_s={b:.3f} points_sent={points} naive_ratio={naive / a:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0, help="history to load (default 7)")
    parser.add_argument("--quick", action="store_true", help="one day instead of seven: a fast smoke run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (median reported)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if math.isnan(args.days) or args.days <= 0:
        parser.error("--days must be positive")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

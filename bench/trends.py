"""Trend benchmark: how fast does a 7-day trend of 8 pens open from 1-second history, against fetching it raw?

Loads 8 tags with 7 days of 1-second samples (about 4.84 million; wandering values, a few one-second spikes, a
30-minute bad-quality period) into a fresh SQLite file and into a scratch PostgreSQL database (created, then dropped).
Samples go in with the driver's bulk path (sqlite3 executemany / asyncpg COPY); the minute rollups are built with
the historian writer's own code (rollup_rows + upsert_rollups). Then it times, per database:
  trend_7d   HistoryQuery.series of all 8 pens over the 7 days (median of --runs);
  zoom       the same for a 10-minute window inside it (median);
  naive      fetching every raw sample of the 8 pens for the 7 days (once).
Last line (SQLite): trend_7d_s=A trend_zoom_s=B points_sent=N naive_ratio=R

With --plant-tags N it measures PostgreSQL only, on the history schema a plant of N tags really has: the scratch
database is made by the HMI's own Database (samples and rollups partitioned by UTC day) and its day tables by the
historian's own Partitions code; the 8 pens' 1-second week is loaded together with a background history of N other
tags (each recorded every --plant-interval seconds), in time order as the historian writes it, so the pens' rows sit
among everyone else's in the heap and the indexes. Minute rollups of every tag come from the writer's rollup_rows.
It prints the row counts and table sizes, the partitions the zoom's statements scan (EXPLAIN ANALYZE), and
Last line: plant_tags=N rows=R db_gib=G trend_7d_s=A trend_zoom_s=B points_sent=P naive_ratio=X zoom_partitions=Z
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmi.config import PlantConfig, parse_config  # noqa: E402
from hmi.historian import HistoryQuery  # noqa: E402
from hmi.historian.partitions import Partitions  # noqa: E402
from hmi.historian.query import _COUNT_UPTO, _LATEST_BEFORE, _RAW, hole_us  # noqa: E402
from hmi.historian.recording import US_PER_S, to_us  # noqa: E402
from hmi.historian.storage import rollup_rows, upsert_rollups  # noqa: E402
from hmi.store.database import Database  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "hmi_bench_trends"
PG_PLANT_DB = "hmi_bench_trends_plant"
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
                await session.execute(
                    sa.text(
                        "SELECT tag, min(value), max(value) FROM samples WHERE tag IN :tags GROUP BY tag"
                    ).bindparams(sa.bindparam("tags", expanding=True)),
                    {"tags": TAGS},
                )
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


# ------------------------------------------------------------------------------------------------ --plant-tags

AREAS = ("Assembly", "Bottling", "Casting", "Utilities")  # "Bench.Pen*" sorts among them, not at one end
Record = tuple[str, int, float | None, str | None, str, int]


def background_names(n: int) -> list[str]:
    return [f"{AREAS[j % len(AREAS)]}.Line{j // 1000:02d}.Tag{j:05d}" for j in range(n)]


def plant_slice(
    pens: list[Iterator[list[tuple[str, int, float | None, str, int]]]],
    by_phase: list[list[str]],
    interval: int,
    start_us: int,
    s0: int,
    s1: int,
) -> tuple[list[Record], list[tuple[Any, ...]]]:
    """Samples of seconds [s0, s1) of every tag in time order (as the historian's batches arrive), and their minute
    rollups from the writer's rollup_rows. Slices are whole minutes, so each (tag, minute) is in one slice only."""
    rng = random.Random(s0)
    rows: list[Record] = []
    for s in range(s0, s1):
        names = by_phase[s % interval]
        t = start_us + s * US_PER_S
        rows.extend((name, t, round(rng.random() * 100.0, 3), None, "good", 0) for name in names)
    for pen in pens:
        rows.extend((t, u, v, None, q, st) for t, u, v, q, st in next(pen))
    rows.sort(key=lambda r: r[1])  # stable: within a second, the background batch then the pens
    rollups = rollup_rows({"tag": r[0], "t_us": r[1], "value": r[2], "text": r[3], "quality": r[4]} for r in rows)
    records = [
        (r["tag"], r["bucket_us"], r["n"], r["n_bad"], r["vmin"], r["vmax"], r["t_min_us"], r["t_max_us"])
        for r in rollups
    ]
    return rows, records


async def make_day_tables(db: Database, start: datetime, end: datetime) -> list[str]:
    """The day tables of the loaded week, made by the historian's own Partitions.ensure as its clock passes each day
    (it keeps yesterday to AHEAD_DAYS ahead of `now`)."""
    parts = Partitions(db)
    made: list[str] = []
    day = start + timedelta(days=1)
    while day <= end:
        made += await parts.ensure(day)
        day += timedelta(days=1)
    return made


async def load_plant(url: str, tags: int, interval: int, start_us: int, seconds: int) -> tuple[int, int]:
    """COPY the pens and the background history into the partitioned parents (PostgreSQL routes each row to its
    day table), one 6-hour slice at a time, the next slice made while the last is copied; returns (samples, rollups)."""
    names = background_names(tags)
    by_phase: list[list[str]] = [[] for _ in range(interval)]
    for j, name in enumerate(names):
        by_phase[(j * 7919) % interval].append(name)  # phases spread over the interval, neighbours apart
    pens = [generate(i, start_us, seconds) for i in range(len(TAGS))]
    con_s, con_r = await asyncpg.connect(url), await asyncpg.connect(url)
    n_samples = n_rollups = 0
    t0 = time.perf_counter()
    try:
        slices = [(s0, min(seconds, s0 + CHUNK_S)) for s0 in range(0, seconds, CHUNK_S)]

        def make(k: int) -> tuple[list[Record], list[tuple[Any, ...]]]:
            return plant_slice(pens, by_phase, interval, start_us, *slices[k])

        pending = asyncio.create_task(asyncio.to_thread(make, 0))
        for k in range(len(slices)):
            rows, rollups = await pending
            if k + 1 < len(slices):
                pending = asyncio.create_task(asyncio.to_thread(make, k + 1))
            await asyncio.gather(
                con_s.copy_records_to_table(
                    "samples", records=rows, columns=["tag", "t_us", "value", "text", "quality", "status"]
                ),
                con_r.copy_records_to_table(
                    "sample_rollups",
                    records=rollups,
                    columns=["tag", "bucket_us", "n", "n_bad", "vmin", "vmax", "t_min_us", "t_max_us"],
                ),
            )
            n_samples += len(rows)
            n_rollups += len(rollups)
            done = slices[k][1] / seconds
            elapsed = time.perf_counter() - t0
            print(
                f"  {done:6.1%} {n_samples:>12,} samples {n_rollups:>12,} rollups "
                f"{elapsed:7.0f} s (about {elapsed / done - elapsed:.0f} s left)",
                flush=True,
            )
    finally:
        await con_s.close()
        await con_r.close()
    return n_samples, n_rollups


async def table_sizes(con: asyncpg.Connection) -> dict[str, tuple[int, int, int]]:
    """Per history table: (leaf partitions, bytes with indexes, bytes of indexes), summed over its partitions."""
    sizes = {}
    for table in ("samples", "sample_rollups"):
        row = await con.fetchrow(
            "SELECT count(*), sum(pg_total_relation_size(relid)), sum(pg_indexes_size(relid)) "
            "FROM pg_partition_tree($1) WHERE isleaf",
            table,
        )
        sizes[table] = (int(row[0]), int(row[1]), int(row[2]))
    return sizes


def scanned(plan: dict[str, Any]) -> tuple[list[str], int]:
    """Relations a JSON plan reads (that ran at least once) and the subplans pruned at run time."""
    rels: list[str] = []
    removed = int(plan.get("Subplans Removed", 0))
    if "Relation Name" in plan and plan.get("Actual Loops", 1) > 0:
        rels.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        r, n = scanned(child)
        rels += r
        removed += n
    return rels, removed


async def explain_zoom(db: Database, a: int, b: int) -> int:
    """EXPLAIN ANALYZE the zoom's statements for one pen as HistoryQuery sends them; prints the day tables each
    reads and returns the most any of them reads."""
    params: dict[str, Any] = {"tag": TAGS[0], "t": a, "since": a - hole_us(plant(), TAGS[0]), "a": a, "b": b}
    params["lim"] = 2000
    most = 0
    async with db.session() as session:
        for name, stmt in (("latest before", _LATEST_BEFORE), ("count", _COUNT_UPTO), ("raw", _RAW)):
            explain = sa.text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + stmt.text).bindparams(
                *stmt._bindparams.values()  # the same typed binds
            )
            doc = (await session.execute(explain, params)).scalar_one()
            plan = (json.loads(doc) if isinstance(doc, str) else doc)[0]
            rels, removed = scanned(plan["Plan"])
            most = max(most, len(rels))
            print(
                f"  zoom {name}: {len(rels)} partition(s) read {sorted(set(rels))}, {removed} pruned at run time, "
                f"{plan['Execution Time']:.2f} ms"
            )
    return most


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def plant_async(args: argparse.Namespace) -> None:
    days = 1.0 if args.quick else args.days
    seconds = int(days * 86_400)
    start_us = to_us(END) - seconds * US_PER_S
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_PLANT_DB}"
    if not args.reuse_db:
        await drop_database(PG_PLANT_DB)
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'CREATE DATABASE "{PG_PLANT_DB}"')
        finally:
            await admin.close()
    pg = Database(url)
    await pg.start()  # the HMI's own schema: samples and sample_rollups partitioned by day, with a default
    try:
        if args.reuse_db:
            async with pg.session() as session:
                n_samples = (await session.execute(sa.text("SELECT count(*) FROM samples"))).scalar_one()
            print(f"PostgreSQL plant: measuring the kept {PG_PLANT_DB} ({n_samples:,} samples), no load")
        else:
            made = await make_day_tables(pg, END - timedelta(seconds=seconds), END)
            print(f"PostgreSQL plant: {len(made)} day tables made by the historian ({made[0]} .. {made[-1]})")
            per_day = args.plant_tags * 86_400 // args.plant_interval
            print(
                f"loading {len(TAGS)} pens x {days:g} d at 1 s + {args.plant_tags:,} tags every "
                f"{args.plant_interval} s ({per_day:,} background samples a day)",
                flush=True,
            )
            t0 = time.perf_counter()
            n_samples, n_rollups = await load_plant(url, args.plant_tags, args.plant_interval, start_us, seconds)
            load_s = time.perf_counter() - t0
            con = await asyncpg.connect(url)
            try:
                t0 = time.perf_counter()
                # What autovacuum does to insert-only tables in time: statistics and the visibility map.
                await con.execute("VACUUM (ANALYZE) samples, sample_rollups")
                vacuum_s = time.perf_counter() - t0
            finally:
                await con.close()
            print(
                f"loaded {n_samples:,} samples and {n_rollups:,} rollups in {load_s:.0f} s; "
                f"VACUUM (ANALYZE) {vacuum_s:.0f} s"
            )
        con = await asyncpg.connect(url)
        try:
            sizes = await table_sizes(con)
            in_default = await con.fetchval("SELECT count(*) FROM samples_default")
        finally:
            await con.close()
        total = sum(size for _, size, _ in sizes.values())
        for table, (n, size, idx) in sizes.items():
            print(f"  {table}: {n} partitions, {size / 2**30:.2f} GiB ({idx / 2**30:.2f} GiB indexes)")
        print(f"  {in_default} samples in the default partition; {total / 2**30:.2f} GiB of history in all")
        a, b, points, naive = await measure(pg, f"PostgreSQL {args.plant_tags:,} tags", days, args.runs)
        zoom_start = END - timedelta(seconds=seconds) + timedelta(seconds=seconds) / 2
        zoom_parts = await explain_zoom(pg, to_us(zoom_start), to_us(zoom_start + timedelta(minutes=10)))
    finally:
        await pg.stop()
    print(
        f"plant_tags={args.plant_tags} rows={n_samples} db_gib={total / 2**30:.2f} trend_7d_s={a:.3f} "
        f"trend_zoom_s={b:.3f} points_sent={points} naive_ratio={naive / a:.1f} zoom_partitions={zoom_parts}"
    )


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
    parser.add_argument(
        "--plant-tags", type=int, default=0, help="PostgreSQL only, among the history of this many other tags"
    )
    parser.add_argument(
        "--plant-interval", type=int, default=600, help="seconds between two samples of a background tag (600)"
    )
    parser.add_argument("--keep-db", action="store_true", help="--plant-tags: keep the scratch database")
    parser.add_argument(
        "--reuse-db", action="store_true", help="--plant-tags: measure the database a --keep-db run kept, no load"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if math.isnan(args.days) or args.days <= 0:
        parser.error("--days must be positive")
    if args.plant_tags < 0 or args.plant_interval < 1:
        parser.error("--plant-tags must be 0 or more and --plant-interval at least 1")
    if not args.plant_tags:
        asyncio.run(main_async(args))
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the run like Ctrl-C, so the scratch database is dropped

    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(plant_async(args))
    finally:
        if not args.keep_db:
            # Here rather than inside the run, so an interrupted load still drops it (asyncio.run has ended).
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(drop_database(PG_PLANT_DB))


if __name__ == "__main__":
    main()

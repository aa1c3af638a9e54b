"""The historian writer on a real database: batching, rollups that match the samples, spooling, pruning."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.historian import Historian
from hmi.historian.recording import to_us
from hmi.historian.spool import Spool
from hmi.historian.storage import shaped_chunks, write_batch
from hmi.store.database import Database
from hmi.store.quarantine import Quarantine
from hmi.tags import Quality, TagCache, TagState
from tests.conftest import fresh_postgres_database

PLANT = """
site: {name: T}
endpoints: [{name: e, url: 'opc.tcp://127.0.0.1:4840'}]
historian:
  flush_interval_s: 60
  prune_interval_min: 1440
  defaults: {max_interval_s: 60, retention_days: 30}
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: T.Temp, endpoint: e, node_id: 'ns=2;s=T', eng_range: [0, 200], history: {deadband: 0.5}}
          - {name: T.Flow, endpoint: e, node_id: 'ns=2;s=F'}
          - {name: T.Run, endpoint: e, node_id: 'ns=2;s=R', data_type: bool}
          - {name: T.State, endpoint: e, node_id: 'ns=2;s=S', data_type: string}
          - {name: T.Count, endpoint: e, node_id: 'ns=2;s=C', data_type: int, history: {retention_days: 1}}
          - {name: T.Off, endpoint: e, node_id: 'ns=2;s=O', history: {enabled: false}}
"""


def plant() -> PlantConfig:
    return parse_config(PLANT, "test")


def good(name: str, value: object, at: datetime) -> TagState:
    return TagState(name, value, 0, Quality.GOOD, at, at, at)


@pytest.fixture
async def historian(db: Database, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Historian]:
    cache = TagCache()
    h = Historian(plant(), cache, db, tmp_path / "spool", clock)
    h.cache = cache  # type: ignore[attr-defined]  # tests drive the same cache
    await h.start()
    yield h
    await h.stop()


def cache_of(h: Historian) -> TagCache:
    return h.cache  # type: ignore[attr-defined,no-any-return]


async def samples(db: Database, tag: str | None = None) -> list[tuple[str, int, float | None, str | None, str]]:
    where = "" if tag is None else " WHERE tag = :tag"
    async with db.session() as s:
        rows = (
            await s.execute(
                sa.text(f"SELECT tag, t_us, value, text, quality FROM samples{where} ORDER BY tag, t_us"), {"tag": tag}
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def assert_rollups_match(db: Database) -> None:
    """The rollup table equals a recomputation from the samples (independent of the writer's code)."""
    expected: dict[tuple[str, int], list[object]] = {}
    for tag, t, value, text, quality in await samples(db):
        key = (tag, t - t % 60_000_000)
        e = expected.setdefault(key, [0, 0, None, None, None, None])
        if value is not None and quality in ("good", "uncertain"):
            e[0] += 1  # type: ignore[operator]
            if e[2] is None or value < e[2] or (value == e[2] and t < e[4]):  # type: ignore[operator]
                e[2], e[4] = value, t
            if e[3] is None or value > e[3] or (value == e[3] and t < e[5]):  # type: ignore[operator]
                e[3], e[5] = value, t
        elif not (text is not None and quality == "good"):
            e[1] += 1  # type: ignore[operator]
    async with db.session() as s:
        rows = (
            await s.execute(
                sa.text("SELECT tag, bucket_us, n, n_bad, vmin, vmax, t_min_us, t_max_us FROM sample_rollups")
            )
        ).all()
    actual = {(r[0], r[1]): [r[2], r[3], r[4], r[5], r[6], r[7]] for r in rows}
    assert actual == expected


@pytest.mark.req("HIS-003")
async def test_changes_recorded_in_one_batch(historian: Historian, db: Database, clock: ManualClock) -> None:
    cache = cache_of(historian)
    start = clock.now()
    for i in range(3000):
        at = clock.advance(0.01)
        cache.update([good("T.Flow", float(i), at), good("T.Run", i % 2 == 0, at)])
    cache.update([good("T.State", "Execute", clock.now()), good("T.Off", 1.0, clock.now())])
    assert historian.status.queued == 6001
    # The historian's lag: the oldest sample still waiting is the first change.
    assert historian.status.oldest_waiting == start + timedelta(seconds=0.01)
    await historian.flush()
    status = historian.status
    assert status.queued == 0
    assert status.written == 6001
    assert status.buffering_since is None
    assert status.oldest_waiting is None
    flow = await samples(db, "T.Flow")
    assert len(flow) == 3000
    assert flow[0][1] == to_us(start + timedelta(seconds=0.01))
    run = await samples(db, "T.Run")
    assert [r[2] for r in run[:3]] == [1.0, 0.0, 1.0]
    assert await samples(db, "T.State") == [("T.State", to_us(clock.now()), None, "Execute", "good")]
    assert await samples(db, "T.Off") == []
    await assert_rollups_match(db)


@pytest.mark.req("HIS-001", "HIS-002")
async def test_deadband_and_max_interval_with_a_moving_clock(
    historian: Historian, db: Database, clock: ManualClock
) -> None:
    cache = cache_of(historian)
    cache.update([good("T.Temp", 20.0, clock.now())])
    cache.update([good("T.Temp", 20.3, clock.advance(1))])  # inside the 0.5 deadband
    await historian.flush()
    assert [r[2] for r in await samples(db, "T.Temp")] == [20.0]
    clock.advance(30)
    await historian.flush()
    assert len(await samples(db, "T.Temp")) == 1
    tick = clock.advance(30)  # 61 s after the first sample: the suppressed value is written now
    await historian.flush()
    rows = await samples(db, "T.Temp")
    assert [(r[1], r[2]) for r in rows] == [(to_us(tick - timedelta(seconds=61)), 20.0), (to_us(tick), 20.3)]
    cache.update([TagState("T.Temp", 20.3, 0x80320000, Quality.BAD, clock.now(), clock.now(), clock.now())])
    await historian.flush()
    assert [r[4] for r in await samples(db, "T.Temp")][-1] == "bad"
    await assert_rollups_match(db)


@pytest.mark.req("HIS-004")
async def test_spooled_while_database_stopped_then_replayed(
    db: Database, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TagCache()
    spool_dir = tmp_path / "spool"
    historian = Historian(plant(), cache, db, spool_dir, clock)
    await historian.start()
    try:
        cache.update([good("T.Flow", 1.0, clock.advance(1))])
        await historian.flush()
        await db.stop()
        with caplog.at_level(logging.ERROR):
            for i in range(50):
                cache.update([good("T.Flow", 2.0 + i, clock.advance(1))])
            await historian.flush()
            cache.update([good("T.Flow", 100.0, clock.advance(1))])
            await historian.flush()
        status = historian.status
        assert status.queued == 0
        assert status.spooled_batches == 2
        assert status.buffering_since is not None
        assert status.last_error
        assert len(list(spool_dir.glob("*.jsonl"))) == 2
        await db.start()
        await historian.flush()
        assert historian.status.spooled_batches == 0
        assert historian.status.buffering_since is None
        assert [r[2] for r in await samples(db, "T.Flow")] == [1.0, *[2.0 + i for i in range(50)], 100.0]
        assert list(spool_dir.iterdir()) == []
        await assert_rollups_match(db)
    finally:
        await historian.stop()


@pytest.mark.req("HIS-004")
async def test_replaying_a_batch_twice_stores_it_once(db: Database, clock: ManualClock, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    await spool.open()
    base = to_us(clock.now())
    rows = [
        {
            "tag": "T.Flow",
            "t_us": base + i * 1_000_000,
            "value": float(i % 13),
            "text": None,
            "quality": "bad" if i % 17 == 0 else "good",
            "status": 0,
        }
        for i in range(500)
    ]
    await spool.append(rows)
    await spool.append(rows[100:300])  # overlapping: the same keys again
    historian = Historian(plant(), TagCache(), db, tmp_path / "spool", clock)
    await historian.start()
    try:
        await historian.flush()
        assert historian.status.spooled_batches == 0
        assert len(await samples(db, "T.Flow")) == 500
        await assert_rollups_match(db)
        # And a third time, after it is stored.
        await spool.append(rows)
        historian._spooled = await spool.count()  # as if found at start
        await historian.flush()
        assert len(await samples(db, "T.Flow")) == 500
        await assert_rollups_match(db)
    finally:
        await historian.stop()


@pytest.mark.req("HIS-004")
async def test_corrupt_spool_line_is_moved_aside(
    db: Database, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    t = to_us(clock.now())
    good_line = f'{{"tag":"T.Flow","t_us":{t},"value":1.5,"text":null,"quality":"good","status":0}}\n'
    (spool_dir / "00000000000000000001-1-00000000.jsonl").write_text(
        good_line + '{"tag": "T.Flow", "t_us": "oops"\nnot json at all\n', encoding="utf-8"
    )
    historian = Historian(plant(), TagCache(), db, spool_dir, clock)
    with caplog.at_level(logging.ERROR):
        await historian.start()
        await historian.flush()
    try:
        assert [r[2] for r in await samples(db, "T.Flow")] == [1.5]
        bad = spool_dir / "00000000000000000001-1-00000000.jsonl.corrupt"
        assert bad.read_text(encoding="utf-8").count("\n") == 2
        assert "00000000000000000001-1-00000000.jsonl line 2" in caplog.text
        assert "line 3" in caplog.text
        assert historian.status.spooled_batches == 0
    finally:
        await historian.stop()


@pytest.mark.req("HIS-004")
async def test_corrupt_spool_lines_are_set_aside_once_however_often_the_replay_fails(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    t = to_us(clock.now())
    good_line = f'{{"tag":"T.Flow","t_us":{t},"value":1.5,"text":null,"quality":"good","status":0}}\n'
    name = "00000000000000000001-1-00000000.jsonl"
    (spool_dir / name).write_text(
        '{"tag": "T.Flow", "t_us": "oops"\n' + good_line + "not json at all\n", encoding="utf-8"
    )
    historian = Historian(plant(), TagCache(), db, spool_dir, clock)
    await historian.start()
    try:
        await db.stop()
        for _ in range(3):
            await historian.flush()  # each replay fails: the database is away
        assert historian.status.spooled_batches == 1
        corrupt = spool_dir / f"{name}.corrupt"
        assert [json.loads(line) for line in corrupt.read_text(encoding="utf-8").splitlines()] == [
            {"line": 1, "text": '{"tag": "T.Flow", "t_us": "oops"'},
            {"line": 3, "text": "not json at all"},
        ]
        assert (spool_dir / name).read_text(encoding="utf-8") == good_line, "the batch keeps only its good lines"
        await db.start()
        await historian.flush()
        assert [r[2] for r in await samples(db, "T.Flow")] == [1.5]
        assert sorted(p.name for p in spool_dir.iterdir()) == [f"{name}.corrupt"]
        assert corrupt.read_text(encoding="utf-8").count("\n") == 2
    finally:
        await historian.stop()


@pytest.mark.postgres
@pytest.mark.req("HIS-004", "REC-017")
async def test_a_spooled_row_postgres_refuses_is_quarantined_and_the_replay_goes_on(
    clock: ManualClock, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    t = to_us(clock.now())
    # Written by an older version that did not cut text: 300 characters, the column holds 200.
    lines = [
        {"tag": "T.State", "t_us": t, "value": None, "text": "X" * 300, "quality": "good", "status": 0},
        {"tag": "T.State", "t_us": t + 1_000_000, "value": None, "text": "Running", "quality": "good", "status": 0},
    ]
    (spool_dir / "00000000000000000001-1-00000000.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8"
    )
    async with fresh_postgres_database() as url:
        db = Database(url)
        await db.start()
        quarantine = Quarantine(db, tmp_path / "quarantine.jsonl", clock)
        historian = Historian(plant(), TagCache(), db, spool_dir, clock, quarantine=quarantine)
        await historian.start()
        try:
            await historian.flush()
            assert [r[3] for r in await samples(db, "T.State")] == ["Running"]
            assert historian.status.spooled_batches == 0, "the replay is not stuck on the refused row"
            (aside,) = await quarantine.rows()
            assert aside.source == "samples"
            assert json.loads(aside.row)["text"] == "X" * 300
            assert quarantine.count == 1
            await assert_rollups_match(db)
        finally:
            await historian.stop()
            await db.stop()


@pytest.mark.req("HIS-003")
async def test_stop_writes_what_is_queued(db: Database, clock: ManualClock, tmp_path: Path) -> None:
    cache = TagCache()
    historian = Historian(plant(), cache, db, tmp_path / "spool", clock)
    await historian.start()
    cache.update([good("T.Flow", float(i), clock.advance(1)) for i in range(10)])
    await historian.stop()
    assert len(await samples(db, "T.Flow")) == 10
    assert cache.listener_count == 0


@pytest.mark.req("HIS-005")
async def test_prune_per_tag_retention(historian: Historian, db: Database, clock: ManualClock) -> None:
    cache = cache_of(historian)
    start = clock.now()
    # Samples every 6 hours for 3 days on a 1-day tag (T.Count) and a 30-day tag (T.Flow).
    for i in range(13):
        at = start + timedelta(hours=6 * i)
        cache.update([good("T.Count", i, at), good("T.Flow", float(i), at)])
    await historian.flush()
    clock.set(start + timedelta(days=3, minutes=30))
    removed = await historian.prune()
    cutoff = to_us(clock.now() - timedelta(days=1))
    count = await samples(db, "T.Count")
    assert removed == 13 - len(count)
    assert count
    assert all(r[1] >= cutoff - 60_000_000 for r in count)
    assert [r[2] for r in count] == [9.0, 10.0, 11.0, 12.0]  # the cut is 06:30 on day 3; 06:00 went
    assert len(await samples(db, "T.Flow")) == 13
    await assert_rollups_match(db)


@pytest.mark.req("HIS-003")
async def test_status_is_frozen(historian: Historian) -> None:
    status = historian.status
    with pytest.raises(AttributeError):
        status.queued = 5  # type: ignore[misc]


@pytest.mark.req("OPS-010")
async def test_sample_inserts_of_any_batch_size_use_ten_statement_shapes(db: Database, clock: ManualClock) -> None:
    """Each multi-row INSERT text is a prepared statement a connection keeps: a batch size of its own must not make a
    new one (before, 87 sizes made 87 shapes here and a long run filled the drivers' statement caches)."""
    shapes: set[str] = set()

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO samples"):
            shapes.add(statement)

    sizes = [*range(1, 80), 255, 256, 257, 511, 512, 513, 1000, 1500]
    base = to_us(clock.now())
    stored = 0
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        for n, size in enumerate(sizes):
            at = [base + (stored + i) * 1000 for i in range(size)]
            rows = [
                {"tag": "T.Flow", "t_us": t, "value": 1.0, "text": None, "quality": "good", "status": 0} for t in at
            ]
            async with db.session(write=True) as session:
                assert await write_batch(session, db.dialect, rows) == size, f"batch {n} of {size} rows"
                await session.commit()
            stored += size
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert len(shapes) <= 10, sorted(s.count("(") for s in shapes)
    assert len(await samples(db, "T.Flow")) == stored
    await assert_rollups_match(db)


def test_shaped_chunks_keep_order_and_sizes_of_powers_of_two() -> None:
    rows = list(range(1300))
    chunks = list(shaped_chunks(rows))
    assert [len(c) for c in chunks] == [512, 512, 256, 16, 4]
    assert [r for c in chunks for r in c] == rows
    assert list(shaped_chunks([])) == []

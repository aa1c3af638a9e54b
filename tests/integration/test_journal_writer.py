"""The alarm journal writer never dies: a row the database refuses is set aside (quarantine) and the rest go on;
pending rows are bounded (the oldest spill to disk) and a "journal behind" state shows while it lags."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.alarms.engine import AlarmEngine
from hmi.alarms.journal import AlarmJournal
from hmi.clock import ManualClock
from hmi.config import parse_config
from hmi.sources.server_alarms import ServerAlarm
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, QuarantinedRow
from hmi.store.quarantine import Quarantine
from hmi.tags import Quality, TagCache, TagState
from tests.conftest import fresh_postgres_database
from tests.waiting import until

PLANT = """
site: {name: J}
endpoints: [{name: plc, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: T1, endpoint: plc, node_id: "ns=2;s=T1", alarms: [{type: H, limit: 10, message: T1 high}]}
"""
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def server_alarm(source_name: str, condition: str, active: bool, at: datetime) -> ServerAlarm:
    return ServerAlarm(
        condition_id=f"ns=2;s={condition}",
        event_id=b"1",
        endpoint="plc",
        source_name=source_name,
        source_node="ns=2;s=Machine",
        condition_name="TemperatureHigh",
        message=f"{condition} high",
        severity=700,
        priority=2,
        active=active,
        acked=False,
        retain=True,
        time=at,
        received_at=at,
        comment="",
    )


async def stored(db: Database) -> list[tuple[str, str]]:
    async with db.session() as s:
        rows = (await s.execute(sa.select(AlarmEvent.tag, AlarmEvent.kind).order_by(AlarmEvent.id))).all()
    return [(tag, str(kind)) for tag, kind in rows]


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    async with fresh_postgres_database() as url:
        database = Database(url)
        await database.start()
        yield database
        await database.stop()


@pytest.mark.postgres
@pytest.mark.req("REC-017")
async def test_a_row_postgres_refuses_is_quarantined_and_the_writer_goes_on(pg: Database, tmp_path: Path) -> None:
    engine = AlarmEngine(parse_config(PLANT), TagCache(), ManualClock(T0))
    quarantine = Quarantine(pg, tmp_path / "quarantine.jsonl")
    journal = AlarmJournal(engine, pg, flush_s=0.01, quarantine=quarantine)
    seen: list[int] = []
    quarantine.subscribe(seen.append)
    journal.start()
    try:
        long_source = "Line1.Filler." + "S" * 237  # 250 characters; alarm_events.tag holds 200
        engine.apply_server(
            [(server_alarm("Filler", "A", True, T0), False), (server_alarm(long_source, "B", True, T0), False)]
        )
        await until(
            lambda: journal.pending == 0 and quarantine.count == 1,
            timeout=20,
            what="the refused row to be quarantined and the other written",
        )
        engine.apply_server([(server_alarm("Filler", "A", False, T0 + timedelta(seconds=1)), False)])
        engine.apply_server([(server_alarm("Filler", "C", True, T0 + timedelta(seconds=2)), False)])
        # Written after the refused row: the writer task survived it.
        await until(lambda: journal.pending == 0 and journal.written == 3)
        assert await stored(pg) == [("Filler", "activated"), ("Filler", "cleared"), ("Filler", "activated")]
        async with pg.session() as s:
            (aside,) = (await s.execute(sa.select(QuarantinedRow))).scalars().all()
        assert aside.source == "alarm_events"
        assert "StringDataRightTruncation" in aside.error or "too long" in aside.error
        assert json.loads(aside.row)["tag"] == long_source, "the whole row is kept for an engineer"
        assert (seen, journal.status.quarantined) == ([1], 1)
        assert await Quarantine(pg, tmp_path / "quarantine.jsonl").load() == 1, "counted again after a restart"
    finally:
        await journal.stop()


@pytest.mark.req("ALM-029")
async def test_pending_rows_are_bounded_spilled_to_disk_and_written_when_the_database_returns(
    db: Database, tmp_path: Path
) -> None:
    cache = TagCache()
    engine = AlarmEngine(parse_config(PLANT), cache, ManualClock(T0))
    engine.start()
    spill = tmp_path / "journal-spill"
    journal = AlarmJournal(engine, db, flush_s=0.01, max_pending=100, behind_at=10, spill_dir=spill)
    journal.start()
    try:
        assert not journal.behind
        await db.stop()
        for i in range(150):
            at = T0 + timedelta(seconds=2 * i)
            cache.update([TagState("T1", 20.0, 0, Quality.GOOD, at, at, at)])
            cache.update([TagState("T1", 1.0, 0, Quality.GOOD, at + timedelta(seconds=1), at, at)])
        assert journal.pending == 300
        await until(
            lambda: journal.status.pending <= 100 and journal.status.spilled >= 200,
            timeout=20,
            what="the oldest 200 rows to be spilled to disk",
        )
        status = journal.status
        assert (status.behind, status.pending + status.spilled) == (True, 300)
        assert status.unavailable_since is not None
        assert list(spill.glob("*.jsonl")), "the oldest rows wait on disk, not in memory"
        await db.start()
        await until(
            lambda: journal.pending == 0 and not journal.behind,
            timeout=20,
            what="every row to be written once the database is back",
        )
        rows = await stored(db)
        assert len(rows) == 300
        assert [kind for _tag, kind in rows].count("activated") == 150
        assert list(spill.glob("*.jsonl")) == []
    finally:
        await journal.stop()
        engine.stop()

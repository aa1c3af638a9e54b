"""The demo's simulated past: recorded like the live historian would, only into an empty history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hmi.clock import ManualClock
from hmi.config import load_config
from hmi.oee.service import OeeService
from hmi.records.audit import AuditLog
from hmi.simulator import demo_config_path
from hmi.simulator.backfill import Backfill, history_is_empty
from hmi.store.database import Database
from hmi.store.models import Sample, SampleRollup


@pytest.mark.req("OPS-007")
async def test_backfill_records_states_counters_and_rollups(db: Database, audit: AuditLog) -> None:
    plant = load_config(demo_config_path())
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert await history_is_empty(db)
    written = await Backfill(plant, hours=0.5, now=now, seed=5).run(db)
    assert written > 10_000
    assert not await history_is_empty(db)
    async with db.session() as session:
        first, last = (await session.execute(sa.select(sa.func.min(Sample.t_us), sa.func.max(Sample.t_us)))).one()
        rolled = (await session.execute(sa.select(sa.func.sum(SampleRollup.n + SampleRollup.n_bad)))).scalar_one()
        numeric = (await session.execute(sa.select(sa.func.count()).where(Sample.text.is_(None)))).scalar_one()
    start_us = int((now - timedelta(minutes=30)).timestamp() * 1_000_000)
    assert first == start_us
    assert last < int(now.timestamp() * 1_000_000)  # the live historian takes over at `now`
    assert rolled == numeric  # every numeric sample (good or not) is in a minute rollup
    # The model's states and counters make a line report with real numbers.
    oee = OeeService(plant, db, audit, ManualClock(now))
    report = await oee.report("Line1", now - timedelta(minutes=30), now)
    assert report.good > 0
    assert report.unknown_s == 0
    assert report.segments


@pytest.mark.req("OEE-006", "OPS-007")
async def test_demo_line2_today_counts_production_of_its_unscheduled_night_apart(db: Database, audit: AuditLog) -> None:
    # Line2 is scheduled Early and Late only; the demo model runs it through the night too. 23:00 in Berlin:
    # the back-filled two hours are the last of the late shift and the first of the night.
    plant = load_config(demo_config_path())
    now = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    await Backfill(plant, hours=2, now=now, seed=5).run(db)
    oee = OeeService(plant, db, audit, ManualClock(now))
    report = await oee.report("Line2", *oee.windows(now)["day"])  # "Today"
    assert report.oee is not None
    # Only the late shift's production over the late shift's recorded time: no 200 % performance.
    assert report.oee.performance is not None
    assert report.oee.performance <= 1.0
    assert report.oee.oee is not None
    assert report.oee.oee <= 1.0
    assert report.unscheduled_good > 0
    # The day before the back-fill was not recorded: it stays out of the factors, its share is said.
    assert report.recorded_share is not None
    assert report.recorded_share < 0.2

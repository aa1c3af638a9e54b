"""Alarm journal and acknowledgements on a real database (SQLite file and the local PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.alarms.journal import AlarmJournal
from hmi.alarms.service import AlarmService
from hmi.alarms.states import AlarmState
from hmi.config import parse_config
from hmi.records.audit import AuditLog
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import Acknowledgement, AlarmEvent
from tests.conftest import PG_ADMIN_URL, FedEngine, fresh_postgres_database, good, sign_in
from tests.waiting import until

N_ALARM_TAGS = 50
PLANT = """
site: {{name: P}}
endpoints: [{{name: e, url: "opc.tcp://127.0.0.1:4840"}}]
areas:
  - name: A
    lines:
      - name: L
        tags:
{tags}
"""


def plant_with(n: int):
    tags = "\n".join(
        f"          - {{name: T{i}, endpoint: e, node_id: 'ns=2;s=T{i}', "
        f"alarms: [{{type: H, limit: 10, priority: {1 + i % 4}, message: 'T{i} high'}}]}}"
        for i in range(n)
    )
    return parse_config(PLANT.format(tags=tags))


T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Parts(FedEngine):
    def __init__(self, db: Database, n: int = N_ALARM_TAGS) -> None:
        super().__init__(plant_with(n))
        self.db = db
        self.audit = AuditLog(db)
        self.users = UserService(db, self.audit)
        self.service = AlarmService(self.engine, db, self.audit)
        self.journal = AlarmJournal(self.engine, db, flush_s=0.05)
        self.journal.start()

    async def person(self, name: str, role: Role) -> ActionContext:
        return await sign_in(self.users, name, role)

    async def journaled(self, kind: str) -> list[AlarmEvent]:
        async with self.db.session() as s:
            return list((await s.execute(sa.select(AlarmEvent).where(AlarmEvent.kind == kind))).scalars())


@pytest.mark.req("ALM-020", "ALM-024")
async def test_activations_and_clears_are_journaled_with_source_time(db: Database) -> None:
    parts = Parts(db)
    parts.cache.update([good(f"T{i}", 20.0, T0 + timedelta(milliseconds=i)) for i in range(N_ALARM_TAGS)])
    parts.cache.update([good("T0", 1.0, T0 + timedelta(seconds=5))])
    await parts.journal.stop()
    activated = await parts.journaled("activated")
    assert len(activated) == N_ALARM_TAGS
    assert {e.source_time for e in activated} == {T0 + timedelta(milliseconds=i) for i in range(N_ALARM_TAGS)}
    cleared = await parts.journaled("cleared")
    assert [(e.alarm_id, e.state, e.source_time) for e in cleared] == [("T0.H", "rtn_unack", T0 + timedelta(seconds=5))]


@pytest.mark.req("ALM-021")
async def test_acknowledge_is_stored_with_person_comment_and_audit(db: Database) -> None:
    parts = Parts(db)
    olga = await parts.person("olga", Role.OPERATOR)
    parts.cache.update([good("T1", 20.0, T0)])
    result = await parts.service.acknowledge(olga, ["T1.H", "T2.H"], "  valve checked  ")
    assert [c.alarm.id for c in result.changes] == ["T1.H"]
    assert result.skipped == ["T2.H"]
    assert parts.engine.get("T1.H").state is AlarmState.ACTIVE_ACK  # type: ignore[union-attr]
    async with db.session() as s:
        acks = list((await s.execute(sa.select(Acknowledgement))).scalars())
    assert [(a.alarm_id, a.username, a.comment, a.activation_source_time) for a in acks] == [
        ("T1.H", "olga", "valve checked", T0)
    ]
    audit = await parts.audit.query(action="alarm.acknowledge")
    assert audit[0].action_id == acks[0].action_id == olga.id
    assert await parts.audit.verify() is None
    await parts.journal.stop()


@pytest.mark.req("ALM-023")
async def test_manager_is_refused_and_the_refusal_audited(db: Database) -> None:
    parts = Parts(db)
    max_ = await parts.person("max", Role.MANAGER)
    parts.cache.update([good("T1", 20.0, T0)])
    with pytest.raises(PermissionDenied):
        await parts.service.acknowledge(max_, ["T1.H"])
    assert parts.engine.get("T1.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
    assert [e.username for e in await parts.audit.query(action="alarm.acknowledge.denied")] == ["max"]
    await parts.journal.stop()


@pytest.mark.req("ALM-024")
async def test_burst_of_activations_is_journaled_completely(db: Database) -> None:
    parts = Parts(db, n=2000)
    parts.cache.update([good(f"T{i}", 20.0, T0) for i in range(2000)])
    await until(lambda: parts.journal.written == 2000, timeout=20, what="all 2000 activations to be written")
    assert len(await parts.journaled("activated")) == 2000
    await parts.journal.stop()


@pytest.mark.postgres
@pytest.mark.req("ALM-029")
async def test_database_down_loses_nothing_and_saves_nothing_falsely() -> None:
    """PostgreSQL goes away (its database renamed under us): the ack fails clearly, the alarm stays
    unacknowledged, journal rows wait in memory and are all written once the database is back."""
    async with fresh_postgres_database() as url:
        db = Database(url, connect_timeout=2)
        await db.start()
        parts = Parts(db)
        olga = await parts.person("olga", Role.OPERATOR)
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            await admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')
            parts.cache.update([good(f"T{i}", 20.0, T0) for i in range(10)])
            with pytest.raises(DatabaseUnavailable, match="not reachable"):
                await parts.service.acknowledge(olga, ["T1.H"], "while the database is down")
            assert parts.engine.get("T1.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
            # Fence: the writer has tried (and failed) to write; then nothing may have been written or dropped.
            await until(lambda: parts.journal.last_error is not None, what="the journal writer to fail a write")
            assert parts.journal.pending == 10
        finally:
            await admin.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')
            await admin.close()
        await until(lambda: parts.journal.written == 10, timeout=20, what="the 10 waiting rows to be written")
        assert len(await parts.journaled("activated")) == 10
        await parts.journal.stop()
        await db.stop()

"""Alarm commands on a real database (SQLite file and the local PostgreSQL): shelve, unshelve, out of service,
return to service and reset, each permission-checked, with reason rules, journal rows and an audit row in one
transaction (ISA-18.2 / IEC 62682 shelving and out of service; 21 CFR 11.10(e), 11.10(g)). Time is a ManualClock
shared by engine, service and audit log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.alarms.journal import AlarmJournal
from hmi.alarms.service import AlarmService
from hmi.alarms.states import AlarmState
from hmi.clock import ManualClock
from hmi.config import parse_config
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, AuditEntry
from tests.conftest import FedEngine, sign_in

PLANT = """
site: {name: Commands}
endpoints: [{name: e, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: T1, endpoint: e, node_id: "ns=2;s=T1", alarms: [{type: H, limit: 10, priority: 2, message: T1 high}]}
          - {name: T2, endpoint: e, node_id: "ns=2;s=T2", alarms: [{type: H, limit: 10, priority: 3, message: T2 high}]}
          - name: Trip
            endpoint: e
            node_id: "ns=2;s=Trip"
            data_type: bool
            alarms: [{type: discrete, value: true, latching: true, priority: 1, message: Drive tripped}]
"""


class Parts(FedEngine):
    """Engine, service and journal writer on `db`, all on the test's ManualClock."""

    clock: ManualClock

    def __init__(self, db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> None:
        super().__init__(parse_config(PLANT), clock)
        self.db = db
        self.audit = audit
        self.users = users
        self.service = AlarmService(
            self.engine, db, audit, clock, max_shelve=timedelta(hours=self.plant.alarm_policy.max_shelve_h)
        )
        # The writer's own batching never fires during a test: journal_rows() flushes explicitly, so two flushes
        # never run at once.
        self.journal = AlarmJournal(self.engine, db, clock, flush_s=3600)
        self.journal.start()

    async def person(self, name: str, role: Role) -> ActionContext:
        return await sign_in(self.users, name, role)

    def state(self, alarm_id: str) -> AlarmState:
        alarm = self.engine.get(alarm_id)
        return AlarmState.NORMAL if alarm is None else alarm.state

    async def journal_rows(self, **where: object) -> list[AlarmEvent]:
        await self.journal.flush()
        # Rows come from two writers (the service at once, the journal writer in batches): order by event time.
        query = sa.select(AlarmEvent).order_by(AlarmEvent.source_time, AlarmEvent.id)  # type: ignore[arg-type]
        for key, value in where.items():
            query = query.where(getattr(AlarmEvent, key) == value)
        async with self.db.session() as s:
            return list((await s.execute(query)).scalars())

    async def audit_rows(self, action_id: str) -> list[AuditEntry]:
        query = sa.select(AuditEntry).where(AuditEntry.action_id == action_id).order_by(AuditEntry.id)  # type: ignore[arg-type]
        async with self.db.session() as s:
            return list((await s.execute(query)).scalars())

    async def check_stored(
        self, ctx: ActionContext, action: str, kinds: Sequence[tuple[str, str, str]], reason: str | None
    ) -> AuditEntry:
        """The command `ctx` made left exactly these journal rows (kind, alarm, state after) and one audit row,
        all under ctx.id, and the audit chain is intact."""
        rows = await self.journal_rows(action_id=ctx.id)
        assert [(r.kind, r.alarm_id, r.state) for r in rows] == list(kinds)
        assert {(r.username, r.user_id, r.comment, r.server_time) for r in rows} == {
            (ctx.username, ctx.user_id, reason, self.clock())
        }
        (entry,) = await self.audit_rows(ctx.id)
        assert (entry.action, entry.username, entry.user_id, entry.reason, entry.at) == (
            action,
            ctx.username,
            ctx.user_id,
            reason,
            self.clock(),
        )
        assert await self.audit.verify() is None
        return entry


def act(ctx: ActionContext) -> ActionContext:
    """The same person for one more command: its records and audit row share this context's id."""
    return replace(ctx, id=uuid.uuid4().hex)


@pytest.fixture
async def parts(db: Database, audit: AuditLog, users: UserService, clock: ManualClock):
    parts = Parts(db, audit, users, clock)
    yield parts
    await parts.journal.stop()


# ------------------------------------------------------------------------------------------------- shelving


@pytest.mark.req("ALM-007")
async def test_a_lead_shelves_with_reason_and_duration(parts: Parts) -> None:
    lena = await parts.person("lena", Role.LEAD)
    parts.put("T1", 20.0)
    ctx = act(lena)
    result = await parts.service.shelve(ctx, ["T1.H"], "  sensor being replaced  ", timedelta(hours=2))
    assert [(c.kind, c.alarm.id, c.action_id) for c in result.changes] == [("shelved", "T1.H", ctx.id)]
    alarm = parts.engine.get("T1.H")
    assert alarm is not None
    assert (alarm.state, alarm.mode_by, alarm.mode_reason, alarm.shelved_until) == (
        AlarmState.SHELVED,
        "lena",
        "sensor being replaced",
        parts.clock() + timedelta(hours=2),
    )
    assert parts.engine.active() == []
    entry = await parts.check_stored(ctx, "alarm.shelve", [("shelved", "T1.H", "shelved")], "sensor being replaced")
    assert (entry.old_value, entry.new_value) == ("T1.H: active_unack", "T1.H: shelved")
    assert entry.detail == "shelved for 2:00:00"


@pytest.mark.req("ALM-007")
async def test_an_operator_may_not_shelve_and_the_refusal_is_audited(parts: Parts) -> None:
    olga = await parts.person("olga", Role.OPERATOR)
    parts.put("T1", 20.0)
    ctx = act(olga)
    with pytest.raises(PermissionDenied):
        await parts.service.shelve(ctx, ["T1.H"], "too noisy", timedelta(hours=1))
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    (denied,) = await parts.audit_rows(ctx.id)
    assert (denied.action, denied.username, denied.object_id) == ("alarm.shelve.denied", "olga", "T1.H")
    assert await parts.journal_rows(action_id=ctx.id) == []
    assert await parts.audit.verify() is None


@pytest.mark.parametrize("reason", ["", "   ", None])
@pytest.mark.req("ALM-007")
async def test_shelving_needs_a_reason(parts: Parts, reason: str | None) -> None:
    lena = await parts.person("lena", Role.LEAD)
    parts.put("T1", 20.0)
    ctx = act(lena)
    with pytest.raises(ValueError, match="reason"):
        await parts.service.shelve(ctx, ["T1.H"], reason, timedelta(hours=1))  # type: ignore[arg-type]
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    assert await parts.journal_rows(action_id=ctx.id) == []
    assert await parts.audit_rows(ctx.id) == []


@pytest.mark.parametrize(
    "duration", [timedelta(hours=8, seconds=1), timedelta(days=2), timedelta(0), timedelta(seconds=-5)]
)
@pytest.mark.req("ALM-007")
async def test_shelving_longer_than_the_maximum_or_not_positive_is_refused(parts: Parts, duration: timedelta) -> None:
    lena = await parts.person("lena", Role.LEAD)
    parts.put("T1", 20.0)
    assert parts.service.max_shelve == timedelta(hours=8)
    ctx = act(lena)
    with pytest.raises(ValueError, match="at most 8 h"):
        await parts.service.shelve(ctx, ["T1.H"], "maintenance", duration)
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    assert await parts.audit_rows(ctx.id) == []


@pytest.mark.req("ALM-007")
async def test_the_maximum_itself_and_one_shot_are_allowed(parts: Parts) -> None:
    lena = await parts.person("lena", Role.LEAD)
    parts.put("T1", 20.0)
    parts.put("T2", 20.0)
    parts.clock.advance(1)
    await parts.service.shelve(act(lena), ["T1.H"], "maintenance", timedelta(hours=8))
    assert parts.engine.get("T1.H").shelved_until == parts.clock() + timedelta(hours=8)  # type: ignore[union-attr]
    one_shot = act(lena)
    await parts.service.shelve(one_shot, ["T2.H"], "until it clears", None)
    alarm = parts.engine.get("T2.H")
    assert alarm is not None
    assert (alarm.state, alarm.shelved_until) == (AlarmState.SHELVED, None)
    entry = await parts.check_stored(one_shot, "alarm.shelve", [("shelved", "T2.H", "shelved")], "until it clears")
    assert entry.detail == "shelved one-shot (until it clears)"
    # The one-shot shelving ends with the clear; the writer journals that (nobody's command).
    parts.clock.advance(60)
    parts.put("T2", 1.0)
    rows = await parts.journal_rows(alarm_id="T2.H")
    assert [(r.kind, r.state, r.action_id) for r in rows] == [
        ("activated", "active_unack", None),
        ("shelved", "shelved", one_shot.id),
        ("cleared", "normal", None),
        ("unshelved", "normal", None),
    ]


@pytest.mark.req("ALM-008")
async def test_unshelve_early(parts: Parts) -> None:
    lena = await parts.person("lena", Role.LEAD)
    parts.put("T1", 20.0)
    await parts.service.shelve(act(lena), ["T1.H"], "maintenance", timedelta(hours=1))
    parts.clock.advance(600)
    ctx = act(lena)
    result = await parts.service.unshelve(ctx, ["T1.H", "T2.H"], "done early")
    assert result.skipped == ["T2.H"]
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    await parts.check_stored(ctx, "alarm.unshelve", [("unshelved", "T1.H", "active_unack")], "done early")
    olga = await parts.person("olga", Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        await parts.service.unshelve(olga, ["T1.H"])
    assert [e.username for e in await parts.audit.query(action="alarm.unshelve.denied")] == ["olga"]


@pytest.mark.req("ALM-008")
async def test_a_shelving_that_runs_out_is_journaled_by_the_writer(parts: Parts) -> None:
    lena = await parts.person("lena", Role.LEAD)
    parts.put("T1", 20.0)
    parts.clock.advance(1)
    ctx = act(lena)
    await parts.service.shelve(ctx, ["T1.H"], "maintenance", timedelta(hours=1))
    parts.clock.advance(3599)
    assert parts.engine.tick() == []
    parts.clock.advance(1)
    (change,) = parts.engine.tick()
    assert (change.kind, change.action_id) == ("unshelved", None)
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    rows = await parts.journal_rows(alarm_id="T1.H")
    assert [(r.kind, r.state, r.action_id, r.username, r.user_id) for r in rows] == [
        ("activated", "active_unack", None, None, None),
        ("shelved", "shelved", ctx.id, "lena", lena.user_id),
        ("unshelved", "active_unack", None, None, None),
    ]
    assert rows[-1].source_time == rows[-1].server_time == parts.clock()
    assert rows[-1].comment == "shelving time ran out"
    # Nobody acted: no audit row besides the shelving's, and the chain holds.
    assert [e.action for e in await parts.audit.query(action="alarm.shelve")] == ["alarm.shelve"]
    assert await parts.audit.verify() is None


# ------------------------------------------------------------------------------------------ out of service


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.LEAD])
@pytest.mark.req("ALM-009")
async def test_out_of_service_needs_more_than_shelving(parts: Parts, role: Role) -> None:
    person = await parts.person("pat", role)
    parts.put("T1", 20.0)
    ctx = act(person)
    with pytest.raises(PermissionDenied):
        await parts.service.remove_from_service(ctx, ["T1.H"], "WO-4711")
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    (denied,) = await parts.audit_rows(ctx.id)
    assert (denied.action, denied.username) == ("alarm.out_of_service.denied", "pat")
    assert await parts.audit.verify() is None


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
@pytest.mark.req("ALM-009")
async def test_out_of_service_and_return_to_service(parts: Parts, role: Role) -> None:
    boss = await parts.person("max", role)
    parts.put("T1", 20.0)
    with pytest.raises(ValueError, match="reason"):
        await parts.service.remove_from_service(act(boss), ["T1.H"], "  ")
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    parts.clock.advance(5)
    out = act(boss)
    await parts.service.remove_from_service(out, ["T1.H"], "WO-4711 transmitter swap")
    alarm = parts.engine.get("T1.H")
    assert alarm is not None
    assert (alarm.state, alarm.mode_by, alarm.mode_at, alarm.mode_reason) == (
        AlarmState.OUT_OF_SERVICE,
        "max",
        parts.clock(),
        "WO-4711 transmitter swap",
    )
    assert parts.engine.in_state(AlarmState.OUT_OF_SERVICE) == [alarm]
    await parts.check_stored(
        out, "alarm.out_of_service", [("out_of_service", "T1.H", "out_of_service")], "WO-4711 transmitter swap"
    )
    # Time does not end it; the process goes on underneath.
    parts.clock.advance(86_400)
    parts.engine.tick()
    parts.put("T1", 30.0)
    assert parts.state("T1.H") is AlarmState.OUT_OF_SERVICE
    parts.clock.advance(5)
    back = act(boss)
    await parts.service.return_to_service(back, ["T1.H"], "transmitter swapped")
    assert parts.state("T1.H") is AlarmState.ACTIVE_UNACK
    await parts.check_stored(
        back, "alarm.return_to_service", [("returned_to_service", "T1.H", "active_unack")], "transmitter swapped"
    )
    lena = await parts.person("lena", Role.LEAD)
    with pytest.raises(PermissionDenied):
        await parts.service.return_to_service(lena, ["T1.H"])


@pytest.mark.req("ALM-009")
async def test_out_of_service_takes_over_a_shelving(parts: Parts) -> None:
    lena = await parts.person("lena", Role.LEAD)
    max_ = await parts.person("max", Role.MANAGER)
    parts.put("T1", 20.0)
    await parts.service.shelve(act(lena), ["T1.H"], "noisy", timedelta(hours=1))
    await parts.service.remove_from_service(act(max_), ["T1.H"], "WO-1")
    parts.clock.advance(7200)
    assert parts.engine.tick() == []  # the shelving is gone, nothing runs out
    assert parts.state("T1.H") is AlarmState.OUT_OF_SERVICE
    # A lead cannot shelve it meanwhile either: nothing stored, nothing audited as done.
    ctx = act(lena)
    result = await parts.service.shelve(ctx, ["T1.H"], "again", timedelta(hours=1))
    assert (result.changes, result.skipped) == ([], ["T1.H"])
    assert await parts.audit_rows(ctx.id) == []


# --------------------------------------------------------------------------------------------------- reset


@pytest.mark.req("ALM-004")
async def test_reset_of_a_latched_alarm_after_acknowledge(parts: Parts) -> None:
    olga = await parts.person("olga", Role.OPERATOR)
    lena = await parts.person("lena", Role.LEAD)
    parts.put("Trip", True)
    parts.clock.advance(10)
    parts.put("Trip", False)
    assert parts.state("Trip.discrete") is AlarmState.LATCHED_UNACK
    early = act(lena)
    with pytest.raises(ValueError, match="acknowledge"):
        await parts.service.reset(early, ["Trip.discrete"])
    assert parts.state("Trip.discrete") is AlarmState.LATCHED_UNACK
    assert await parts.audit_rows(early.id) == []
    with pytest.raises(PermissionDenied):
        await parts.service.reset(olga, ["Trip.discrete"])
    assert [e.username for e in await parts.audit.query(action="alarm.reset.denied")] == ["olga"]
    await parts.service.acknowledge(act(olga), ["Trip.discrete"], "drive checked")
    assert parts.state("Trip.discrete") is AlarmState.LATCHED_ACK
    parts.clock.advance(60)
    ctx = act(lena)
    result = await parts.service.reset(ctx, ["Trip.discrete"], "drive fault cleared")
    assert [(c.kind, c.alarm.state) for c in result.changes] == [("reset", AlarmState.NORMAL)]
    assert parts.engine.get("Trip.discrete") is None
    assert parts.engine.active() == []
    await parts.check_stored(ctx, "alarm.reset", [("reset", "Trip.discrete", "normal")], "drive fault cleared")


@pytest.mark.req("ALM-004")
async def test_reset_of_an_alarm_still_active_does_nothing(parts: Parts) -> None:
    olga = await parts.person("olga", Role.OPERATOR)
    lena = await parts.person("lena", Role.LEAD)
    parts.put("Trip", True)
    await parts.service.acknowledge(act(olga), ["Trip.discrete"])
    ctx = act(lena)
    result = await parts.service.reset(ctx, ["Trip.discrete"])
    assert (result.changes, result.skipped) == ([], ["Trip.discrete"])
    assert parts.state("Trip.discrete") is AlarmState.ACTIVE_ACK
    assert await parts.audit_rows(ctx.id) == []


# ------------------------------------------------------------------------------------------- the whole trail


@pytest.mark.req("ALM-021", "ALM-024")
async def test_every_command_is_journaled_and_audited_under_its_own_action_id(parts: Parts) -> None:
    olga = await parts.person("olga", Role.OPERATOR)
    lena = await parts.person("lena", Role.LEAD)
    max_ = await parts.person("max", Role.MANAGER)
    parts.put("T1", 20.0)
    parts.put("Trip", True)
    commands = [
        (act(lena), "alarm.shelve", lambda c: parts.service.shelve(c, ["T1.H"], "r1", timedelta(minutes=30))),
        (act(lena), "alarm.unshelve", lambda c: parts.service.unshelve(c, ["T1.H"], "r2")),
        (act(max_), "alarm.out_of_service", lambda c: parts.service.remove_from_service(c, ["T1.H"], "r3")),
        (act(max_), "alarm.return_to_service", lambda c: parts.service.return_to_service(c, ["T1.H"], "r4")),
        (act(olga), "alarm.acknowledge", lambda c: parts.service.acknowledge(c, ["Trip.discrete"], "r5")),
    ]
    for ctx, action, run in commands:
        parts.clock.advance(1)
        result = await run(ctx)
        assert len(result.changes) == 1
        (entry,) = await parts.audit_rows(ctx.id)
        assert (entry.action, entry.username) == (action, ctx.username)
        (row,) = await parts.journal_rows(action_id=ctx.id)
        assert (row.username, row.server_time, row.comment) == (ctx.username, parts.clock(), entry.reason)
    parts.clock.advance(1)
    parts.put("Trip", False)
    reset = act(lena)
    await parts.service.reset(reset, ["Trip.discrete"], "r6")
    kinds = [r.kind for r in await parts.journal_rows() if r.action_id is not None]
    assert kinds == ["shelved", "unshelved", "out_of_service", "returned_to_service", "acknowledged", "reset"]
    assert await parts.audit.verify() is None

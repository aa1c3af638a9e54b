"""Server alarms (OPC UA Alarms & Conditions) against a real asyncua server: one alarm per condition whatever its
node id, names a person reads, and acknowledgements that go to the server first, one by one, holding no lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from asyncua import ua

from hmi.access.auth import UserService
from hmi.access.roles import Role
from hmi.alarms.engine import Alarm, AlarmEngine, server_alarm_id
from hmi.alarms.journal import AlarmJournal
from hmi.alarms.service import AlarmService
from hmi.alarms.states import AlarmState
from hmi.clock import ManualClock
from hmi.config import Endpoint, parse_config
from hmi.records.audit import AuditLog, system_context
from hmi.sources import StatusBoard
from hmi.sources.opcua import OpcUaSource
from hmi.sources.server_alarms import ConditionMonitor
from hmi.store.database import Database
from hmi.store.models import Acknowledgement, AlarmEvent, AuditEntry
from hmi.tags import TagCache
from screens.alarms import row_of
from tests.conftest import sign_in
from tests.opcua_server import ConditionsServer, free_port
from tests.waiting import until

SLASH, UNDERSCORE, FILLER = "Line1/EStop", "Line1_EStop", "Filler/TemperatureHigh"
SPECS = [
    (SLASH, "2:Line1", "2:EmergencyStop", "Emergency stop pressed at the infeed"),
    (UNDERSCORE, "2:Line1", "2:EmergencyStop", "Emergency stop pressed at the outfeed"),
    (FILLER, "2:Filler", "2:TemperatureHigh", "Filler bowl above 85 °C"),
]
PLANT = """
site: {name: ServerAlarms}
endpoints: [{name: plc, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: T1, endpoint: plc, node_id: "ns=2;s=T1"}
"""


def ns2(name: str) -> str:
    return f"ns=2;s={name}"


def alarm_id(name: str) -> str:
    return server_alarm_id("plc", ns2(name))


@pytest.fixture
async def server() -> AsyncIterator[ConditionsServer]:
    srv = ConditionsServer(free_port(), SPECS)
    await srv.start()
    yield srv
    await srv.stop()


class Hmi:
    """An alarm engine fed by a ConditionMonitor on a real session to `server`."""

    def __init__(self, url: str, clock: ManualClock) -> None:
        self.engine = AlarmEngine(parse_config(PLANT), TagCache(), clock)
        self.monitor = ConditionMonitor("plc", clock=clock, publishing_interval_ms=100)
        self.monitor.subscribe(self.engine.apply_server)
        endpoint = Endpoint(name="plc", url=url, publishing_interval_ms=100, stale_after_s=3)
        self.source = OpcUaSource(
            endpoint, [], TagCache(), StatusBoard(), reconnect_max_delay=1.0, session_hooks=[self.monitor]
        )

    async def start(self) -> None:
        await self.monitor.start()
        await self.source.start()
        await until(lambda: not self.monitor.stale)

    async def stop(self) -> None:
        await self.monitor.stop()
        await self.source.stop()

    def alarm(self, name: str) -> Alarm | None:
        return self.engine.get(alarm_id(name))


@pytest.fixture
async def hmi(server: ConditionsServer, clock: ManualClock) -> AsyncIterator[Hmi]:
    connected = Hmi(server.url, clock)
    await connected.start()
    yield connected
    await connected.stop()


@pytest.mark.req("OPC-011")
def test_ids_are_unique_stable_bounded_and_keep_a_readable_prefix() -> None:
    slash, underscore = server_alarm_id("plc", ns2(SLASH)), server_alarm_id("plc", ns2(UNDERSCORE))
    assert slash != underscore
    assert slash == server_alarm_id("plc", ns2(SLASH)), "the same condition always gets the same id"
    assert slash.startswith("ua.plc.ns_2_s_Line1_EStop~"), "ids recorded before are its readable prefix"
    huge = server_alarm_id("e" * 120, "ns=2;s=" + "x" * 5000)
    assert len(huge) <= 141
    assert huge != server_alarm_id("e" * 120, "ns=2;s=" + "x" * 4999), "cut short, still unique"
    assert server_alarm_id("a", "ns=2;s=b.c") != server_alarm_id("a.b", "ns=2;s=c")
    odd = server_alarm_id("plc", 'ns=2;s=Linie 1/Nöt-Aus;"x"')
    assert all(ch.isascii() and (ch.isalnum() or ch in "._-~") for ch in odd), "URL-safe"


@pytest.mark.req("OPC-011")
async def test_two_conditions_whose_ids_differ_only_in_punctuation_are_two_alarms(
    server: ConditionsServer, hmi: Hmi
) -> None:
    await server.set_active(SLASH, True)
    await server.set_active(UNDERSCORE, True)
    await until(lambda: hmi.alarm(SLASH) is not None and hmi.alarm(UNDERSCORE) is not None)
    assert alarm_id(SLASH) != alarm_id(UNDERSCORE)

    await server.set_active(SLASH, False)
    await until(lambda: ns2(SLASH) in hmi.monitor.conditions and not hmi.monitor.conditions[ns2(SLASH)].active)
    await until(lambda: (a := hmi.alarm(SLASH)) is not None and a.state is AlarmState.RTN_UNACK)
    other = hmi.alarm(UNDERSCORE)
    assert other is not None, "clearing one emergency stop leaves the other listed"
    assert (other.state, other.message) == (AlarmState.ACTIVE_UNACK, "Emergency stop pressed at the outfeed")


@pytest.mark.req("OPC-011")
async def test_a_server_alarm_is_named_by_source_and_condition_without_namespace_index(
    server: ConditionsServer, hmi: Hmi
) -> None:
    await server.set_active(FILLER, True)
    await until(lambda: hmi.alarm(FILLER) is not None)
    alarm = hmi.alarm(FILLER)
    assert alarm is not None
    assert alarm.server is not None
    assert alarm.name == "Filler · TemperatureHigh"
    assert alarm.message == "Filler bowl above 85 °C", "the server's message beside the name"
    assert (alarm.server.source_label, alarm.server.condition_label) == ("Filler", "TemperatureHigh")
    assert alarm.server.source_name == "2:Filler", "the raw SourceName stays available"
    row = row_of(alarm, ZoneInfo("UTC"))
    assert (row["tag"], row["message"]) == ("Filler · TemperatureHigh", "Filler bowl above 85 °C"), "the list's row"


class Commands:
    """The alarm service and the journal writer on `db`, over `hmi`'s engine and monitor."""

    def __init__(self, hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock) -> None:
        self.db = db
        self.service = AlarmService(hmi.engine, db, audit, clock, conditions={"plc": hmi.monitor})
        self.journal = AlarmJournal(hmi.engine, db, clock, flush_s=3600)
        self.journal.start()

    async def rows(self) -> tuple[list[tuple[str, str]], list[tuple[str, str, str | None]]]:
        await self.journal.flush()
        async with self.db.session() as s:
            acks = [(a.alarm_id, a.username) for a in (await s.execute(sa.select(Acknowledgement))).scalars()]
            journal = [
                (e.alarm_id, str(e.kind), e.username)
                for e in (await s.execute(sa.select(AlarmEvent).where(AlarmEvent.kind == "acknowledged"))).scalars()
            ]
        return acks, journal


@pytest.fixture
async def commands(hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock) -> AsyncIterator[Commands]:
    parts = Commands(hmi, db, audit, clock)
    yield parts
    await parts.journal.stop()


async def raise_all(server: ConditionsServer, hmi: Hmi) -> None:
    for name, *_ in SPECS:
        await server.set_active(name, True)
    await until(lambda: all((a := hmi.alarm(n)) is not None and a.state is AlarmState.ACTIVE_UNACK for n, *_ in SPECS))


@pytest.mark.req("OPC-010")
async def test_when_the_kth_server_alarm_is_refused_the_first_ones_are_recorded_and_the_rest_reported(
    server: ConditionsServer, hmi: Hmi, commands: Commands, users: UserService
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    await raise_all(server, hmi)
    assert server.conditions is not None
    server.conditions.refuse[ns2(UNDERSCORE)] = ua.StatusCodes.BadEventIdUnknown
    ids = [alarm_id(SLASH), alarm_id(UNDERSCORE), alarm_id(FILLER)]

    result = await commands.service.acknowledge(olga.for_action(), ids, "checked on site")

    assert [c.alarm.id for c in result.changes] == [alarm_id(SLASH)]
    assert [(f.alarm_id, f.status, f.tried) for f in result.failed] == [
        (alarm_id(UNDERSCORE), "BadEventIdUnknown", True),
        (alarm_id(FILLER), "BadEventIdUnknown", False),
    ]
    assert result.failed[0].name == "Line1 · EmergencyStop"
    assert server.conditions.calls == [ns2(SLASH), ns2(UNDERSCORE)], "one by one, nothing sent after a refusal"
    assert server.conditions.state(SLASH).acked
    assert not server.conditions.state(FILLER).acked
    await until(lambda: (a := hmi.alarm(SLASH)) is not None and a.state is AlarmState.ACTIVE_ACK)
    acked = hmi.alarm(SLASH)
    assert acked is not None
    assert acked.acked_by == "olga"
    assert [hmi.alarm(n).state for n in (UNDERSCORE, FILLER)] == [AlarmState.ACTIVE_UNACK] * 2  # type: ignore[union-attr]
    acks, journal = await commands.rows()
    assert acks == [(alarm_id(SLASH), "olga")]
    assert journal == [(alarm_id(SLASH), "acknowledged", "olga")], "one journal row, by the person"
    async with commands.db.session() as s:
        entry = (await s.execute(sa.select(AuditEntry).where(AuditEntry.action == "alarm.acknowledge"))).scalar_one()
    assert entry.detail is not None
    assert "BadEventIdUnknown" in entry.detail


@pytest.mark.req("OPS-006")
async def test_acknowledging_holds_no_lock_while_the_server_is_slow(
    server: ConditionsServer, hmi: Hmi, commands: Commands, users: UserService, audit: AuditLog
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    await raise_all(server, hmi)
    assert server.conditions is not None
    gate = server.conditions.gate = asyncio.Event()
    ack = asyncio.create_task(commands.service.acknowledge(olga.for_action(), [alarm_id(FILLER)], "slow server"))
    try:
        await asyncio.wait_for(server.conditions.waiting.wait(), 10)
        # While the server has not answered, anyone else's audited action (audit lock and database write lock)
        # goes through.
        await asyncio.wait_for(audit.record(system_context(), "test.other", "test", "x"), 10)
        assert not ack.done(), "the acknowledgement is still waiting for the server"
    finally:
        gate.set()
    result = await ack
    assert [c.alarm.id for c in result.changes] == [alarm_id(FILLER)]
    acks, _journal = await commands.rows()
    assert acks == [(alarm_id(FILLER), "olga")]

"""The alarms a standby receives from the active instance (hmi/cluster/alarm_feed.py) and how its engine holds them
(AlarmEngine.mirror): every part of an alarm survives the trip, messages stay below NOTIFY's limit, and an engine
that takes over goes on from the states it was sent."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hmi.alarms.engine import Alarm, AlarmEngine
from hmi.alarms.states import AlarmState, AlarmStatus, Event, Shelf, Trigger
from hmi.clock import ManualClock
from hmi.cluster.alarm_feed import decode_alarms, encode_alarms
from hmi.cluster.feed import PAYLOAD_MAX
from hmi.config import PlantConfig, parse_config
from hmi.sources.server_alarms import ServerAlarm
from hmi.tags import Quality, TagCache, TagState

PLANT = """
site: {name: Feed}
endpoints: [{name: plc, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: Temp, endpoint: plc, node_id: "ns=2;s=Temp",
             alarms: [{type: H, limit: 80, priority: 2, message: Temperature high}]}
          - {name: Flow, endpoint: plc, node_id: "ns=2;s=Flow",
             alarms: [{type: L, limit: 5, priority: 3, message: Flow low}]}
"""
T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def plant() -> PlantConfig:
    return parse_config(PLANT, "feed.yaml")


def good(name: str, value: float, at: datetime) -> TagState:
    return TagState(name, value, 0, Quality.GOOD, at, at, at)


def active_side(plant: PlantConfig) -> tuple[AlarmEngine, TagCache, ManualClock]:
    clock = ManualClock(T0)
    cache = TagCache()
    engine = AlarmEngine(plant, cache, clock)
    engine.start()
    return engine, cache, clock


def server_alarm() -> Alarm:
    server = ServerAlarm(
        condition_id="ns=2;s=Boiler.Overpressure",
        event_id=b"\x00\x01\xfe",
        endpoint="plc",
        source_name="2:Boiler",
        source_node="ns=2;s=Boiler",
        condition_name="Overpressure",
        message="Überdruck <b>im</b> Kessel",
        severity=800,
        priority=1,
        active=True,
        acked=False,
        retain=True,
        time=T0,
        received_at=T0 + timedelta(seconds=1),
        comment="",
    )
    return Alarm(
        id="server:plc:ns=2;s=Boiler.Overpressure",
        priority=1,
        message=server.message,
        tag="",
        line="L",
        area="A",
        status=AlarmStatus(lifecycle=AlarmState.ACTIVE_UNACK, condition=True),
        changed_at=T0,
        activated_at=T0,
        activation=7,
        source="server",
        server=server,
    )


@pytest.mark.req("RED-006")
def test_every_part_of_an_alarm_survives_the_trip(plant: PlantConfig) -> None:
    engine, cache, clock = active_side(plant)
    cache.update([good("Temp", 85.0, T0)])
    clock.set(T0 + timedelta(seconds=5))
    shelve = Event(Trigger.SHELVE, Shelf(T0 + timedelta(hours=1)))
    engine.commit(engine.plan(["Temp.H"], shelve, at=clock(), username="lead", comment="sensor swap", action_id="a1"))
    sent = [*engine.everything(), server_alarm()]

    payloads = encode_alarms(sent, ["Flow.L"], reset=True, limit=PAYLOAD_MAX)
    assert len(payloads) == 1
    reset, received, gone = decode_alarms(payloads[0])
    assert reset
    assert gone == ["Flow.L"]
    # Equal in every compared field (the definition and server notification are not compared by Alarm's __eq__).
    assert received == sent
    assert received[0].status.shelf == Shelf(T0 + timedelta(hours=1))
    assert (received[0].mode_by, received[0].mode_reason) == ("lead", "sensor swap")
    assert received[1].server == sent[1].server


@pytest.mark.req("RED-006")
def test_a_flood_is_sent_in_messages_below_the_notify_limit_and_only_the_first_resets() -> None:
    alarm = server_alarm()
    many = [replace(alarm, id=f"server:plc:{i}") for i in range(300)]
    # One alarm whose texts alone exceed a message: shortened, never dropped.
    huge = replace(alarm, message="x" * 20_000)
    payloads = encode_alarms([*many, huge], [f"gone-{i}" for i in range(2000)], reset=True, limit=PAYLOAD_MAX)
    assert len(payloads) > 10
    assert all(len(p) <= PAYLOAD_MAX for p in payloads)
    decoded = [decode_alarms(p) for p in payloads]
    assert [r for r, _, _ in decoded] == [True] + [False] * (len(payloads) - 1)
    alarms = [a for _, batch, _ in decoded for a in batch]
    assert [a.id for a in alarms] == [a.id for a in many] + [huge.id]
    assert alarms[-1].message == "x" * 1000
    assert [i for _, _, gone in decoded for i in gone] == [f"gone-{i}" for i in range(2000)]
    assert decode_alarms(encode_alarms([], [], reset=True, limit=PAYLOAD_MAX)[0]) == (True, [], [])
    assert encode_alarms([], [], reset=False, limit=PAYLOAD_MAX) == []
    with pytest.raises(ValueError, match="JSON object"):
        decode_alarms(json.dumps([1, 2]))


@pytest.mark.req("RED-006")
def test_a_standby_engine_lists_what_it_is_sent_and_goes_on_from_it_when_it_takes_over(plant: PlantConfig) -> None:
    engine, cache, clock = active_side(plant)
    cache.update([good("Temp", 85.0, T0), good("Flow", 2.0, T0)])
    clock.set(T0 + timedelta(seconds=3))
    ack = Event(Trigger.ACKNOWLEDGE)
    engine.commit(engine.plan(["Temp.H"], ack, at=clock(), username="op1", comment="seen", action_id="a1"))

    standby_cache = TagCache()
    standby = AlarmEngine(plant, standby_cache, ManualClock(T0 + timedelta(seconds=4)))
    changes: list[object] = []
    standby.subscribe(changes.extend)
    flow = engine.get("Flow.L")
    assert flow is not None
    other_plant = replace(flow, id="Gone.H")
    for payload in encode_alarms([*engine.everything(), other_plant], [], reset=True, limit=PAYLOAD_MAX):
        reset, alarms, gone = decode_alarms(payload)
        standby.mirror(alarms, gone, reset=reset)
    assert [(x.id, x.state) for x in standby.active()] == [
        ("Temp.H", AlarmState.ACTIVE_ACK),
        ("Flow.L", AlarmState.ACTIVE_UNACK),
    ], "a local alarm this plant file does not define is left out"
    assert standby.get("Temp.H").ref is plant.alarms["Temp.H"]  # type: ignore[union-attr]
    assert changes == [], "a standby journals nothing: the active instance does"

    # Flow returned to normal on the active one and was acknowledged: quiet, sent as gone.
    standby.mirror([], ["Flow.L"])
    assert [x.id for x in standby.active()] == ["Temp.H"]

    # The standby takes over: the values are still as they were, so nothing is raised again; Temp.H stays
    # acknowledged, and its clear is a clear of that same activation.
    standby_cache.update([good("Temp", 85.0, T0 + timedelta(seconds=5)), good("Flow", 6.0, T0)])
    standby.start()
    assert changes == []
    assert standby.get("Temp.H").state is AlarmState.ACTIVE_ACK  # type: ignore[union-attr]
    standby_cache.update([good("Temp", 70.0, T0 + timedelta(seconds=6))])
    assert [(c.kind, c.alarm.id) for c in changes] == [("cleared", "Temp.H")]  # type: ignore[attr-defined]
    assert standby.get("Temp.H") is None
    # A new activation gets an episode number after those the active one used.
    standby_cache.update([good("Temp", 90.0, T0 + timedelta(seconds=7))])
    renewed = standby.get("Temp.H")
    assert renewed is not None
    assert renewed.activation > max(x.activation for x in engine.everything())

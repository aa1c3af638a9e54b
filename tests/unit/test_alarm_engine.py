"""The alarm engine, driven through a real TagCache with a plant parsed from YAML."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua.ua import StatusCodes

from hmi.alarms.engine import Alarm, AlarmChange, AlarmEngine
from hmi.alarms.states import AlarmEventKind, AlarmState, Event, Trigger, step
from hmi.config import PlantConfig, parse_config
from hmi.tags import Quality, TagCache, TagState, classify

PLANT = """
site: {name: Engine Test}
endpoints:
  - {name: plc, url: "opc.tcp://127.0.0.1:4840"}
areas:
  - name: Packing
    lines:
      - name: L1
        tags:
          - name: Temp
            endpoint: plc
            node_id: "ns=2;s=Temp"
            alarms:
              - {type: H, limit: 80, deadband: 2, priority: 2, message: Temperature high}
              - {type: HH, limit: 95, priority: 1, message: Temperature very high}
              - {type: L, limit: 10, priority: 3, message: Temperature low}
          - name: Level
            endpoint: plc
            node_id: "ns=2;s=Level"
            alarms:
              - {type: H, limit: 90, priority: 2, message: Level high}
          - {name: Speed, endpoint: plc, node_id: "ns=2;s=Speed"}
        machines:
          - name: M1
            tags:
              - name: Jam
                endpoint: plc
                node_id: "ns=2;s=Jam"
                data_type: bool
                alarms:
                  - {type: discrete, value: true, priority: 1, message: Jam at M1}
      - name: L2
        tags:
          - name: Pressure
            endpoint: plc
            node_id: "ns=2;s=Pressure"
            alarms:
              - {type: H, limit: 5, priority: 4, message: Pressure high}
"""

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(name: str, value: Any, t: float, status: int = 0) -> TagState:
    """A state with SourceTimestamp T0 + t; server and receive times later, so a mix-up shows."""
    return TagState(name, value, status, classify(status), at(t), at(t + 0.5), at(t + 1))


class Changes:
    """An engine listener that keeps every batch."""

    def __init__(self) -> None:
        self.batches: list[list[AlarmChange]] = []

    def __call__(self, changes: Sequence[AlarmChange]) -> None:
        self.batches.append(list(changes))

    def kinds(self) -> list[list[tuple[str, str]]]:
        return [[(c.kind, c.alarm.id) for c in batch] for batch in self.batches]

    def clear(self) -> None:
        self.batches.clear()


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return parse_config(PLANT, "engine-test.yaml")


@pytest.fixture
def cache() -> TagCache:
    return TagCache()


@pytest.fixture
def engine(plant: PlantConfig, cache: TagCache) -> AlarmEngine:
    engine = AlarmEngine(plant, cache)
    engine.start()
    return engine


@pytest.fixture
def changes(engine: AlarmEngine) -> Changes:
    rec = Changes()
    engine.subscribe(rec)
    return rec


def ack(
    engine: AlarmEngine,
    alarm: Alarm | None,
    t: float,
    user: str = "op1",
    comment: str | None = "seen",
    action_id: str = "act-1",
) -> list[AlarmChange]:
    """Acknowledge the alarm as the operator saw it: planned on that snapshot, committed now."""
    assert alarm is not None
    after = step(alarm.status, Event(Trigger.ACKNOWLEDGE), at(t))
    if after == alarm.status:
        return []
    acked = replace(alarm, status=after, acked_by=user, acked_at=at(t), ack_comment=comment)
    change = AlarmChange(AlarmEventKind.ACKNOWLEDGED, acked, at(t), user, comment, action_id, before=alarm)
    return engine.commit([change])


# ------------------------------------------------------------------------------------------------- activation


@pytest.mark.req("ALM-020")
def test_activation_uses_the_source_timestamp(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Temp", 70.0, 0)])
    assert engine.active() == []
    cache.update([ts("Temp", 81.0, 5)])
    alarm = engine.get("Temp.H")
    assert alarm is not None
    assert (alarm.state, alarm.value, alarm.activated_at, alarm.changed_at) == (
        AlarmState.ACTIVE_UNACK,
        81.0,
        at(5),
        at(5),
    )
    assert (alarm.priority, alarm.message, alarm.tag, alarm.line, alarm.area) == (
        2,
        "Temperature high",
        "Temp",
        "L1",
        "Packing",
    )
    assert (alarm.acked_by, alarm.acked_at, alarm.ack_comment) == (None, None, None)
    assert changes.kinds() == [[("activated", "Temp.H")]]
    assert changes.batches[0][0].at == at(5)
    assert changes.batches[0][0].alarm == alarm


@pytest.mark.req("ALM-020")
def test_without_source_timestamp_the_server_timestamp_is_used(engine: AlarmEngine, cache: TagCache) -> None:
    cache.update([TagState("Temp", 85.0, 0, Quality.GOOD, None, at(7), at(8))])
    assert engine.get("Temp.H").activated_at == at(7)  # type: ignore[union-attr]


def test_start_evaluates_values_already_in_the_cache(plant: PlantConfig, cache: TagCache) -> None:
    cache.update([ts("Temp", 99.0, 1), ts("Jam", True, 2), ts("Speed", 1000.0, 3)])
    engine = AlarmEngine(plant, cache)
    assert engine.active() == []
    engine.start()
    assert [a.id for a in engine.active()] == ["Jam.discrete", "Temp.HH", "Temp.H"]
    engine.stop()
    assert cache.listener_count == 0
    cache.update([ts("Temp", 20.0, 4)])
    assert engine.get("Temp.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
    engine.stop()  # stopping twice is harmless


@pytest.mark.req("ALM-015")
def test_deadband_through_the_engine(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    for t, value in enumerate([79.9, 80.0, 78.5, 78.0, 79.9, 77.9, 79.0]):
        cache.update([ts("Temp", value, t)])
    assert changes.kinds() == [[("activated", "Temp.H")], [("cleared", "Temp.H")]]
    assert [c.at for batch in changes.batches for c in batch] == [at(1), at(5)]


@pytest.mark.req("ALM-018")
def test_discrete_alarm(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Jam", False, 0)])
    cache.update([ts("Jam", True, 1)])
    cache.update([ts("Jam", True, 2)])
    cache.update([ts("Jam", False, 3)])
    assert changes.kinds() == [[("activated", "Jam.discrete")], [("cleared", "Jam.discrete")]]
    assert engine.get("Jam.discrete").state is AlarmState.RTN_UNACK  # type: ignore[union-attr]


def test_tags_without_alarms_and_unknown_tags_are_ignored(
    engine: AlarmEngine, cache: TagCache, changes: Changes
) -> None:
    cache.update([ts("Speed", 1e9, 0), ts("Nope", 1e9, 0)])
    engine.evaluate([ts("Nope", 1e9, 1)])
    assert (engine.active(), changes.batches) == ([], [])


@pytest.mark.req("ALM-017")
def test_a_value_that_cannot_be_compared_is_skipped(
    engine: AlarmEngine, cache: TagCache, changes: Changes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hmi.alarms.engine"):
        cache.update([ts("Temp", "hot", 0)])
    assert (engine.active(), changes.batches) == ([], [])
    assert "cannot evaluate" in caplog.text
    cache.update([ts("Temp", 85.0, 1)])
    assert engine.get("Temp.H") is not None


# ------------------------------------------------------------------------------------------- quality (1.10)


@pytest.mark.parametrize(
    "status", [StatusCodes.BadSensorFailure, StatusCodes.BadCommunicationError, StatusCodes.UncertainLastUsableValue]
)
@pytest.mark.req("ALM-017")
def test_non_good_values_neither_raise_nor_clear(
    engine: AlarmEngine, cache: TagCache, changes: Changes, status: int
) -> None:
    cache.update([ts("Temp", 99.0, 0, status)])
    assert engine.active() == []
    cache.update([ts("Temp", 85.0, 1)])
    assert [a.id for a in engine.active()] == ["Temp.H"]
    changes.clear()
    cache.update([ts("Temp", 0.0, 2, status)])  # would clear H and raise L if it counted
    assert [(a.id, a.state, a.value) for a in engine.active()] == [("Temp.H", AlarmState.ACTIVE_UNACK, 85.0)]
    assert changes.batches == []
    # The next good value is evaluated against the last good condition.
    cache.update([ts("Temp", 79.0, 3)])
    assert changes.batches == []
    cache.update([ts("Temp", 70.0, 4)])
    assert changes.kinds() == [[("cleared", "Temp.H")]]


@pytest.mark.req("ALM-017")
def test_stale_values_neither_raise_nor_clear(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Temp", 85.0, 0), ts("Level", 50.0, 0)])
    changes.clear()
    stale = cache.mark_stale(["Temp", "Level"], at(10))
    assert {s.quality for s in stale} == {Quality.STALE}
    assert changes.batches == []
    assert [a.id for a in engine.active()] == ["Temp.H"]
    # A stale state that carries an alarming value raises nothing either.
    engine.evaluate([TagState("Level", 95.0, 0, Quality.STALE, at(11), at(11), at(11), stale_since=at(10))])
    assert [a.id for a in engine.active()] == ["Temp.H"]


# ---------------------------------------------------------------------------------------- lifecycle (1.1-1.3)


@pytest.mark.req("ALM-001")
def test_clear_while_unacknowledged_stays_listed_until_acked(
    engine: AlarmEngine, cache: TagCache, changes: Changes
) -> None:
    cache.update([ts("Temp", 85.0, 0)])
    cache.update([ts("Temp", 60.0, 10)])
    returned = engine.get("Temp.H")
    assert returned is not None
    assert (returned.state, returned.value, returned.activated_at, returned.changed_at) == (
        AlarmState.RTN_UNACK,
        60.0,
        at(0),
        at(10),
    )
    assert engine.active() == [returned]
    assert engine.unacknowledged(["Temp.H"]) == [returned]
    done = ack(engine, returned, 20, comment="checked cooling", action_id="a-42")
    assert [(c.kind, c.alarm.state, c.at, c.username, c.comment, c.action_id) for c in done] == [
        ("acknowledged", AlarmState.NORMAL, at(20), "op1", "checked cooling", "a-42")
    ]
    assert engine.get("Temp.H") is None
    assert engine.active() == []
    assert changes.kinds() == [[("activated", "Temp.H")], [("cleared", "Temp.H")], [("acknowledged", "Temp.H")]]


@pytest.mark.req("ALM-002")
def test_ack_of_an_active_alarm_then_clear_removes_it(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Temp", 85.0, 0)])
    (change,) = ack(engine, engine.get("Temp.H"), 3, user="lead", comment=None)
    acked = engine.get("Temp.H")
    assert acked is not None
    assert change.alarm == acked
    assert (acked.state, acked.acked_by, acked.acked_at, acked.ack_comment, acked.activated_at) == (
        AlarmState.ACTIVE_ACK,
        "lead",
        at(3),
        None,
        at(0),
    )
    assert engine.unacknowledged(["Temp.H"]) == []
    assert engine.active() == [acked]
    cache.update([ts("Temp", 70.0, 9)])
    assert engine.get("Temp.H") is None
    assert engine.active() == []
    assert changes.kinds()[-1] == [("cleared", "Temp.H")]
    assert changes.batches[-1][0].alarm.state is AlarmState.NORMAL


@pytest.mark.req("ALM-003")
def test_reactivation_after_ack_is_unacknowledged_again(engine: AlarmEngine, cache: TagCache) -> None:
    cache.update([ts("Temp", 85.0, 0)])
    ack(engine, engine.get("Temp.H"), 1)
    cache.update([ts("Temp", 70.0, 2)])
    cache.update([ts("Temp", 86.0, 3)])
    again = engine.get("Temp.H")
    assert again is not None
    assert (again.state, again.activated_at, again.acked_by, again.acked_at) == (
        AlarmState.ACTIVE_UNACK,
        at(3),
        None,
        None,
    )


@pytest.mark.req("ALM-003")
def test_reactivation_of_a_returned_alarm_is_a_new_activation(
    engine: AlarmEngine, cache: TagCache, changes: Changes
) -> None:
    cache.update([ts("Temp", 85.0, 0)])
    cache.update([ts("Temp", 70.0, 1)])
    cache.update([ts("Temp", 90.0, 2)])
    alarm = engine.get("Temp.H")
    assert alarm is not None
    assert (alarm.state, alarm.activated_at, alarm.value) == (AlarmState.ACTIVE_UNACK, at(2), 90.0)
    assert changes.kinds() == [[("activated", "Temp.H")], [("cleared", "Temp.H")], [("activated", "Temp.H")]]


@pytest.mark.req("ALM-003")
def test_escalation_to_hh_makes_the_acked_h_unacknowledged_again(
    engine: AlarmEngine, cache: TagCache, changes: Changes
) -> None:
    """Re-alarming (ISA-18.2 / IEC 62682): an acknowledged alarm that escalates (H -> HH) is unacknowledged again."""
    cache.update([ts("Temp", 85.0, 0)])
    ack(engine, engine.get("Temp.H"), 1)
    changes.clear()
    cache.update([ts("Temp", 96.0, 2)])
    assert changes.kinds() == [[("activated", "Temp.HH"), ("escalated", "Temp.H")]]
    assert [(a.id, a.state) for a in engine.active()] == [
        ("Temp.HH", AlarmState.ACTIVE_UNACK),
        ("Temp.H", AlarmState.ACTIVE_UNACK),
    ]


@pytest.mark.req("ALM-022")
def test_ack_of_an_activation_that_changed_since_does_nothing(
    engine: AlarmEngine, cache: TagCache, changes: Changes
) -> None:
    cache.update([ts("Temp", 85.0, 0)])
    cache.update([ts("Temp", 70.0, 1)])
    seen = engine.get("Temp.H")  # what the operator saw: returned, unacknowledged
    assert seen is not None
    assert seen.state is AlarmState.RTN_UNACK
    cache.update([ts("Temp", 88.0, 2)])  # re-activated before the ack arrives
    changes.clear()
    assert ack(engine, seen, 3) == []
    current = engine.get("Temp.H")
    assert current is not None
    assert (current.state, current.acked_by, current.activated_at) == (AlarmState.ACTIVE_UNACK, None, at(2))
    assert changes.batches == []


@pytest.mark.req("ALM-022")
def test_ack_targets_the_activation_even_with_a_repeated_source_timestamp(engine: AlarmEngine, cache: TagCache) -> None:
    """A PLC with a frozen clock repeats its SourceTimestamp: an old ack must still not hit the new activation."""
    cache.update([ts("Temp", 85.0, 0)])
    cache.update([ts("Temp", 70.0, 0)])
    seen = engine.get("Temp.H")
    assert seen is not None
    cache.update([ts("Temp", 88.0, 0)])
    assert ack(engine, seen, 1) == []
    assert engine.get("Temp.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]


@pytest.mark.req("ALM-022")
def test_ack_of_an_acked_or_normal_alarm_does_nothing(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Temp", 85.0, 0)])
    first = engine.get("Temp.H")
    assert len(ack(engine, first, 1)) == 1
    assert ack(engine, first, 2, user="other") == []
    assert engine.get("Temp.H").acked_by == "op1"  # type: ignore[union-attr]
    cache.update([ts("Temp", 70.0, 3)])
    assert ack(engine, first, 4) == []
    assert engine.get("Temp.H") is None
    assert [k for batch in changes.kinds() for k, _ in batch] == ["activated", "acknowledged", "cleared"]


@pytest.mark.req("ALM-022")
def test_acknowledge_several_at_once_is_one_batch(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Temp", 99.0, 0), ts("Jam", True, 0), ts("Level", 95.0, 0)])
    assert changes.kinds() == [
        [("activated", "Temp.H"), ("activated", "Temp.HH"), ("activated", "Jam.discrete"), ("activated", "Level.H")]
    ]
    cache.update([ts("Jam", False, 1)])
    changes.clear()
    todo = engine.unacknowledged(["Temp.HH", "Jam.discrete", "Speed", "Pressure.H"])
    assert [a.id for a in todo] == ["Temp.HH", "Jam.discrete"]
    planned = engine.plan(
        [a.id for a in todo], Event(Trigger.ACKNOWLEDGE), at=at(2), username="lead", comment="both", action_id="act-7"
    )
    assert changes.batches == [], "planning changes nothing until the service commits what it stored"
    done = engine.commit(planned)
    assert [(c.alarm.id, c.alarm.state, c.action_id) for c in done] == [
        ("Temp.HH", AlarmState.ACTIVE_ACK, "act-7"),
        ("Jam.discrete", AlarmState.NORMAL, "act-7"),
    ]
    assert changes.batches == [done]
    assert [a.id for a in engine.active()] == ["Temp.HH", "Temp.H", "Level.H"]
    assert (
        engine.commit(
            engine.plan([], Event(Trigger.ACKNOWLEDGE), at=at(3), username="lead", comment=None, action_id="act-8")
        )
        == []
    )
    assert len(changes.batches) == 1


# ------------------------------------------------------------------------------------------ listeners and list


@pytest.mark.req("OPS-005")
def test_listeners_get_one_batch_per_update(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    other = Changes()
    off = engine.subscribe(other)
    cache.update([ts("Temp", 85.0, 0), ts("Pressure", 6.0, 0), ts("Speed", 1.0, 0)])
    assert changes.kinds() == other.kinds() == [[("activated", "Temp.H"), ("activated", "Pressure.H")]]
    off()
    cache.update([ts("Temp", 50.0, 1)])
    assert len(other.batches) == 1
    assert changes.kinds()[-1] == [("cleared", "Temp.H")]
    off()  # a second call is harmless


@pytest.mark.req("OPS-005")
def test_a_failing_listener_does_not_stop_the_others(
    engine: AlarmEngine, cache: TagCache, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(batch: Sequence[AlarmChange]) -> None:
        raise RuntimeError("journal down")

    engine.subscribe(broken)
    after = Changes()
    engine.subscribe(after)
    with caplog.at_level(logging.ERROR, logger="hmi.alarms.engine"):
        cache.update([ts("Temp", 85.0, 0)])
    assert after.kinds() == [[("activated", "Temp.H")]]
    assert engine.get("Temp.H") is not None
    assert "alarm listener failed" in caplog.text


@pytest.mark.req("ALM-013")
def test_active_is_sorted_by_priority_then_newest(engine: AlarmEngine, cache: TagCache) -> None:
    cache.update([ts("Pressure", 6.0, 0)])  # priority 4
    cache.update([ts("Temp", 85.0, 1)])  # H, priority 2
    cache.update([ts("Level", 95.0, 2)])  # H, priority 2, newer
    cache.update([ts("Jam", True, 3)])  # priority 1
    cache.update([ts("Temp", 97.0, 4)])  # HH, priority 1, newest
    assert [(a.id, a.priority) for a in engine.active()] == [
        ("Temp.HH", 1),
        ("Jam.discrete", 1),
        ("Level.H", 2),
        ("Temp.H", 2),
        ("Pressure.H", 4),
    ]
    # Acknowledged and returned alarms keep their place by activation time.
    ack(engine, engine.get("Level.H"), 5)
    cache.update([ts("Jam", False, 6)])
    assert [(a.id, a.state) for a in engine.active()] == [
        ("Temp.HH", AlarmState.ACTIVE_UNACK),
        ("Jam.discrete", AlarmState.RTN_UNACK),
        ("Level.H", AlarmState.ACTIVE_ACK),
        ("Temp.H", AlarmState.ACTIVE_UNACK),
        ("Pressure.H", AlarmState.ACTIVE_UNACK),
    ]


@pytest.mark.req("ALM-015")
def test_low_alarm(engine: AlarmEngine, cache: TagCache, changes: Changes) -> None:
    cache.update([ts("Temp", 10.0, 0)])
    cache.update([ts("Temp", 10.5, 1)])
    assert changes.kinds() == [[("activated", "Temp.L")], [("cleared", "Temp.L")]]
    assert engine.get("Temp.L").state is AlarmState.RTN_UNACK  # type: ignore[union-attr]

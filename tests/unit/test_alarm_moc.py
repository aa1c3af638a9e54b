"""Alarm definitions changed by a plant reload, under management of change (ISA-18.2 / IEC 62682): pure engine
tests on a ManualClock, and what the KPIs make of a removed alarm."""

from __future__ import annotations

import pytest

from hmi.alarms.engine import AlarmChange
from hmi.alarms.kpi import JournalEvent
from hmi.alarms.states import AlarmEventKind, AlarmState, Event, Shelf, Trigger
from hmi.clock import ManualClock
from hmi.config import parse_config
from tests.conftest import FedEngine
from tests.plant_fixture import PLANT_YAML

BASE = PLANT_YAML.format(url="opc.tcp://127.0.0.1:4840")


def edited(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


@pytest.fixture
def fed(clock: ManualClock) -> FedEngine:
    return FedEngine(parse_config(BASE), clock)


def heard(fed: FedEngine) -> list[AlarmChange]:
    out: list[AlarmChange] = []
    fed.engine.subscribe(out.extend)
    return out


@pytest.mark.req("RLD-004")
def test_a_removed_shelved_alarm_ends_with_removed(fed: FedEngine, clock: ManualClock) -> None:
    fed.put("L1.M1.Jam", True)
    alarm = fed.engine.get("L1.M1.Jam.discrete")
    assert alarm is not None
    [shelve] = fed.engine.plan(
        ["L1.M1.Jam.discrete"],
        Event(Trigger.SHELVE, Shelf(None)),
        at=clock(),
        username="lena",
        comment="sensor check",
        action_id="a1",
    )
    fed.engine.commit([shelve])
    assert fed.engine.in_state(AlarmState.SHELVED)
    changes = heard(fed)
    fed.engine.use_plant(
        parse_config(
            edited(
                "                alarms:\n                  - {type: discrete, value: true, priority: 1, "
                "message: Jam at M1}\n",
                "",
            )
        )
    )
    assert [(c.kind, c.alarm.id, c.alarm.state) for c in changes] == [
        (AlarmEventKind.REMOVED, "L1.M1.Jam.discrete", AlarmState.NORMAL)
    ]
    assert changes[0].before is not None
    assert changes[0].before.state is AlarmState.SHELVED
    assert fed.engine.get("L1.M1.Jam.discrete") is None
    assert fed.engine.in_state(AlarmState.SHELVED) == []
    # Its tag no longer raises anything.
    fed.put("L1.M1.Jam", False)
    fed.put("L1.M1.Jam", True)
    assert fed.engine.get("L1.M1.Jam.discrete") is None


@pytest.mark.req("RLD-003")
def test_a_changed_limit_the_value_already_passes_activates_at_once(fed: FedEngine) -> None:
    fed.put("L1.M1.Temp", 70.0)
    changes = heard(fed)
    fed.engine.use_plant(parse_config(edited("{type: H, limit: 80, deadband: 2,", "{type: H, limit: 65, deadband: 2,")))
    # Quiet before, so nothing to redefine: evaluated from the value already in the cache.
    assert [c.kind for c in changes] == [AlarmEventKind.ACTIVATED]
    alarm = fed.engine.get("L1.M1.Temp.H")
    assert alarm is not None
    assert alarm.state is AlarmState.ACTIVE_UNACK


@pytest.mark.req("RLD-003")
def test_an_added_alarm_is_evaluated_from_the_current_value(fed: FedEngine) -> None:
    fed.put("L1.M1.Temp", 70.0)
    changes = heard(fed)
    low = "                  - {type: L, limit: 72, priority: 3, message: Temp low}\n"
    anchor = "                  - {type: HH, limit: 95, priority: 1, message: Temp very high}\n"
    fed.engine.use_plant(parse_config(edited(anchor, anchor + low)))
    assert [(c.kind, c.alarm.id) for c in changes] == [(AlarmEventKind.ACTIVATED, "L1.M1.Temp.L")]


@pytest.mark.req("RLD-003")
def test_a_latch_taken_away_ends_as_an_unlatched_alarm_would(fed: FedEngine) -> None:
    fed.put("L1.M1.Pressure", 7.0)
    fed.put("L1.M1.Pressure", 5.0)
    latched = fed.engine.get("L1.M1.Pressure.H")
    assert latched is not None
    assert latched.state is AlarmState.LATCHED_UNACK
    changes = heard(fed)
    fed.engine.use_plant(parse_config(edited("priority: 2, latching: true,", "priority: 2, latching: false,")))
    alarm = fed.engine.get("L1.M1.Pressure.H")
    assert alarm is not None
    assert alarm.state is AlarmState.RTN_UNACK
    assert [c.kind for c in changes] == [AlarmEventKind.REDEFINED]
    assert changes[0].comment is not None
    assert "latching True -> False" in changes[0].comment


@pytest.mark.req("RLD-004")
def test_a_removal_ends_the_standing_time_in_the_kpis(clock: ManualClock) -> None:
    removed = JournalEvent("L1.M1.Jam.discrete", "Packing", "L1", 1, "removed", "normal", clock(), clock())
    assert removed.ends_standing
    redefined = JournalEvent("L1.M1.Temp.H", "Packing", "L1", 2, "redefined", "active_unack", clock(), clock())
    assert not redefined.ends_standing
    assert not redefined.starts_standing

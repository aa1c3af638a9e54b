"""The alarm engine against the ISA-18.2 / IEC 62682 alarm lifecycle, with time driven by a ManualClock injected
into the engine: delays, deadband, latching, shelving, out of service, suppression by design, bad quality,
deviation, rate of change, first-out and the definition attributes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua.ua import StatusCodes

from hmi.alarms.engine import Alarm, AlarmChange, AlarmEngine
from hmi.alarms.states import AlarmState, Event, Shelf, Trigger
from hmi.clock import ManualClock
from hmi.config import AlarmPolicy, ConfigError, PlantConfig, parse_config
from hmi.tags import Quality, TagCache, TagState, classify
from screens.annunciation import SoundPlanner

PLANT = """
site: {name: Lifecycle Test}
endpoints:
  - {name: plc, url: "opc.tcp://127.0.0.1:4840"}
alarm_policy: {first_out_window_s: WINDOW}
areas:
  - name: Packing
    lines:
      - name: L1
        state_tag: L1.State
        tags:
          - {name: L1.State, endpoint: plc, node_id: "ns=2;s=L1.State", data_type: string}
          - name: Temp
            endpoint: plc
            node_id: "ns=2;s=Temp"
            alarms:
              - {type: H, limit: 80, deadband: 2, priority: 2, message: Temperature high}
              - {type: HH, limit: 95, priority: 1, message: Temperature very high}
          - name: Oven
            endpoint: plc
            node_id: "ns=2;s=Oven"
            alarms:
              - {type: H, limit: 80, deadband: 1, on_delay_s: 5, off_delay_s: 3, priority: 3, message: Oven hot}
          - name: Trip
            endpoint: plc
            node_id: "ns=2;s=Trip"
            data_type: bool
            alarms:
              - type: discrete
                value: true
                latching: true
                priority: 1
                message: Main drive tripped
                consequence: Line stops; product in the oven is scrapped after 10 min
                action: Check the drive fault code, reset the drive, then reset the alarm
          - name: Flow
            endpoint: plc
            node_id: "ns=2;s=Flow"
            alarms:
              - {type: L, limit: 5, priority: 3, message: Coolant flow low,
                 suppress_when: {tag: L1.State, not_equals: Execute}}
          - name: Press
            endpoint: plc
            node_id: "ns=2;s=Press"
            alarms:
              - {type: H, limit: 6, priority: 2, message: Pressure high}
              - {type: bad_quality, priority: 3, message: Pressure sensor faulty}
          - name: Level
            endpoint: plc
            node_id: "ns=2;s=Level"
            alarms:
              - {type: deviation, limit: 5, deadband: 1, setpoint_tag: Level.SP, priority: 3,
                 message: Level off setpoint}
          - {name: Level.SP, endpoint: plc, node_id: "ns=2;s=Level.SP"}
          - name: Speed
            endpoint: plc
            node_id: "ns=2;s=Speed"
            alarms:
              - {type: rate, limit: 2, priority: 4, message: Speed changing fast}
      - name: L2
        tags:
          - name: Mix
            endpoint: plc
            node_id: "ns=2;s=Mix"
            alarms:
              - {type: H, limit: 10, priority: 4, message: Mixer load high}
"""

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
BAD = StatusCodes.BadSensorFailure


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def plant_with_window(seconds: float) -> PlantConfig:
    return parse_config(PLANT.replace("WINDOW", str(seconds)), "lifecycle-test.yaml")


def ts(name: str, value: Any, t: float, status: int = 0) -> TagState:
    """A state with SourceTimestamp T0 + t; server and receive times later, so a mix-up shows."""
    return TagState(name, value, status, classify(status), at(t), at(t + 0.5), at(t + 1))


class Rig:
    """A plant, a TagCache and an engine on a ManualClock; records every batch of changes."""

    def __init__(self, plant: PlantConfig) -> None:
        self.clock = ManualClock(T0)
        self.cache = TagCache()
        self.engine = AlarmEngine(plant, self.cache, self.clock)
        self.batches: list[list[AlarmChange]] = []
        self.engine.subscribe(self._record)
        self.engine.start()

    def _record(self, changes: Sequence[AlarmChange]) -> None:
        self.batches.append(list(changes))

    def put(self, name: str, value: Any, t: float, status: int = 0) -> None:
        """The value arrives at T0 + t: the clock is there too."""
        self.clock.set(at(t))
        self.cache.update([ts(name, value, t, status)])

    def tick(self, t: float) -> list[AlarmChange]:
        self.clock.set(at(t))
        return self.engine.tick()

    def command(
        self, ids: Sequence[str], event: Event, t: float, user: str = "lead", why: str | None = "because"
    ) -> list[AlarmChange]:
        """A person's command, planned and committed at T0 + t (the service stores in between)."""
        self.clock.set(at(t))
        planned = self.engine.plan(ids, event, at=at(t), username=user, comment=why, action_id=f"act-{t}")
        return self.engine.commit(planned)

    def ack(self, alarm_id: str, t: float, user: str = "op1") -> list[AlarmChange]:
        return self.command([alarm_id], Event(Trigger.ACKNOWLEDGE), t, user, "seen")

    def state(self, alarm_id: str) -> AlarmState:
        alarm = self.engine.get(alarm_id)
        return AlarmState.NORMAL if alarm is None else alarm.state

    def alarm(self, alarm_id: str) -> Alarm:
        alarm = self.engine.get(alarm_id)
        assert alarm is not None, f"{alarm_id} is quietly normal"
        return alarm

    def kinds(self) -> list[tuple[str, str]]:
        return [(c.kind, c.alarm.id) for batch in self.batches for c in batch]

    def listed(self) -> list[str]:
        return [a.id for a in self.engine.active()]


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return plant_with_window(10)


@pytest.fixture
def rig(plant: PlantConfig) -> Rig:
    rig = Rig(plant)
    rig.put("L1.State", "Execute", 0)
    return rig


# ---------------------------------------------------------------------------------------------- 1.1 - 1.3


@pytest.mark.req("ALM-001")
def test_1_1_a_clear_while_unacknowledged_stays_listed_until_acked(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    rig.put("Temp", 60.0, 2)
    assert (rig.state("Temp.H"), rig.listed()) == (AlarmState.RTN_UNACK, ["Temp.H"])
    rig.tick(3600)
    assert rig.state("Temp.H") is AlarmState.RTN_UNACK  # time alone removes nothing
    assert [c.alarm.state for c in rig.ack("Temp.H", 3601)] == [AlarmState.NORMAL]
    assert (rig.engine.get("Temp.H"), rig.listed()) == (None, [])


@pytest.mark.req("ALM-002")
def test_1_2_an_acknowledged_alarm_leaves_the_list_when_it_clears(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    rig.ack("Temp.H", 2)
    acked = rig.alarm("Temp.H")
    assert (acked.state, acked.acked_by, acked.acked_at) == (AlarmState.ACTIVE_ACK, "op1", at(2))
    assert rig.listed() == ["Temp.H"]
    rig.put("Temp", 60.0, 3)
    assert (rig.engine.get("Temp.H"), rig.listed()) == (None, [])


@pytest.mark.req("ALM-004")
def test_1_2_a_latched_alarm_stays_listed_until_acknowledged_and_reset(rig: Rig) -> None:
    rig.put("Trip", True, 1)
    rig.put("Trip", False, 2)
    assert (rig.state("Trip.discrete"), rig.listed()) == (AlarmState.LATCHED_UNACK, ["Trip.discrete"])
    # Reset before the acknowledgement is refused by the state machine: nothing to commit.
    assert (
        rig.engine.plan(
            ["Trip.discrete"], Event(Trigger.RESET), at=at(3), username="lead", comment=None, action_id="r1"
        )
        == []
    )
    rig.ack("Trip.discrete", 4)
    assert rig.state("Trip.discrete") is AlarmState.LATCHED_ACK
    rig.tick(86_400)
    assert rig.listed() == ["Trip.discrete"], "a latched alarm waits for a reset however long it takes"
    (reset,) = rig.command(["Trip.discrete"], Event(Trigger.RESET), 86_401)
    assert (reset.kind, reset.alarm.state, reset.username) == ("reset", AlarmState.NORMAL, "lead")
    assert (rig.engine.get("Trip.discrete"), rig.listed()) == (None, [])


@pytest.mark.req("ALM-004")
def test_1_2_a_latched_alarm_acknowledged_while_active_latches_acknowledged(rig: Rig) -> None:
    rig.put("Trip", True, 1)
    rig.ack("Trip.discrete", 2)
    rig.put("Trip", False, 3)
    assert rig.state("Trip.discrete") is AlarmState.LATCHED_ACK
    # The process trips again before the reset: a new, unacknowledged activation.
    rig.put("Trip", True, 4)
    again = rig.alarm("Trip.discrete")
    assert (again.state, again.activated_at, again.acked_by) == (AlarmState.ACTIVE_UNACK, at(4), None)
    # A reset while the trip stands does nothing.
    assert rig.command(["Trip.discrete"], Event(Trigger.RESET), 5) == []


@pytest.mark.req("ALM-003")
def test_1_3_reactivation_and_escalation_are_unacknowledged_again(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    first = rig.alarm("Temp.H").activation
    rig.ack("Temp.H", 2)
    rig.put("Temp", 96.0, 3)  # H -> HH
    assert rig.kinds()[-2:] == [("activated", "Temp.HH"), ("escalated", "Temp.H")]
    escalated = rig.alarm("Temp.H")
    assert (escalated.state, escalated.acked_by) == (AlarmState.ACTIVE_UNACK, None)
    rig.ack("Temp.H", 4)
    rig.put("Temp", 70.0, 5)
    rig.put("Temp", 85.0, 6)  # re-activation after an acknowledged clear
    back = rig.alarm("Temp.H")
    assert (back.state, back.activated_at) == (AlarmState.ACTIVE_UNACK, at(6))
    assert back.activation > first


# ---------------------------------------------------------------------------------------------- 1.4, 1.5


@pytest.mark.req("ALM-005", "ALM-011")
def test_1_4_indication_per_state(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)  # priority 2, will be acknowledged
    rig.put("Trip", True, 2)  # priority 1, unacknowledged
    rig.put("Flow", 1.0, 3)  # priority 3, will return unacknowledged
    rig.put("Flow", 9.0, 4)
    rig.ack("Temp.H", 5)
    rig.put("Mix", 20.0, 6)  # priority 4, will be shelved
    rig.command(["Mix.H"], Event(Trigger.SHELVE, Shelf(at(3606))), 6, why="mixer calibration")
    states = {a.id: a.state for a in rig.engine.active()}
    assert states == {
        "Trip.discrete": AlarmState.ACTIVE_UNACK,
        "Temp.H": AlarmState.ACTIVE_ACK,
        "Flow.L": AlarmState.RTN_UNACK,
    }
    assert [s.unacknowledged for s in states.values()] == [True, False, True]
    assert len({s.label for s in states.values()}) == 3  # each state reads differently
    # Sound per priority policy: unacknowledged sounds, acknowledged and returned are silent.
    assert AlarmPolicy().sound == {1: "until_ack", 2: "until_ack", 3: "once", 4: "none"}
    planner = SoundPlanner(AlarmPolicy().sound)
    assert planner.plan(rig.engine.active()) == (1, [])
    # Shelved: not in the main list; in its own list with who, when, why and the time left.
    (shelved,) = rig.engine.in_state(AlarmState.SHELVED)
    assert (shelved.id, shelved.mode_by, shelved.mode_at, shelved.mode_reason) == (
        "Mix.H",
        "lead",
        at(6),
        "mixer calibration",
    )
    assert shelved.shelved_until is not None
    assert shelved.shelved_until - rig.clock() == timedelta(hours=1)


@pytest.mark.req("ALM-006")
def test_1_5_silence_is_separate_from_acknowledge(rig: Rig) -> None:
    planner = SoundPlanner(AlarmPolicy().sound)
    rig.put("Temp", 85.0, 1)  # priority 2: sounds until acknowledged
    assert planner.plan(rig.engine.active()) == (2, [])
    planner.silence(rig.engine.active())
    assert planner.plan(rig.engine.active()) == (0, [])
    assert rig.state("Temp.H") is AlarmState.ACTIVE_UNACK, "silence acknowledges nothing"
    rig.put("Trip", True, 2)  # a new activation sounds again
    assert planner.plan(rig.engine.active()) == (1, [])
    rig.ack("Trip.discrete", 3)  # acknowledging stops its sound without a silence
    assert planner.plan(rig.engine.active()) == (0, [])
    rig.put("Flow", 1.0, 4)  # priority 3: one beep, no continuous tone
    assert planner.plan(rig.engine.active()) == (0, [3])


# --------------------------------------------------------------------------------------------------- 1.6


@pytest.mark.req("ALM-008")
def test_1_6_timed_shelving_ends_by_itself_and_annunciates_afresh(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    before = rig.alarm("Temp.H").activation
    (shelved,) = rig.command(["Temp.H"], Event(Trigger.SHELVE, Shelf(at(3610))), 10, why="sensor being replaced")
    assert (shelved.kind, shelved.alarm.state, shelved.action_id) == ("shelved", AlarmState.SHELVED, "act-10")
    assert rig.listed() == []
    (entry,) = rig.engine.in_state(AlarmState.SHELVED)
    assert (entry.mode_by, entry.mode_at, entry.mode_reason, entry.shelved_until) == (
        "lead",
        at(10),
        "sensor being replaced",
        at(3610),
    )
    rig.put("Temp", 86.0, 20)  # the process moves on underneath
    assert rig.listed() == []
    assert rig.tick(3609.999) == []
    (ended,) = rig.tick(3610)
    assert (ended.kind, ended.at, ended.action_id, ended.username) == ("unshelved", at(3610), None, None)
    back = rig.alarm("Temp.H")
    assert (back.state, back.activated_at, back.mode_by, back.mode_at, back.mode_reason) == (
        AlarmState.ACTIVE_UNACK,
        at(3610),
        None,
        None,
        None,
    )
    assert back.activation > before
    assert rig.listed() == ["Temp.H"]
    assert rig.engine.in_state(AlarmState.SHELVED) == []
    assert rig.tick(3700) == []  # ends once


@pytest.mark.req("ALM-008")
def test_1_6_a_timed_shelving_of_an_alarm_that_cleared_meanwhile_ends_quietly(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    rig.command(["Temp.H"], Event(Trigger.SHELVE, Shelf(at(60))), 2)
    rig.put("Temp", 60.0, 30)
    assert rig.state("Temp.H") is AlarmState.SHELVED
    assert [c.kind for c in rig.tick(61)] == ["unshelved"]
    assert (rig.engine.get("Temp.H"), rig.listed()) == (None, [])


@pytest.mark.req("ALM-008")
def test_1_6_one_shot_shelving_ends_when_the_alarm_clears(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    rig.command(["Temp.H"], Event(Trigger.SHELVE, Shelf(None)), 2, why="known, waiting for the fitter")
    assert rig.alarm("Temp.H").shelved_until is None
    assert rig.tick(10 * 86_400) == []  # no time limit
    rig.put("Temp", 60.0, 10 * 86_400 + 1)
    assert rig.kinds()[-2:] == [("cleared", "Temp.H"), ("unshelved", "Temp.H")]
    assert rig.engine.get("Temp.H") is None
    rig.put("Temp", 85.0, 10 * 86_400 + 2)
    assert rig.state("Temp.H") is AlarmState.ACTIVE_UNACK  # the next activation is annunciated


@pytest.mark.req("ALM-008")
def test_1_6_unshelve_early_and_reshelve(rig: Rig) -> None:
    rig.put("Temp", 85.0, 1)
    rig.command(["Temp.H"], Event(Trigger.SHELVE, Shelf(at(600))), 2)
    (change,) = rig.command(["Temp.H"], Event(Trigger.UNSHELVE), 3, why="fixed")
    assert (change.kind, change.alarm.state, change.alarm.activated_at) == ("unshelved", AlarmState.ACTIVE_UNACK, at(3))
    assert rig.command(["Temp.H"], Event(Trigger.UNSHELVE), 4) == []  # nothing to unshelve


@pytest.mark.req("ALM-009")
def test_1_6_out_of_service(rig: Rig) -> None:
    rig.put("Press", 7.0, 1)
    (out,) = rig.command(["Press.H"], Event(Trigger.REMOVE_FROM_SERVICE), 2, user="max", why="WO-4711")
    assert (out.kind, out.alarm.state) == ("out_of_service", AlarmState.OUT_OF_SERVICE)
    assert rig.listed() == []
    (entry,) = rig.engine.in_state(AlarmState.OUT_OF_SERVICE)
    assert (entry.id, entry.mode_by, entry.mode_at, entry.mode_reason) == ("Press.H", "max", at(2), "WO-4711")
    # Shelving does not apply to an alarm out of service; time does not end it.
    assert rig.command(["Press.H"], Event(Trigger.SHELVE, Shelf(at(60))), 3) == []
    rig.put("Press", 1.0, 4)
    rig.put("Press", 8.0, 5)
    assert rig.tick(30 * 86_400) == []
    assert rig.state("Press.H") is AlarmState.OUT_OF_SERVICE
    (back,) = rig.command(["Press.H"], Event(Trigger.RETURN_TO_SERVICE), 30 * 86_400 + 1, user="max", why="done")
    assert (back.kind, back.alarm.state, back.alarm.mode_by) == ("returned_to_service", AlarmState.ACTIVE_UNACK, None)
    assert rig.listed() == ["Press.H"]


@pytest.mark.req("ALM-009")
def test_1_6_an_alarm_normal_now_can_be_taken_out_of_service_and_returns_quietly(rig: Rig) -> None:
    (out,) = rig.command(["Mix.H"], Event(Trigger.REMOVE_FROM_SERVICE), 1, user="max", why="sensor removed")
    assert out.before is not None
    assert out.before.state is AlarmState.NORMAL
    rig.put("Mix", 50.0, 2)
    assert rig.listed() == []
    rig.put("Mix", 1.0, 3)
    rig.command(["Mix.H"], Event(Trigger.RETURN_TO_SERVICE), 4, user="max")
    assert rig.engine.get("Mix.H") is None


# ----------------------------------------------------------------------------------- suppression by design


@pytest.mark.req("ALM-010")
def test_suppression_by_design_follows_the_line_state(rig: Rig) -> None:
    rig.put("Flow", 1.0, 1)
    first = rig.alarm("Flow.L")
    assert first.first_out
    rig.ack("Flow.L", 2)
    rig.put("L1.State", "Stopped", 5)
    assert rig.kinds()[-1] == ("suppressed", "Flow.L")
    assert rig.listed() == []
    (entry,) = rig.engine.in_state(AlarmState.SUPPRESSED_BY_DESIGN)
    assert (entry.id, entry.mode_by, entry.mode_at, entry.mode_reason) == (
        "Flow.L",
        "design",
        at(5),
        "L1.State = 'Stopped'",
    )
    # While suppressed, the condition is followed but nothing is annunciated.
    rig.put("Flow", 9.0, 6)
    rig.put("Flow", 2.0, 7)
    assert rig.listed() == []
    assert rig.state("Flow.L") is AlarmState.SUPPRESSED_BY_DESIGN
    rig.put("L1.State", "Held", 8)  # still not Execute: no change
    assert rig.kinds()[-1] == ("activated", "Flow.L")
    # Back to Execute with the condition still active: a new activation, nothing of the old one carried over.
    rig.put("L1.State", "Execute", 20)
    assert rig.kinds()[-1] == ("unsuppressed", "Flow.L")
    back = rig.alarm("Flow.L")
    assert (back.state, back.activated_at, back.mode_by, back.mode_at, back.mode_reason) == (
        AlarmState.ACTIVE_UNACK,
        at(20),
        None,
        None,
        None,
    )
    assert (back.acked_by, back.acked_at, back.ack_comment, back.first_out) == (None, None, None, False)
    assert back.activation > first.activation
    assert rig.listed() == ["Flow.L"]


@pytest.mark.req("ALM-010")
def test_suppression_of_a_clear_alarm_ends_quietly(rig: Rig) -> None:
    rig.put("L1.State", "Stopped", 1)
    assert rig.state("Flow.L") is AlarmState.SUPPRESSED_BY_DESIGN
    rig.put("Flow", 1.0, 2)
    rig.put("Flow", 9.0, 3)
    rig.put("L1.State", "Execute", 4)
    assert rig.engine.get("Flow.L") is None
    assert rig.listed() == []


@pytest.mark.req("ALM-010")
def test_a_line_state_of_bad_quality_neither_suppresses_nor_releases(rig: Rig) -> None:
    rig.put("Flow", 1.0, 1)
    rig.put("L1.State", "Stopped", 2, BAD)
    assert rig.state("Flow.L") is AlarmState.ACTIVE_UNACK
    rig.put("L1.State", "Stopped", 3)
    rig.put("L1.State", "Execute", 4, BAD)
    assert rig.state("Flow.L") is AlarmState.SUPPRESSED_BY_DESIGN


@pytest.mark.req("ALM-011")
def test_overlapping_modes_each_keep_who_when_and_why(rig: Rig) -> None:
    """A shelving (or out of service) and suppression by design at once: each list shows its own mode's
    who, when and why, and the suppression's comes back when the other mode ends first."""
    rig.put("Flow", 1.0, 1)
    rig.command(["Flow.L"], Event(Trigger.SHELVE, Shelf(at(100))), 2, why="pump swap")
    rig.put("L1.State", "Stopped", 3)
    shelved = rig.alarm("Flow.L")
    assert (shelved.state, shelved.mode_by, shelved.mode_at, shelved.mode_reason) == (
        AlarmState.SHELVED,
        "lead",
        at(2),
        "pump swap",
    )
    rig.put("L1.State", "Execute", 4)
    rig.put("L1.State", "Aborted", 5)
    assert (rig.alarm("Flow.L").mode_by, rig.alarm("Flow.L").mode_reason) == ("lead", "pump swap")
    rig.tick(100)  # the shelving ends; the suppression still holds
    suppressed = rig.alarm("Flow.L")
    assert (suppressed.state, suppressed.mode_by, suppressed.mode_at, suppressed.mode_reason) == (
        AlarmState.SUPPRESSED_BY_DESIGN,
        "design",
        at(5),
        "L1.State = 'Aborted'",
    )
    rig.command(["Flow.L"], Event(Trigger.REMOVE_FROM_SERVICE), 110, user="max", why="WO-1")
    assert (rig.alarm("Flow.L").mode_by, rig.alarm("Flow.L").mode_reason) == ("max", "WO-1")
    rig.command(["Flow.L"], Event(Trigger.RETURN_TO_SERVICE), 120, user="max")
    again = rig.alarm("Flow.L")
    assert (again.state, again.mode_by, again.mode_at, again.mode_reason) == (
        AlarmState.SUPPRESSED_BY_DESIGN,
        "design",
        at(5),
        "L1.State = 'Aborted'",
    )
    rig.put("L1.State", "Execute", 130)
    assert (rig.state("Flow.L"), rig.alarm("Flow.L").mode_by) == (AlarmState.ACTIVE_UNACK, None)


@pytest.mark.req("ALM-011")
def test_a_one_shot_shelving_ending_under_suppression_shows_the_suppression(rig: Rig) -> None:
    rig.put("Flow", 1.0, 1)
    rig.command(["Flow.L"], Event(Trigger.SHELVE, Shelf(None)), 2, why="until it clears")
    rig.put("L1.State", "Stopped", 3)
    rig.put("Flow", 9.0, 4)  # the clear ends the one-shot shelving; the line is still stopped
    assert rig.kinds()[-2:] == [("cleared", "Flow.L"), ("unshelved", "Flow.L")]
    alarm = rig.alarm("Flow.L")
    assert (alarm.state, alarm.mode_by, alarm.mode_at, alarm.mode_reason) == (
        AlarmState.SUPPRESSED_BY_DESIGN,
        "design",
        at(3),
        "L1.State = 'Stopped'",
    )


# --------------------------------------------------------------------------------------------------- 1.7


@pytest.mark.req("ALM-012")
def test_1_7_definition_attributes_are_available(rig: Rig) -> None:
    trip = rig.engine.definition("Trip.discrete")
    assert trip is not None
    assert (
        trip.tag.name,
        trip.alarm.type,
        trip.alarm.value,
        trip.alarm.priority,
        trip.alarm.latching,
        trip.alarm.message,
    ) == ("Trip", "discrete", True, 1, True, "Main drive tripped")
    assert trip.alarm.consequence.startswith("Line stops")
    assert trip.alarm.action.startswith("Check the drive fault code")
    oven = rig.engine.definition("Oven.H")
    assert oven is not None
    assert (
        oven.alarm.type,
        oven.alarm.limit,
        oven.alarm.deadband,
        oven.alarm.on_delay_s,
        oven.alarm.off_delay_s,
        oven.alarm.latching,
    ) == ("H", 80.0, 1.0, 5.0, 3.0, False)
    types = {
        rig.engine.definition(i).alarm.type
        for i in ("Temp.H", "Temp.HH", "Flow.L", "Trip.discrete", "Level.deviation", "Speed.rate", "Press.bad_quality")  # type: ignore[union-attr]
    }
    assert types == {"H", "HH", "L", "discrete", "deviation", "rate", "bad_quality"}
    assert rig.engine.definition("Nope.H") is None


@pytest.mark.req("ALM-013")
def test_1_7_priorities_one_to_four_order_the_list(rig: Rig) -> None:
    rig.put("Mix", 20.0, 1)  # 4
    rig.put("Flow", 1.0, 2)  # 3
    rig.put("Temp", 85.0, 3)  # 2
    rig.put("Trip", True, 4)  # 1
    assert [(a.id, a.priority) for a in rig.engine.active()] == [
        ("Trip.discrete", 1),
        ("Temp.H", 2),
        ("Flow.L", 3),
        ("Mix.H", 4),
    ]
    for alarm in rig.engine.active():
        ref = rig.engine.definition(alarm.id)
        assert ref is not None
        assert (alarm.priority, alarm.message) == (ref.alarm.priority, ref.alarm.message)


@pytest.mark.parametrize("priority", [0, 5])
@pytest.mark.req("ALM-013")
def test_1_7_priorities_outside_one_to_four_are_refused(priority: int) -> None:
    text = PLANT.replace("WINDOW", "10").replace("priority: 4, message: Mixer", f"priority: {priority}, message: M")
    with pytest.raises(ConfigError, match="priority"):
        parse_config(text)


# --------------------------------------------------------------------------------------------------- 1.8


@pytest.mark.req("ALM-014")
def test_1_8_a_crossing_shorter_than_the_on_delay_raises_nothing(rig: Rig) -> None:
    rig.put("Oven", 85.0, 10)
    assert rig.tick(14.9) == []
    rig.put("Oven", 78.0, 14.9)
    assert rig.tick(100) == []
    assert rig.engine.get("Oven.H") is None
    assert ("activated", "Oven.H") not in rig.kinds()


@pytest.mark.req("ALM-014")
def test_1_8_a_crossing_longer_than_the_on_delay_raises_exactly_once(rig: Rig) -> None:
    rig.put("Oven", 85.0, 10)
    rig.put("Oven", 86.0, 12)  # still above: the delay keeps counting from the first crossing
    assert rig.tick(14.999) == []
    (raised,) = rig.tick(15)
    assert (raised.kind, raised.alarm.state, raised.alarm.activated_at) == (
        "activated",
        AlarmState.ACTIVE_UNACK,
        at(15),
    )
    assert rig.tick(16) == []
    assert rig.tick(100) == []
    rig.put("Oven", 87.0, 101)
    assert rig.kinds().count(("activated", "Oven.H")) == 1


@pytest.mark.req("ALM-014")
def test_1_8_a_dip_shorter_than_the_off_delay_does_not_clear(rig: Rig) -> None:
    rig.put("Oven", 85.0, 0)
    rig.tick(5)
    rig.put("Oven", 70.0, 10)
    assert rig.tick(12.9) == []
    rig.put("Oven", 85.0, 12.9)
    assert rig.tick(60) == []
    assert rig.state("Oven.H") is AlarmState.ACTIVE_UNACK
    assert ("cleared", "Oven.H") not in rig.kinds()


@pytest.mark.req("ALM-014")
def test_1_8_a_dip_longer_than_the_off_delay_clears(rig: Rig) -> None:
    rig.put("Oven", 85.0, 0)
    rig.tick(5)
    rig.put("Oven", 70.0, 10)
    assert rig.tick(12.9) == []
    (cleared,) = rig.tick(13)
    assert (cleared.kind, cleared.alarm.state) == ("cleared", AlarmState.RTN_UNACK)


@pytest.mark.req("ALM-015")
def test_1_8_deadband_clears_a_high_alarm_only_below_limit_minus_deadband(rig: Rig) -> None:
    rig.put("Temp", 79.9, 0)
    assert rig.engine.get("Temp.H") is None
    rig.put("Temp", 80.0, 1)
    for t, value in enumerate([79.0, 78.5, 78.0, 79.9], start=2):
        rig.put("Temp", value, t)
        assert rig.state("Temp.H") is AlarmState.ACTIVE_UNACK, value
    rig.put("Temp", 77.99, 10)
    assert rig.state("Temp.H") is AlarmState.RTN_UNACK
    rig.put("Temp", 79.5, 11)  # below the limit again: no new activation
    assert rig.kinds().count(("activated", "Temp.H")) == 1


@pytest.mark.req("ALM-015")
def test_1_8_deadband_applies_with_delays_too(rig: Rig) -> None:
    rig.put("Oven", 85.0, 0)
    rig.tick(5)
    rig.put("Oven", 79.5, 10)  # below the limit but inside the deadband of 1: no clear starts
    assert rig.tick(30) == []
    rig.put("Oven", 78.9, 31)
    assert rig.tick(33.9) == []
    assert [c.kind for c in rig.tick(34)] == ["cleared"]


# --------------------------------------------------------------------------------------------------- 1.9


@pytest.mark.parametrize(
    ("alarms", "message"),
    [
        ("[{type: H, limit: 90, message: a}, {type: HH, limit: 90, message: b}]", "limits out of order"),
        ("[{type: L, limit: 20, message: a}, {type: LL, limit: 30, message: b}]", "limits out of order"),
        ("[{type: H, limit: 80, message: a}, {type: HH, limit: 95, deadband: 15, message: b}]", "deadband 15 of HH"),
        ("[{type: L, limit: 10, deadband: 70, message: a}, {type: H, limit: 80, message: b}]", "deadband 70 of L"),
    ],
)
@pytest.mark.req("ALM-016")
def test_1_9_limits_are_validated_at_load(alarms: str, message: str) -> None:
    text = f"""
site: {{name: X}}
endpoints: [{{name: plc, url: "opc.tcp://127.0.0.1:4840"}}]
areas:
  - name: A
    lines:
      - name: L1
        tags:
          - {{name: T, endpoint: plc, node_id: "ns=2;s=T", alarms: {alarms}}}
"""
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


# -------------------------------------------------------------------------------------------------- 1.10


@pytest.mark.req("ALM-017")
def test_1_10_bad_input_raises_the_bad_quality_alarm_and_no_limit_alarm(rig: Rig) -> None:
    rig.put("Press", 99.0, 1, BAD)
    assert rig.listed() == ["Press.bad_quality"]
    assert rig.engine.get("Press.H") is None
    rig.put("Press", 7.0, 2)  # good and high: the limit alarm now, the quality alarm returns
    assert {a.id: a.state for a in rig.engine.active()} == {
        "Press.H": AlarmState.ACTIVE_UNACK,
        "Press.bad_quality": AlarmState.RTN_UNACK,
    }
    rig.put("Press", 0.0, 3, BAD)  # would clear H if it counted
    assert rig.state("Press.H") is AlarmState.ACTIVE_UNACK
    assert rig.alarm("Press.H").value == 7.0
    assert rig.state("Press.bad_quality") is AlarmState.ACTIVE_UNACK
    assert ("cleared", "Press.H") not in rig.kinds()


@pytest.mark.req("ALM-017")
def test_1_10_stale_input_raises_neither(rig: Rig) -> None:
    rig.put("Press", 1.0, 1)
    rig.clock.set(at(5))
    rig.cache.mark_stale(["Press"], at(5))
    assert rig.cache.get("Press").quality is Quality.STALE  # type: ignore[union-attr]
    assert rig.listed() == []


@pytest.mark.req("ALM-017")
def test_1_10_bad_input_during_an_on_delay_raises_nothing(rig: Rig) -> None:
    rig.put("Oven", 85.0, 10)
    rig.put("Oven", 85.0, 11, BAD)
    assert rig.tick(60) == [], "the crossing was not confirmed for the whole delay"
    rig.put("Oven", 85.0, 61)  # good again: the delay starts afresh
    assert rig.tick(65.9) == []
    assert [c.kind for c in rig.tick(66)] == ["activated"]


@pytest.mark.req("ALM-017")
def test_1_10_bad_input_during_an_off_delay_clears_nothing(rig: Rig) -> None:
    rig.put("Oven", 85.0, 0)
    rig.tick(5)
    rig.put("Oven", 60.0, 10)
    rig.put("Oven", 60.0, 11, BAD)
    assert rig.tick(60) == []
    assert rig.state("Oven.H") is AlarmState.ACTIVE_UNACK


# ---------------------------------------------------------------------------------- deviation and rate


@pytest.mark.req("ALM-018")
def test_deviation_is_evaluated_when_the_pv_or_the_setpoint_changes(rig: Rig) -> None:
    rig.put("Level", 50.0, 1)  # no setpoint yet: nothing to compare with
    rig.put("Level.SP", 50.0, 2)
    assert rig.engine.get("Level.deviation") is None
    rig.put("Level.SP", 56.0, 10)  # the setpoint moves away: |50 - 56| = 6 >= 5
    raised = rig.alarm("Level.deviation")
    assert (raised.state, raised.activated_at) == (AlarmState.ACTIVE_UNACK, at(10))
    rig.put("Level", 52.0, 20)  # 4: inside the deadband of 1, still active
    assert rig.state("Level.deviation") is AlarmState.ACTIVE_UNACK
    rig.put("Level", 52.5, 21)  # 3.5: clears
    assert rig.state("Level.deviation") is AlarmState.RTN_UNACK
    rig.put("Level", 40.0, 30)  # the PV moves away below: |40 - 56| = 16
    again = rig.alarm("Level.deviation")
    assert (again.state, again.activated_at) == (AlarmState.ACTIVE_UNACK, at(30))


@pytest.mark.req("ALM-018")
def test_deviation_is_not_evaluated_on_a_bad_setpoint(rig: Rig) -> None:
    rig.put("Level", 50.0, 1)
    rig.put("Level.SP", 90.0, 2, BAD)
    assert rig.engine.get("Level.deviation") is None
    rig.put("Level", 51.0, 3)
    assert rig.engine.get("Level.deviation") is None
    rig.put("Level.SP", 90.0, 4)
    assert rig.state("Level.deviation") is AlarmState.ACTIVE_UNACK


@pytest.mark.req("ALM-018")
def test_rate_of_change_per_second_between_good_samples(rig: Rig) -> None:
    rig.put("Speed", 100.0, 0)
    rig.put("Speed", 103.0, 2)  # 1.5 / s
    assert rig.engine.get("Speed.rate") is None
    rig.put("Speed", 500.0, 3, BAD)  # not a sample
    rig.put("Speed", 104.0, 4)  # 0.5 / s against the last good sample, not 396 / s
    assert rig.engine.get("Speed.rate") is None
    rig.put("Speed", 110.0, 6)  # 3 / s
    raised = rig.alarm("Speed.rate")
    assert (raised.state, raised.activated_at, raised.value) == (AlarmState.ACTIVE_UNACK, at(6), 110.0)
    rig.put("Speed", 111.0, 7)  # 1 / s
    assert rig.state("Speed.rate") is AlarmState.RTN_UNACK
    rig.put("Speed", 90.0, 9)  # -10.5 / s: falling counts too
    assert rig.state("Speed.rate") is AlarmState.ACTIVE_UNACK


@pytest.mark.req("ALM-018")
def test_rate_of_change_uses_the_source_time(rig: Rig) -> None:
    def sample(value: float, source_s: float, arrived_s: float) -> TagState:
        return TagState("Speed", value, 0, Quality.GOOD, at(source_s), at(arrived_s), at(arrived_s))

    rig.cache.update([sample(100.0, 0, 0)])
    rig.cache.update([sample(105.0, 1, 10)])  # 5 / s by source time, 0.5 / s by arrival
    assert rig.state("Speed.rate") is AlarmState.ACTIVE_UNACK
    rig.cache.update([sample(105.0, 1, 11)])  # the same source time again: no rate to compute
    assert rig.state("Speed.rate") is AlarmState.ACTIVE_UNACK


# -------------------------------------------------------------------------------------------------- 1.11


@pytest.mark.req("ALM-019")
def test_1_11_first_out_per_line_within_the_window(rig: Rig) -> None:
    rig.put("Temp", 85.0, 100)  # L1: first of a burst
    rig.put("Mix", 20.0, 103)  # L2: its own line, first there
    rig.put("Press", 7.0, 105)  # L1: within 10 s
    rig.put("Trip", True, 109)  # L1: within 10 s of the last
    rig.put("Flow", 1.0, 150)  # L1: a new burst after a quiet window
    rig.put("Mix", 1.0, 151)
    rig.put("Mix", 20.0, 152)  # L2: 49 s after its last alarm
    marks = {a.id: a.first_out for a in rig.engine.active()}
    assert marks == {"Temp.H": True, "Mix.H": True, "Press.H": False, "Trip.discrete": False, "Flow.L": True}


@pytest.mark.req("ALM-019")
def test_1_11_the_window_is_configurable() -> None:
    rig = Rig(plant_with_window(60))
    rig.put("L1.State", "Execute", 0)
    rig.put("Temp", 85.0, 100)
    rig.put("Press", 7.0, 150)  # within 60 s
    rig.put("Flow", 1.0, 211)  # 61 s later
    assert {a.id: a.first_out for a in rig.engine.active()} == {"Temp.H": True, "Press.H": False, "Flow.L": True}


@pytest.mark.req("ALM-019")
def test_1_11_hidden_activations_are_not_first_out(rig: Rig) -> None:
    rig.command(["Temp.H"], Event(Trigger.SHELVE, Shelf(None)), 1)
    rig.put("Temp", 85.0, 100)  # shelved: not annunciated, does not start a burst
    rig.put("Press", 7.0, 101)
    assert rig.alarm("Press.H").first_out
    assert not rig.alarm("Temp.H").first_out

"""Sound per priority policy and Silence, decided in Python (ISA-18.2 / IEC 62682 annunciation)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hmi.alarms.engine import Alarm
from hmi.alarms.states import AlarmState, AlarmStatus
from screens.annunciation import SoundPlanner

T = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = {1: "until_ack", 2: "until_ack", 3: "once", 4: "none"}


def alarm(activation: int, priority: int, state: AlarmState = AlarmState.ACTIVE_UNACK) -> Alarm:
    condition = state in (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)
    return Alarm(
        f"A{activation}",
        priority,
        "m",
        "t",
        "L",
        "A",
        AlarmStatus(lifecycle=state, condition=condition),
        T,
        activation=activation,
    )


@pytest.mark.req("ALM-006")
def test_until_ack_sounds_the_highest_priority_until_acknowledged() -> None:
    planner = SoundPlanner(POLICY)
    assert planner.plan([alarm(1, 2), alarm(2, 1)]) == (1, [])
    assert planner.plan([alarm(1, 2), alarm(2, 1, AlarmState.ACTIVE_ACK)]) == (2, [])
    assert planner.plan([alarm(1, 2, AlarmState.ACTIVE_ACK)]) == (0, [])


@pytest.mark.req("ALM-005", "ALM-006")
def test_returned_and_acknowledged_alarms_are_silent() -> None:
    planner = SoundPlanner(POLICY)
    assert planner.plan([alarm(1, 1, AlarmState.RTN_UNACK), alarm(2, 1, AlarmState.ACTIVE_ACK)]) == (0, [])


@pytest.mark.req("ALM-006")
def test_once_beeps_for_new_activations_only() -> None:
    planner = SoundPlanner(POLICY)
    assert planner.plan([alarm(1, 3)]) == (0, []), "standing when the panel opened: not announced again"
    assert planner.plan([alarm(1, 3), alarm(2, 3)]) == (0, [3])
    assert planner.plan([alarm(1, 3), alarm(2, 3)]) == (0, [])


@pytest.mark.req("ALM-006")
def test_none_policy_never_sounds() -> None:
    planner = SoundPlanner(POLICY)
    planner.plan([])
    assert planner.plan([alarm(1, 4)]) == (0, [])


@pytest.mark.req("ALM-006")
def test_silence_is_separate_from_acknowledge_and_a_new_alarm_sounds_again() -> None:
    planner = SoundPlanner(POLICY)
    standing = [alarm(1, 1)]
    assert planner.plan(standing) == (1, [])
    planner.silence(standing)
    assert planner.plan(standing) == (0, []), "silenced, yet still unacknowledged"
    assert standing[0].state is AlarmState.ACTIVE_UNACK
    assert planner.plan([*standing, alarm(2, 2)]) == (2, [])

"""The ISA-18.2 alarm lifecycle as a pure function (STANDARDS.md section 1, items 1-3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmi.alarms.states import AlarmState, Trigger, transition

N, AU, AA, RU = AlarmState.NORMAL, AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK, AlarmState.RTN_UNACK
ACT, CLR, ACK = Trigger.ACTIVATE, Trigger.CLEAR, Trigger.ACKNOWLEDGE

# state: (after ACTIVATE, after CLEAR, after ACKNOWLEDGE)
EXPECTED = {
    N: (AU, N, N),  # nothing to clear or acknowledge
    AU: (AU, RU, AA),  # 1.1: clears to RTN_UNACK while unacknowledged; 1.2: ack makes it ACTIVE_ACK
    AA: (AU, N, AA),  # 1.2: leaves the list when it clears; 1.3: re-activation needs a new ack
    RU: (AU, RU, N),  # 1.1: the ack removes it; 1.3: re-activation is unacknowledged again
}
TABLE = [(s, t, after[i]) for s, after in EXPECTED.items() for i, t in enumerate((ACT, CLR, ACK))]


def test_the_table_covers_every_pair() -> None:
    assert {(s, t) for s, t, _ in TABLE} == {(s, t) for s in AlarmState for t in Trigger}
    assert len(TABLE) == 12


@pytest.mark.parametrize(("state", "trigger", "expected"), TABLE, ids=[f"{s.name}-{t.name}" for s, t, _ in TABLE])
def test_transition(state: AlarmState, trigger: Trigger, expected: AlarmState) -> None:
    assert transition(state, trigger) is expected


def test_state_properties() -> None:
    assert [s.listed for s in (N, AU, AA, RU)] == [False, True, True, True]
    assert [s.unacknowledged for s in (N, AU, AA, RU)] == [False, True, False, True]
    assert [s.label for s in (N, AU, AA, RU)] == ["normal", "unacknowledged", "acknowledged",
                                                 "returned, unacknowledged"]


def run(triggers: list[Trigger], start: AlarmState = N) -> list[AlarmState]:
    """Every state reached, starting with `start`."""
    states = [start]
    for trigger in triggers:
        states.append(transition(states[-1], trigger))
    return states


triggers = st.lists(st.sampled_from(list(Trigger)), max_size=40)


@given(triggers)
def test_state_is_process_condition_and_pending_ack(seq: list[Trigger]) -> None:
    """The state always equals (is the process in alarm?, is an activation waiting for an ack?)."""
    active = pending = False
    state = N
    for trigger in seq:
        if trigger is ACT:
            active = pending = True
        elif trigger is CLR:
            active = False
        else:
            pending = False
        state = transition(state, trigger)
        assert state is {(False, False): N, (True, True): AU, (True, False): AA, (False, True): RU}[active, pending]


@given(triggers, st.lists(st.sampled_from([ACT, CLR]), max_size=40))
def test_an_activation_is_never_lost(prefix: list[Trigger], without_ack: list[Trigger]) -> None:
    """After an ACTIVATE the alarm stays listed and unacknowledged until an ACKNOWLEDGE comes."""
    states = run([*prefix, ACT, *without_ack])
    for s in states[len(prefix) + 1:]:
        assert s.unacknowledged
        assert s.listed
        assert s is not N


@given(st.lists(st.sampled_from([ACT, CLR]), max_size=40))
def test_clear_alone_never_returns_an_unacknowledged_alarm_to_normal(seq: list[Trigger]) -> None:
    for start in (AU, RU):
        assert N not in run(seq, start)


@given(triggers)
def test_reactivation_after_ack_is_unacknowledged_again(prefix: list[Trigger]) -> None:
    acked = run([*prefix, ACT, ACK])[-1]
    assert acked is AA
    assert transition(acked, ACT) is AU
    returned = run([*prefix, ACT, CLR])[-1]
    assert returned is RU
    assert transition(returned, ACT) is AU


@given(triggers)
def test_acknowledge_never_lists_or_activates(seq: list[Trigger]) -> None:
    state = run(seq)[-1]
    after = transition(state, ACK)
    assert not after.unacknowledged
    assert after.listed <= state.listed

"""The alarm lifecycle as a pure function `(state, event) -> state` (ISA-18.2; STANDARDS.md section 1)."""

from __future__ import annotations

from enum import StrEnum


class AlarmState(StrEnum):
    """Where an alarm is in its lifecycle."""

    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    RTN_UNACK = "rtn_unack"

    @property
    def listed(self) -> bool:
        """True when the alarm belongs in the active alarm list."""
        return self is not AlarmState.NORMAL

    @property
    def unacknowledged(self) -> bool:
        """True when the alarm still waits for an operator's acknowledgement."""
        return self in (AlarmState.ACTIVE_UNACK, AlarmState.RTN_UNACK)

    @property
    def label(self) -> str:
        """Words for the screen."""
        return _LABELS[self]


_LABELS = {
    AlarmState.NORMAL: "normal",
    AlarmState.ACTIVE_UNACK: "unacknowledged",
    AlarmState.ACTIVE_ACK: "acknowledged",
    AlarmState.RTN_UNACK: "returned, unacknowledged",
}


class Trigger(StrEnum):
    """What can happen to an alarm."""

    ACTIVATE = "activate"
    CLEAR = "clear"
    ACKNOWLEDGE = "acknowledge"


_TABLE: dict[tuple[AlarmState, Trigger], AlarmState] = {
    (AlarmState.NORMAL, Trigger.ACTIVATE): AlarmState.ACTIVE_UNACK,
    (AlarmState.ACTIVE_UNACK, Trigger.CLEAR): AlarmState.RTN_UNACK,
    (AlarmState.ACTIVE_UNACK, Trigger.ACKNOWLEDGE): AlarmState.ACTIVE_ACK,
    (AlarmState.ACTIVE_ACK, Trigger.CLEAR): AlarmState.NORMAL,
    # A re-activation of an acknowledged or returned alarm needs a new acknowledgement.
    (AlarmState.ACTIVE_ACK, Trigger.ACTIVATE): AlarmState.ACTIVE_UNACK,
    (AlarmState.RTN_UNACK, Trigger.ACTIVATE): AlarmState.ACTIVE_UNACK,
    (AlarmState.RTN_UNACK, Trigger.ACKNOWLEDGE): AlarmState.NORMAL,
}


def transition(state: AlarmState, event: Trigger) -> AlarmState:
    """The state after `event`; events that do not apply leave the state unchanged."""
    return _TABLE.get((state, event), state)

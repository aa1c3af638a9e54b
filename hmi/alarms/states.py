"""The ISA-18.2 / IEC 62682 alarm lifecycle as a pure function `step(status, event, now) -> status`.

No I/O and no clock reads: time comes in with the event. An alarm's status has two parts:
- the annunciation lifecycle: NORMAL, ACTIVE_UNACK, ACTIVE_ACK, RTN_UNACK, LATCHED_UNACK, LATCHED_ACK;
- three modes that take it out of the operator's list: OUT_OF_SERVICE > SHELVED > SUPPRESSED_BY_DESIGN.
While a mode hides the alarm, only its process condition is followed; when the last mode ends, an alarm whose
condition still holds is annunciated afresh (ACTIVE_UNACK), so nothing that is still wrong goes unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from hmi.texts import Text


class AlarmEventKind(StrEnum):
    """What happened to an alarm: `AlarmChange.kind`, journaled as is in `AlarmEvent.kind`."""

    ACTIVATED = "activated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESET = "reset"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"
    OUT_OF_SERVICE = "out_of_service"
    RETURNED_TO_SERVICE = "returned_to_service"
    # Management of change (ISA-18.2 / IEC 62682, the MoC lifecycle stage): a plant reload removed the alarm,
    # ending whatever state it had, or changed its definition (limit, priority, delays...) keeping its state.
    REMOVED = "removed"
    REDEFINED = "redefined"


class AlarmState(StrEnum):
    """Every state by its ISA-18.2 name."""

    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    RTN_UNACK = "rtn_unack"
    LATCHED_UNACK = "latched_unack"
    LATCHED_ACK = "latched_ack"
    SHELVED = "shelved"
    SUPPRESSED_BY_DESIGN = "suppressed_by_design"
    OUT_OF_SERVICE = "out_of_service"

    @property
    def listed(self) -> bool:
        """True when the alarm belongs in the operator's active alarm list."""
        return self in _LISTED

    @property
    def unacknowledged(self) -> bool:
        """True when the alarm still waits for an operator's acknowledgement."""
        return self in (AlarmState.ACTIVE_UNACK, AlarmState.RTN_UNACK, AlarmState.LATCHED_UNACK)

    @property
    def hidden(self) -> bool:
        """True for the modes that take an alarm out of the main list into lists of their own."""
        return self in (AlarmState.SHELVED, AlarmState.SUPPRESSED_BY_DESIGN, AlarmState.OUT_OF_SERVICE)

    @property
    def label(self) -> str:
        """Words for the screen."""
        return _LABELS[self]


_LISTED = frozenset(
    {
        AlarmState.ACTIVE_UNACK,
        AlarmState.ACTIVE_ACK,
        AlarmState.RTN_UNACK,
        AlarmState.LATCHED_UNACK,
        AlarmState.LATCHED_ACK,
    }
)
# Text: screens show them in the reader's language (screens.i18n.message).
_LABELS = {
    AlarmState.NORMAL: Text("normal"),
    AlarmState.ACTIVE_UNACK: Text("unacknowledged"),
    AlarmState.ACTIVE_ACK: Text("acknowledged"),
    AlarmState.RTN_UNACK: Text("returned, unacknowledged"),
    AlarmState.LATCHED_UNACK: Text("latched, unacknowledged"),
    AlarmState.LATCHED_ACK: Text("latched, needs reset"),
    AlarmState.SHELVED: Text("shelved"),
    AlarmState.SUPPRESSED_BY_DESIGN: Text("suppressed by design"),
    AlarmState.OUT_OF_SERVICE: Text("out of service"),
}


def state_words(state: str) -> str:
    """The screen words of a recorded state value ('rtn_unack' -> 'returned, unacknowledged'); unknown values as
    words with spaces, so an old or foreign code is still readable."""
    try:
        return AlarmState(state).label
    except ValueError:
        return state.replace("_", " ")


class Trigger(StrEnum):
    """What can happen to an alarm."""

    ACTIVATE = "activate"
    CLEAR = "clear"
    ESCALATE = "escalate"
    ACKNOWLEDGE = "acknowledge"
    RESET = "reset"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    REMOVE_FROM_SERVICE = "remove_from_service"
    RETURN_TO_SERVICE = "return_to_service"
    TICK = "tick"


@dataclass(frozen=True, slots=True)
class Shelf:
    """A shelving: until a time, or one-shot (until the alarm clears)."""

    until: datetime | None

    @property
    def one_shot(self) -> bool:
        """True when the shelving ends with the alarm's clear rather than at a time."""
        return self.until is None


@dataclass(frozen=True, slots=True)
class Event:
    """A trigger, with the shelving it asks for when it is SHELVE."""

    trigger: Trigger
    shelf: Shelf | None = None


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """An alarm's whole state; replaced, never changed."""

    lifecycle: AlarmState = AlarmState.NORMAL
    condition: bool = False
    latching: bool = False
    shelf: Shelf | None = None
    suppressed: bool = False
    out_of_service: bool = False

    @property
    def state(self) -> AlarmState:
        """The one state shown: a hiding mode wins over the lifecycle."""
        if self.out_of_service:
            return AlarmState.OUT_OF_SERVICE
        if self.shelf is not None:
            return AlarmState.SHELVED
        if self.suppressed:
            return AlarmState.SUPPRESSED_BY_DESIGN
        return self.lifecycle

    @property
    def hidden(self) -> bool:
        """True while a mode keeps the alarm out of the operator's list."""
        return self.out_of_service or self.shelf is not None or self.suppressed

    @property
    def quiet(self) -> bool:
        """True when nothing about this alarm needs remembering (normal, condition clear, no mode)."""
        return self == AlarmStatus(latching=self.latching)


def _reveal(status: AlarmStatus) -> AlarmStatus:
    """After a mode ends: annunciate afresh if the condition still holds and nothing else hides the alarm."""
    if status.hidden:
        return replace(status, lifecycle=AlarmState.NORMAL)
    return replace(status, lifecycle=AlarmState.ACTIVE_UNACK if status.condition else AlarmState.NORMAL)


_ON_ACTIVATE = {
    AlarmState.NORMAL: AlarmState.ACTIVE_UNACK,
    AlarmState.RTN_UNACK: AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK: AlarmState.ACTIVE_UNACK,
    AlarmState.LATCHED_UNACK: AlarmState.ACTIVE_UNACK,
    AlarmState.LATCHED_ACK: AlarmState.ACTIVE_UNACK,
}
_ON_ACK = {
    AlarmState.ACTIVE_UNACK: AlarmState.ACTIVE_ACK,
    AlarmState.RTN_UNACK: AlarmState.NORMAL,
    AlarmState.LATCHED_UNACK: AlarmState.LATCHED_ACK,
}


def step(status: AlarmStatus, event: Event, now: datetime) -> AlarmStatus:
    """The status after `event` at `now`. Events that do not apply return the status unchanged."""
    t = event.trigger
    s = status
    if t is Trigger.ACTIVATE:
        if s.condition:
            return s  # still the same activation; only a clear in between makes a new one
        s = replace(s, condition=True)
        return s if s.hidden else replace(s, lifecycle=_ON_ACTIVATE.get(s.lifecycle, s.lifecycle))
    if t is Trigger.CLEAR:
        if not s.condition:
            return s
        s = replace(s, condition=False)
        if s.shelf is not None and s.shelf.one_shot:
            return _reveal(replace(s, shelf=None))
        if s.hidden:
            return s
        if s.lifecycle is AlarmState.ACTIVE_UNACK:
            return replace(s, lifecycle=AlarmState.LATCHED_UNACK if s.latching else AlarmState.RTN_UNACK)
        if s.lifecycle is AlarmState.ACTIVE_ACK:
            return replace(s, lifecycle=AlarmState.LATCHED_ACK if s.latching else AlarmState.NORMAL)
        return s
    if t is Trigger.ESCALATE:
        if not s.hidden and s.lifecycle is AlarmState.ACTIVE_ACK:
            return replace(s, lifecycle=AlarmState.ACTIVE_UNACK)
        return s
    if t is Trigger.ACKNOWLEDGE:
        return s if s.hidden else replace(s, lifecycle=_ON_ACK.get(s.lifecycle, s.lifecycle))
    if t is Trigger.RESET:
        # Reset ends a latch only once it is acknowledged and the process has cleared.
        if not s.hidden and s.lifecycle is AlarmState.LATCHED_ACK and not s.condition:
            return replace(s, lifecycle=AlarmState.NORMAL)
        return s
    if t is Trigger.SHELVE:
        if event.shelf is None or s.out_of_service:
            return s
        return replace(s, shelf=event.shelf, lifecycle=AlarmState.NORMAL)
    if t is Trigger.UNSHELVE:
        return s if s.shelf is None else _reveal(replace(s, shelf=None))
    if t is Trigger.TICK:
        if s.shelf is not None and s.shelf.until is not None and now >= s.shelf.until:
            return _reveal(replace(s, shelf=None))
        return s
    if t is Trigger.SUPPRESS:
        return s if s.suppressed else replace(s, suppressed=True, lifecycle=AlarmState.NORMAL)
    if t is Trigger.UNSUPPRESS:
        return s if not s.suppressed else _reveal(replace(s, suppressed=False))
    if t is Trigger.REMOVE_FROM_SERVICE:
        # Out of service supersedes a shelving: the alarm comes back only through return to service.
        return s if s.out_of_service else replace(s, out_of_service=True, shelf=None, lifecycle=AlarmState.NORMAL)
    if t is Trigger.RETURN_TO_SERVICE:
        return s if not s.out_of_service else _reveal(replace(s, out_of_service=False))
    return s

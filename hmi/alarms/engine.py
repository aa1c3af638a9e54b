"""The alarm engine: evaluates configured alarms on good-quality tag changes and keeps the active list."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hmi.alarms.conditions import condition_active
from hmi.alarms.states import AlarmState, Trigger, transition
from hmi.config import AlarmRef, PlantConfig
from hmi.tags import TagCache, TagState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm's current lifecycle state with what the list shows; replaced whole on every change."""

    id: str
    ref: AlarmRef
    state: AlarmState
    value: Any
    activated_at: datetime
    changed_at: datetime
    activation: int = 0
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_comment: str | None = None

    @property
    def priority(self) -> int:
        """1 (highest) to 4."""
        return self.ref.alarm.priority

    @property
    def message(self) -> str:
        """The configured alarm message."""
        return self.ref.alarm.message

    @property
    def tag(self) -> str:
        """The tag this alarm watches."""
        return self.ref.tag.name

    @property
    def line(self) -> str:
        """The line the alarm belongs to."""
        return self.ref.line.name

    @property
    def area(self) -> str:
        """The area the alarm belongs to."""
        return self.ref.area.name


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """A lifecycle transition: `kind` is activated, cleared or acknowledged; `alarm` is the state after it."""

    kind: str
    alarm: Alarm
    at: datetime
    username: str | None = None
    comment: str | None = None
    action_id: str | None = None


ChangeListener = Callable[[Sequence[AlarmChange]], None]


class AlarmEngine:
    """Evaluates every configured alarm; listeners get batches of AlarmChange (journal, screens, banner)."""

    def __init__(self, plant: PlantConfig, cache: TagCache) -> None:
        self._plant = plant
        self._cache = cache
        self._by_tag: dict[str, list[AlarmRef]] = {}
        for ref in plant.alarms.values():
            self._by_tag.setdefault(ref.tag.name, []).append(ref)
        self._condition: dict[str, bool] = {}
        # Numbers each activation, so an acknowledgement can only ever land on the activation it was given for,
        # even when a PLC repeats a source timestamp.
        self._activations = 0
        self._alarms: dict[str, Alarm] = {}
        self._listeners: dict[int, ChangeListener] = {}
        self._next = 0
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Subscribe to the tags that carry alarms and evaluate their current values."""
        self._unsubscribe = self._cache.subscribe(self._by_tag, self.evaluate)
        self.evaluate(list(self._cache.snapshot(self._by_tag).values()))

    def stop(self) -> None:
        """End the cache subscription."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ------------------------------------------------------------------------------------------- queries
    def active(self) -> list[Alarm]:
        """Alarms in the list (not NORMAL), highest priority first, newest first within a priority."""
        return sorted(self._alarms.values(), key=lambda a: (a.priority, -a.activated_at.timestamp()))

    def get(self, alarm_id: str) -> Alarm | None:
        """The listed alarm `alarm_id`, or None when it is normal."""
        return self._alarms.get(alarm_id)

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Hear every batch of changes; returns the unsubscribe function."""
        self._next += 1
        key = self._next
        self._listeners[key] = listener
        return lambda: self._listeners.pop(key, None) and None

    # ------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, states: Sequence[TagState]) -> None:
        """Evaluate the alarms of the changed tags. Only GOOD values count: BAD, UNCERTAIN and STALE values
        neither raise nor clear an alarm (STANDARDS.md 1.10)."""
        changes: list[AlarmChange] = []
        by_tag = self._by_tag
        for state in states:
            refs = by_tag.get(state.name)
            if not refs or not state.good:
                continue
            for ref in refs:
                change = self._evaluate_one(ref, state)
                if change is not None:
                    changes.append(change)
        self._emit(changes)

    def _evaluate_one(self, ref: AlarmRef, state: TagState) -> AlarmChange | None:
        was = self._condition.get(ref.id, False)
        try:
            now_active = condition_active(ref.alarm, state.value, was)
        except TypeError:
            log.warning("alarm %s: cannot compare value %r of tag %s", ref.id, state.value, state.name)
            return None
        if now_active == was:
            return None
        self._condition[ref.id] = now_active
        event = Trigger.ACTIVATE if now_active else Trigger.CLEAR
        current = self._alarms.get(ref.id)
        old_state = current.state if current else AlarmState.NORMAL
        new_state = transition(old_state, event)
        at = state.time
        if now_active:
            self._activations += 1
            alarm = Alarm(ref.id, ref, new_state, state.value, at, at, self._activations)
        else:
            assert current is not None
            alarm = replace(current, state=new_state, value=state.value, changed_at=at)
        self._store(alarm)
        return AlarmChange("activated" if now_active else "cleared", alarm, at)

    # -------------------------------------------------------------------------------------- acknowledgement
    def unacknowledged(self, alarm_ids: Iterable[str]) -> list[Alarm]:
        """Those of `alarm_ids` that are listed and still wait for an acknowledgement."""
        return [a for i in alarm_ids if (a := self._alarms.get(i)) is not None and a.state.unacknowledged]

    def acknowledge(self, alarms: Sequence[Alarm], username: str, at: datetime, comment: str | None,
                    action_id: str) -> list[AlarmChange]:
        """Apply acknowledgements that are already stored; returns the changes emitted."""
        changes = []
        for old in alarms:
            current = self._alarms.get(old.id)
            # Only the activation that was acknowledged: a re-activation since then needs its own ack.
            if current is None or current.activation != old.activation or not current.state.unacknowledged:
                continue
            alarm = replace(current, state=transition(current.state, Trigger.ACKNOWLEDGE), acked_by=username,
                            acked_at=at, ack_comment=comment)
            self._store(alarm)
            changes.append(AlarmChange("acknowledged", alarm, at, username, comment, action_id))
        self._emit(changes)
        return changes

    def _store(self, alarm: Alarm) -> None:
        if alarm.state.listed:
            self._alarms[alarm.id] = alarm
        else:
            self._alarms.pop(alarm.id, None)

    def _emit(self, changes: list[AlarmChange]) -> None:
        if not changes:
            return
        for listener in list(self._listeners.values()):
            try:
                listener(changes)
            except Exception:
                log.exception("alarm listener failed")

"""The alarm engine: evaluates configured alarms on tag changes, applies delays, suppression by design and
first-out, and keeps every alarm's status; people's commands are planned here and committed once stored."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hmi.alarms.detection import condition_active
from hmi.alarms.states import AlarmEventKind, AlarmState, AlarmStatus, Event, Trigger, step
from hmi.clock import Clock, utc_now
from hmi.config import AlarmRef, PlantConfig
from hmi.listeners import Listeners
from hmi.tags import Quality, TagCache, TagState

if TYPE_CHECKING:
    from hmi.sources.server_alarms import ServerAlarm

log = logging.getLogger(__name__)

# A higher limit on the same side of the same tag: its activation escalates the lower one (re-alarming,
# ISA-18.2 / IEC 62682).
_ESCALATES = {"HH": "H", "LL": "L"}


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm's status with what the screens show; replaced whole on every change."""

    id: str
    priority: int
    message: str
    tag: str
    line: str
    area: str
    status: AlarmStatus
    changed_at: datetime
    value: Any = None
    activated_at: datetime | None = None
    activation: int = 0
    first_out: bool = False
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_comment: str | None = None
    mode_by: str | None = None
    mode_at: datetime | None = None
    mode_reason: str | None = None
    source: str = "local"
    ref: AlarmRef | None = field(default=None, compare=False)
    server: ServerAlarm | None = field(default=None, compare=False)

    @property
    def state(self) -> AlarmState:
        """The one state shown for this alarm."""
        return self.status.state

    @property
    def name(self) -> str:
        """What the alarm is about as the lists show it: the tag, or a server alarm's `Source · Condition`."""
        return self.server.title if self.source == "server" and self.server is not None else self.tag

    @property
    def shelved_until(self) -> datetime | None:
        """End of a timed shelving; None when not shelved or shelved one-shot."""
        return self.status.shelf.until if self.status.shelf else None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """A transition: `kind` names it (as the journal stores it); `alarm` is the state after.

    `action_id` is set for changes people made; the service stores those itself, with their audit entry.
    """

    kind: AlarmEventKind
    alarm: Alarm
    at: datetime
    username: str | None = None
    comment: str | None = None
    action_id: str | None = None
    before: Alarm | None = None


ChangeListener = Callable[[Sequence[AlarmChange]], None]

_COMMAND_KINDS = {
    Trigger.ACKNOWLEDGE: AlarmEventKind.ACKNOWLEDGED,
    Trigger.RESET: AlarmEventKind.RESET,
    Trigger.SHELVE: AlarmEventKind.SHELVED,
    Trigger.UNSHELVE: AlarmEventKind.UNSHELVED,
    Trigger.REMOVE_FROM_SERVICE: AlarmEventKind.OUT_OF_SERVICE,
    Trigger.RETURN_TO_SERVICE: AlarmEventKind.RETURNED_TO_SERVICE,
}


class AlarmEngine:
    """Evaluates every configured alarm; listeners get batches of AlarmChange (journal, screens, banner).

    All methods run on the event loop and never block; `tick()` is called a few times a second by the runtime
    to run on/off delays and shelving expiry on the injected clock.
    """

    def __init__(self, plant: PlantConfig, cache: TagCache, clock: Clock = utc_now) -> None:
        self._plant = plant
        self._cache = cache
        self._clock = clock
        self._policy = plant.alarm_policy
        self._by_tag: dict[str, list[AlarmRef]] = {}
        self._by_setpoint: dict[str, list[AlarmRef]] = {}
        self._by_suppressor: dict[str, list[AlarmRef]] = {}
        self._index(plant)
        self._raw: dict[str, bool] = {}
        self._pending: dict[str, tuple[bool, datetime, Any]] = {}
        self._last_sample: dict[str, tuple[float, datetime]] = {}
        self._suppressed_why: dict[str, tuple[datetime, str]] = {}
        self._alarms: dict[str, Alarm] = {}
        # A person's acknowledgement of a server alarm, sent to its server and not yet stored: the server's
        # notification of it is theirs (who, comment, action), not the server session's.
        self._server_acks: dict[str, AlarmChange] = {}
        # Those of them the server has already reported (the journal left their row to the service).
        self._server_acks_reported: dict[str, AlarmChange] = {}
        self._line_last: dict[str, datetime] = {}
        self._activations = 0
        self._listeners: Listeners[Sequence[AlarmChange]] = Listeners("alarm")
        self._unsubscribe: Callable[[], None] | None = None

    def _index(self, plant: PlantConfig) -> None:
        self._by_tag.clear()
        self._by_setpoint.clear()
        self._by_suppressor.clear()
        for ref in plant.alarms.values():
            self._by_tag.setdefault(ref.tag.name, []).append(ref)
            if ref.alarm.setpoint_tag:
                self._by_setpoint.setdefault(ref.alarm.setpoint_tag, []).append(ref)
            if ref.alarm.suppress_when:
                self._by_suppressor.setdefault(ref.alarm.suppress_when.tag, []).append(ref)

    def _inputs(self) -> set[str]:
        return set(self._by_tag) | set(self._by_setpoint) | set(self._by_suppressor)

    def start(self) -> None:
        """Subscribe to the tags alarms depend on and evaluate their current values."""
        names = self._inputs()
        self._unsubscribe = self._cache.subscribe(names, self.evaluate)
        self.evaluate(list(self._cache.snapshot(names).values()))

    def stop(self) -> None:
        """End the cache subscription."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ------------------------------------------------------------------------------- management of change
    def use_plant(self, plant: PlantConfig, *, reason: str = "plant configuration reloaded") -> list[AlarmChange]:
        """Take over a reloaded plant (ISA-18.2 / IEC 62682 management of change) and return the changes made.

        A removed alarm's state ends with a `removed` transition in the journal, whatever it was (active,
        shelved, latched...): it neither stays in the list forever nor vanishes unrecorded. A changed alarm keeps
        its state, is journaled as `redefined` with what changed, and is evaluated against its new definition
        from the tag's current value (so a lowered limit the value already exceeds activates now, and a raised one
        clears as its deadband allows). An added alarm is evaluated from the current value. Runs on the event
        loop without awaiting, so no value is evaluated half under the old and half under the new plant.
        """
        now = self._clock()
        old = self._plant
        changes: list[AlarmChange] = []
        for alarm_id in sorted(old.alarms.keys() - plant.alarms.keys()):
            changes += self._end(alarm_id, now, f"removed by management of change: {reason}")
        self._plant = plant
        self._policy = plant.alarm_policy
        self._index(plant)
        for name in [n for n in self._last_sample if n not in plant.tags]:
            del self._last_sample[name]
        renewed: list[AlarmRef] = []
        for alarm_id, ref in plant.alarms.items():
            before = old.alarms.get(alarm_id)
            if before is None:
                renewed.append(ref)
                continue
            what = _redefinition(before, ref)
            if not what:
                # Same definition: the stored alarm keeps pointing at the current plant's objects.
                if (current := self._alarms.get(alarm_id)) is not None:
                    self._alarms[alarm_id] = replace(current, ref=ref)
                continue
            renewed.append(ref)
            current = self._alarms.get(alarm_id)
            if current is None:
                continue  # quiet: nothing to keep; the new definition is evaluated below
            alarm = self._redefined(current, ref)
            self._store(alarm)
            changes.append(
                AlarmChange(AlarmEventKind.REDEFINED, alarm, now, comment=f"{what} ({reason})", before=current)
            )
        self._emit(changes)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = self._cache.subscribe(self._inputs(), self.evaluate)
        self._emit(self._reevaluate(renewed, now))
        return changes

    def end_server_alarms(self, endpoint: str, reason: str) -> list[AlarmChange]:
        """End the listed server alarms of an endpoint a plant reload removed (its monitor is stopped, so no
        one would ever clear them), journaled as `removed`."""
        now = self._clock()
        mine = [
            a.id
            for a in self._alarms.values()
            if a.source == "server" and a.server is not None and a.server.endpoint == endpoint
        ]
        changes = [c for alarm_id in mine for c in self._end(alarm_id, now, reason)]
        self._emit(changes)
        return changes

    def _end(self, alarm_id: str, now: datetime, comment: str) -> list[AlarmChange]:
        self._raw.pop(alarm_id, None)
        self._pending.pop(alarm_id, None)
        self._suppressed_why.pop(alarm_id, None)
        current = self._alarms.pop(alarm_id, None)
        if current is None:
            return []
        ended = replace(current, status=AlarmStatus(), changed_at=now, mode_by=None, mode_at=None, mode_reason=None)
        return [AlarmChange(AlarmEventKind.REMOVED, ended, now, comment=comment, before=current)]

    def _redefined(self, alarm: Alarm, ref: AlarmRef) -> Alarm:
        """The stored alarm under its new definition: what the list shows comes from it, the state stays."""
        status = alarm.status
        if status.latching != ref.alarm.latching:
            lifecycle = status.lifecycle
            if not ref.alarm.latching:
                # No longer latching: a latch that waited for a reset ends as an unlatched alarm would have.
                lifecycle = {
                    AlarmState.LATCHED_UNACK: AlarmState.RTN_UNACK,
                    AlarmState.LATCHED_ACK: AlarmState.NORMAL,
                }.get(lifecycle, lifecycle)
            status = replace(status, latching=ref.alarm.latching, lifecycle=lifecycle)
        return replace(
            alarm,
            priority=ref.alarm.priority,
            message=ref.alarm.message,
            tag=ref.tag.name,
            line=ref.line.name,
            area=ref.area.name,
            status=status,
            ref=ref,
        )

    def _reevaluate(self, refs: Sequence[AlarmRef], now: datetime) -> list[AlarmChange]:
        """Evaluate new and changed alarms from the current values at once: the cause is the change, now."""
        changes: list[AlarmChange] = []
        for ref in refs:
            rule = ref.alarm.suppress_when
            if rule is not None and (cond := self._cache.get(rule.tag)) is not None:
                changes += self._suppression(ref, cond, now)
            state = self._cache.get(ref.tag.name)
            if state is not None:
                changes += self._condition(ref, state, now, at=now)
        return changes

    # ------------------------------------------------------------------------------------------- queries
    def active(self) -> list[Alarm]:
        """The operator's list: listed states, highest priority first, newest first within a priority."""
        listed = [a for a in self._alarms.values() if a.state.listed]
        return sorted(listed, key=lambda a: (a.priority, -(a.activated_at or a.changed_at).timestamp()))

    def in_state(self, state: AlarmState) -> list[Alarm]:
        """Alarms shown in one state (e.g. the shelved, suppressed and out-of-service lists)."""
        return sorted((a for a in self._alarms.values() if a.state is state), key=lambda a: (a.priority, a.id))

    def everything(self) -> list[Alarm]:
        """Every alarm that is not quietly normal: listed, returned-unacknowledged, or in a hiding mode."""
        return list(self._alarms.values())

    def get(self, alarm_id: str) -> Alarm | None:
        """The alarm `alarm_id` when it is anything but quietly normal."""
        return self._alarms.get(alarm_id)

    def definition(self, alarm_id: str) -> AlarmRef | None:
        """The configured definition of a local alarm."""
        return self._plant.alarms.get(alarm_id)

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Hear every batch of changes; returns the unsubscribe function."""
        return self._listeners.add(listener)

    def unacknowledged(self, alarm_ids: Iterable[str]) -> list[Alarm]:
        """Those of `alarm_ids` that are listed and still wait for an acknowledgement."""
        return [a for i in alarm_ids if (a := self._alarms.get(i)) is not None and a.state.unacknowledged]

    # ------------------------------------------------------------------------------------------ standby
    def mirror(self, alarms: Sequence[Alarm], gone: Iterable[str] = (), *, reset: bool = False) -> None:
        """Hold the active instance's alarms as it sends them (hmi/cluster/feed.py): on a standby the engine does
        not evaluate, so its lists show these, and when it takes over it goes on from them, so an alarm that still
        stands is not raised (and acknowledged) a second time. Nothing is emitted: the active instance journals.

        `reset` starts a whole picture; a local alarm this plant file does not define is left out.
        """
        if reset:
            self._alarms.clear()
        for alarm in alarms:
            ref = self._plant.alarms.get(alarm.id)
            if alarm.source == "local" and ref is None:
                continue
            self._alarms[alarm.id] = replace(alarm, ref=ref)
            # The next activation here must not reuse an episode number the notifications already know.
            self._activations = max(self._activations, alarm.activation)
        for alarm_id in gone:
            self._alarms.pop(alarm_id, None)

    # ------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, states: Sequence[TagState]) -> None:
        """Evaluate the alarms that depend on the changed tags."""
        changes: list[AlarmChange] = []
        now = self._clock()
        for state in states:
            for ref in self._by_suppressor.get(state.name, ()):
                changes += self._suppression(ref, state, now)
            for ref in self._by_tag.get(state.name, ()):
                changes += self._condition(ref, state, now)
            for ref in self._by_setpoint.get(state.name, ()):
                pv = self._cache.get(ref.tag.name)
                if pv is not None:
                    # A setpoint change is the cause: it dates the transition, not the older PV sample.
                    changes += self._condition(ref, pv, now, at=max(pv.time, state.time))
            if state.good and isinstance(state.value, int | float) and not isinstance(state.value, bool):
                self._last_sample[state.name] = (float(state.value), state.time)
        self._emit(changes)

    def _raw_condition(self, ref: AlarmRef, state: TagState) -> bool | None:
        """The undelayed condition, or None when this input cannot decide it (bad-measurement handling,
        ISA-18.2 / IEC 62682)."""
        alarm = ref.alarm
        was = self._raw.get(ref.id, False)
        if alarm.type == "bad_quality":
            # A lost connection is the banner's business; a flood of per-tag alarms would hide the cause.
            return None if state.quality is Quality.STALE else state.quality is Quality.BAD
        if not state.good:
            return None
        try:
            if alarm.type == "deviation":
                sp = self._cache.get(alarm.setpoint_tag or "")
                if sp is None or not sp.good:
                    return None
                return _magnitude_active(abs(float(state.value) - float(sp.value)), alarm.limit, alarm.deadband, was)
            if alarm.type == "rate":
                last = self._last_sample.get(state.name)
                if last is None:
                    return None
                dt = (state.time - last[1]).total_seconds()
                if dt <= 0:
                    return None
                return _magnitude_active(abs(float(state.value) - last[0]) / dt, alarm.limit, alarm.deadband, was)
            return condition_active(alarm, state.value, was)
        except (TypeError, ValueError):
            log.warning("alarm %s: cannot evaluate value %r of tag %s", ref.id, state.value, state.name)
            return None

    def _condition(
        self, ref: AlarmRef, state: TagState, now: datetime, at: datetime | None = None
    ) -> list[AlarmChange]:
        raw = self._raw_condition(ref, state)
        if raw is None:
            # Input that cannot decide also cannot confirm a running on/off delay (ISA-18.2 / IEC 62682
            # alarm on-delay and off-delay, bad measurements).
            self._pending.pop(ref.id, None)
            return []
        self._raw[ref.id] = raw
        current = self._alarms.get(ref.id)
        effective = current.status.condition if current else False
        if raw == effective:
            self._pending.pop(ref.id, None)
            return []
        delay = ref.alarm.on_delay_s if raw else ref.alarm.off_delay_s
        if delay > 0:
            # The condition must hold for the whole delay (ISA-18.2 / IEC 62682 on-/off-delay); tick() completes it.
            pending = self._pending.get(ref.id)
            if pending is None or pending[0] != raw:
                self._pending[ref.id] = (raw, now, state.value)
            return []
        return self._transition(ref, raw, at or state.time, state.value)

    def _transition(self, ref: AlarmRef, active: bool, at: datetime, value: Any) -> list[AlarmChange]:
        before = self._alarms.get(ref.id) or self._quiet(ref, at)
        status = step(before.status, Event(Trigger.ACTIVATE if active else Trigger.CLEAR), at)
        if status == before.status:
            return []
        if active:
            self._activations += 1
            alarm = replace(
                before,
                status=status,
                value=value,
                activated_at=at,
                changed_at=at,
                activation=self._activations,
                first_out=False,
                acked_by=None,
                acked_at=None,
                ack_comment=None,
            )
            if status.state is AlarmState.ACTIVE_UNACK:
                alarm = replace(alarm, first_out=self._first_out(alarm.line, at))
        else:
            alarm = replace(before, status=status, value=value, changed_at=at)
        shelf_ended = not active and alarm.status.shelf is None and before.status.shelf is not None
        if shelf_ended:
            alarm = self._shown_mode(alarm)
        self._store(alarm)
        changes = [
            AlarmChange(AlarmEventKind.ACTIVATED if active else AlarmEventKind.CLEARED, alarm, at, before=before)
        ]
        if active and ref.alarm.type in _ESCALATES:
            changes += self._escalate(ref, at)
        if shelf_ended:
            changes.append(
                AlarmChange(
                    AlarmEventKind.UNSHELVED, alarm, at, comment="one-shot shelving ended with the clear", before=before
                )
            )
        return changes

    def _first_out(self, line: str, at: datetime) -> bool:
        last = self._line_last.get(line)
        self._line_last[line] = at
        return last is None or (at - last) > timedelta(seconds=self._policy.first_out_window_s)

    def _escalate(self, ref: AlarmRef, at: datetime) -> list[AlarmChange]:
        lower_type = _ESCALATES[ref.alarm.type]
        lower_ref = next((r for r in self._by_tag[ref.tag.name] if r.alarm.type == lower_type), None)
        lower = self._alarms.get(lower_ref.id) if lower_ref else None
        if lower is None:
            return []
        status = step(lower.status, Event(Trigger.ESCALATE), at)
        if status == lower.status:
            return []
        alarm = replace(lower, status=status, changed_at=at, acked_by=None, acked_at=None, ack_comment=None)
        self._store(alarm)
        return [AlarmChange(AlarmEventKind.ESCALATED, alarm, at, comment=f"escalated by {ref.id}", before=lower)]

    def _suppression(self, ref: AlarmRef, state: TagState, now: datetime) -> list[AlarmChange]:
        rule = ref.alarm.suppress_when
        if rule is None or not state.good:
            return []  # an unknown plant state neither suppresses nor releases
        before = self._alarms.get(ref.id) or self._quiet(ref, now)
        wanted = rule.holds(state.value)
        if wanted == before.status.suppressed:
            return []
        status = step(before.status, Event(Trigger.SUPPRESS if wanted else Trigger.UNSUPPRESS), state.time)
        why = f"{rule.tag} = {state.value!r}"
        if wanted:
            self._suppressed_why[ref.id] = (state.time, why)
        else:
            self._suppressed_why.pop(ref.id, None)
        alarm = replace(before, status=status, changed_at=state.time)
        if AlarmState.SUPPRESSED_BY_DESIGN in (before.state, status.state):
            # Only when suppression is the mode shown: a shelving or out of service keeps its who, when and why.
            alarm = self._shown_mode(alarm)
        # Released while the condition holds: a fresh annunciation, numbered as its own activation.
        alarm = self._revealed(alarm, before, state.time)
        self._store(alarm)
        kind = AlarmEventKind.SUPPRESSED if wanted else AlarmEventKind.UNSUPPRESSED
        return [AlarmChange(kind, alarm, state.time, comment=why, before=before)]

    def tick(self, now: datetime | None = None) -> list[AlarmChange]:
        """Complete on/off delays that have run out and end timed shelvings whose time is up."""
        now = now or self._clock()
        changes: list[AlarmChange] = []
        for alarm_id, (target, since, value) in list(self._pending.items()):
            ref = self._plant.alarms[alarm_id]
            delay = ref.alarm.on_delay_s if target else ref.alarm.off_delay_s
            if (now - since).total_seconds() >= delay:
                del self._pending[alarm_id]
                changes += self._transition(ref, target, now, value)
        for alarm in list(self._alarms.values()):
            until = alarm.shelved_until
            if until is not None and now >= until:
                status = step(alarm.status, Event(Trigger.TICK), now)
                new = self._revealed(self._shown_mode(replace(alarm, status=status, changed_at=now)), alarm, now)
                self._store(new)
                changes.append(
                    AlarmChange(AlarmEventKind.UNSHELVED, new, now, comment="shelving time ran out", before=alarm)
                )
        self._emit(changes)
        return changes

    # -------------------------------------------------------------------------------------------- commands
    def plan(
        self,
        alarm_ids: Iterable[str],
        event: Event,
        *,
        at: datetime,
        username: str,
        comment: str | None,
        action_id: str,
    ) -> list[AlarmChange]:
        """The changes a person's command would make, without making them (the service stores them first)."""
        kind = _COMMAND_KINDS[event.trigger]
        changes = []
        for alarm_id in alarm_ids:
            before = self._alarms.get(alarm_id)
            if before is None:
                ref = self._plant.alarms.get(alarm_id)
                if ref is None:
                    continue
                before = self._quiet(ref, at)
            if before.source == "server" and event.trigger is not Trigger.ACKNOWLEDGE:
                continue  # the server owns its conditions' shelving and service state
            status = step(before.status, event, at)
            if status == before.status:
                continue
            alarm = replace(before, status=status, changed_at=at)
            if event.trigger is Trigger.ACKNOWLEDGE:
                alarm = replace(alarm, acked_by=username, acked_at=at, ack_comment=comment)
            elif event.trigger in (Trigger.SHELVE, Trigger.REMOVE_FROM_SERVICE):
                alarm = replace(alarm, mode_by=username, mode_at=at, mode_reason=comment)
            elif event.trigger in (Trigger.UNSHELVE, Trigger.RETURN_TO_SERVICE):
                alarm = self._revealed(self._shown_mode(alarm), before, at)
            changes.append(AlarmChange(kind, alarm, at, username, comment, action_id, before))
        return changes

    def commit(self, planned: Sequence[AlarmChange]) -> list[AlarmChange]:
        """Apply planned changes that are stored; one whose alarm changed meanwhile (a new activation, say) is
        dropped, so an acknowledgement never lands on an activation the person did not see."""
        applied = []
        for change in planned:
            assert change.before is not None
            current = self._alarms.get(change.alarm.id)
            was = change.before
            self._server_acks_reported.pop(change.alarm.id, None)
            if self._server_acks.pop(change.alarm.id, None) is not None and self._reported(change, current):
                # The server already told us about this very acknowledgement (apply_server named the person).
                applied.append(change)
                continue
            if current is None:
                if not was.status.quiet:
                    continue
            elif current.status != was.status or current.activation != was.activation:
                continue
            self._store(change.alarm)
            applied.append(change)
        self._emit(applied)
        return applied

    @staticmethod
    def _reported(change: AlarmChange, current: Alarm | None) -> bool:
        """True when the server's own notification already shows the acknowledgement `change` plans."""
        assert change.before is not None
        if current is None:
            return change.alarm.status.quiet or not change.alarm.state.listed
        return current.activation == change.before.activation and current.status == change.alarm.status

    # -------------------------------------------------------------------------------- server (A&C) alarms
    def expect_server_ack(self, change: AlarmChange) -> None:
        """A person's planned acknowledgement of a server alarm is being sent to its server: when the server
        reports it before `commit`, the list names that person and the journal leaves the row to the service."""
        self._server_acks[change.alarm.id] = change

    def forget_server_ack(self, alarm_id: str, *, journal: bool = False) -> None:
        """The acknowledgement was refused, or not stored: the server's later notifications are its own again.
        With `journal`, one the server already reported is handed to the journal writer (it was left to the
        service, which could not store it)."""
        self._server_acks.pop(alarm_id, None)
        reported = self._server_acks_reported.pop(alarm_id, None)
        if journal and reported is not None:
            self._emit([replace(reported, action_id=None)])

    def apply_server(self, changes: Sequence[tuple[ServerAlarm, bool]]) -> None:
        """Merge OPC UA Alarms & Conditions notifications (ServerAlarm, removed) into the one alarm list; a
        ConditionMonitor listener.

        The server owns these alarms' state; the engine only mirrors it, so the list, the journal and the banner
        treat them like local ones (IEC 62541-9 Alarms & Conditions).
        """
        out: list[AlarmChange] = []
        for server, removed in changes:
            alarm_id = server_alarm_id(server.endpoint, server.condition_id)
            before = self._alarms.get(alarm_id)
            mine = self._server_acks.get(alarm_id)
            if mine is not None and (
                before is None or mine.before is None or before.activation != mine.before.activation
            ):
                mine = None  # another activation than the one the person acknowledged
            if removed or not server.retain:
                if before is not None:
                    self._alarms.pop(alarm_id, None)
                    quiet = replace(before, status=AlarmStatus(), changed_at=server.time, server=server)
                    if before.status.condition or mine is None:
                        kind = AlarmEventKind.CLEARED if before.status.condition else AlarmEventKind.ACKNOWLEDGED
                        out.append(AlarmChange(kind, quiet, server.time, username=None, before=before))
                    else:
                        out.append(replace(mine, alarm=quiet, at=server.time, before=before))
                        self._server_acks_reported[alarm_id] = out[-1]
                continue
            if server.active and not server.acked:
                lifecycle = AlarmState.ACTIVE_UNACK
            elif server.active:
                lifecycle = AlarmState.ACTIVE_ACK
            elif not server.acked:
                lifecycle = AlarmState.RTN_UNACK
            else:
                lifecycle = AlarmState.NORMAL
            area, line = self._place_of(server.source_label, server.endpoint)
            status = AlarmStatus(lifecycle=lifecycle, condition=server.active)
            new_activation = server.active and (before is None or not before.status.condition)
            if new_activation:
                self._activations += 1
            acked = server.acked and lifecycle is not AlarmState.NORMAL
            # Who acknowledged: the operator the AlarmService recorded, else only the server knows (its session).
            acked_by = (
                (before.acked_by if before is not None and before.acked_by else "OPC UA server") if acked else None
            )
            if acked and mine is not None and not (before is not None and before.acked_by):
                acked_by = mine.username
            kept = before is not None and not new_activation
            alarm = Alarm(
                alarm_id,
                server.priority,
                server.message or server.condition_label,
                server.source_name,
                line,
                area,
                status,
                server.time,
                activated_at=before.activated_at if kept and before else server.time,
                activation=before.activation if kept and before else self._activations,
                first_out=(before.first_out if kept and before else self._first_out(line, server.time)),
                acked_by=acked_by,
                acked_at=(before.acked_at if kept and before and before.acked_at else server.time) if acked else None,
                ack_comment=(server.comment or None) if acked else None,
                source="server",
                server=server,
            )
            if before is not None and before.status == status and before.message == alarm.message:
                self._store(replace(before, server=server))
                continue
            self._store(alarm)
            changed: AlarmEventKind | None
            if new_activation:
                changed = AlarmEventKind.ACTIVATED
            elif before is not None and before.status.condition and not server.active:
                changed = AlarmEventKind.CLEARED
            elif server.acked and not (before and not before.status.lifecycle.unacknowledged):
                changed = AlarmEventKind.ACKNOWLEDGED
            else:
                # Otherwise only the list shows the change (a new message, say): the journal has no kind for it.
                changed = AlarmEventKind.ACTIVATED if before is None else None
            if changed is None:
                continue
            if changed is AlarmEventKind.ACKNOWLEDGED and mine is not None:
                # The person's command: stored by the AlarmService with its audit entry, not by the journal.
                alarm = replace(alarm, acked_at=mine.at, ack_comment=mine.comment)
                self._store(alarm)
                out.append(replace(mine, alarm=alarm, at=server.time, before=before))
                self._server_acks_reported[alarm_id] = out[-1]
                continue
            out.append(AlarmChange(changed, alarm, server.time, before=before))
        self._emit(out)

    def _place_of(self, source_name: str, endpoint: str) -> tuple[str, str]:
        """The area and line a server condition belongs to: the configured line its source name starts with."""
        for area, line in self._plant.lines():
            if source_name == line.name or source_name.startswith(f"{line.name}."):
                return area.name, line.name
        return endpoint, endpoint

    # ---------------------------------------------------------------------------------------------- helpers
    def _revealed(self, alarm: Alarm, before: Alarm, at: datetime) -> Alarm:
        """An alarm coming back from a mode while its condition holds is a fresh annunciation."""
        if alarm.state is AlarmState.ACTIVE_UNACK and not before.status.lifecycle.listed:
            self._activations += 1
            # Nothing of the earlier activation (its acknowledgement, its first-out mark) carries over.
            return replace(
                alarm,
                activation=self._activations,
                activated_at=at,
                first_out=False,
                acked_by=None,
                acked_at=None,
                ack_comment=None,
            )
        return alarm

    def _shown_mode(self, alarm: Alarm) -> Alarm:
        """Who, when and why of the mode shown after another mode ended: suppression by design's, or none."""
        why = self._suppressed_why.get(alarm.id)
        if alarm.state is AlarmState.SUPPRESSED_BY_DESIGN and why is not None:
            return replace(alarm, mode_by="design", mode_at=why[0], mode_reason=why[1])
        return replace(alarm, mode_by=None, mode_at=None, mode_reason=None)

    def _quiet(self, ref: AlarmRef, at: datetime) -> Alarm:
        return Alarm(
            ref.id,
            ref.alarm.priority,
            ref.alarm.message,
            ref.tag.name,
            ref.line.name,
            ref.area.name,
            AlarmStatus(latching=ref.alarm.latching),
            at,
            ref=ref,
        )

    def _store(self, alarm: Alarm) -> None:
        if alarm.status.quiet:
            self._alarms.pop(alarm.id, None)
        else:
            self._alarms[alarm.id] = alarm

    def _emit(self, changes: list[AlarmChange]) -> None:
        if changes:
            self._listeners.emit(changes)


def _redefinition(before: AlarmRef, after: AlarmRef) -> str:
    """What changed in an alarm's definition or place, for the journal's comment; "" when nothing did."""
    parts = []
    old, new = before.alarm.model_dump(), after.alarm.model_dump()
    for key in new:
        if old.get(key) != new[key]:
            parts.append(f"{key} {old.get(key)!r} -> {new[key]!r}")
    for what, a, b in (
        ("line", before.line.name, after.line.name),
        ("area", before.area.name, after.area.name),
        ("tag type", before.tag.data_type, after.tag.data_type),
    ):
        if a != b:
            parts.append(f"{what} {a} -> {b}")
    return "; ".join(parts)


def _magnitude_active(magnitude: float, limit: float | None, deadband: float, was: bool) -> bool:
    assert limit is not None
    return magnitude >= limit - deadband if was else magnitude >= limit


# Readable parts of a server alarm id are cut to these lengths; the digest keeps the id unique regardless.
_ID_ENDPOINT_CHARS = 60
_ID_CONDITION_CHARS = 60
_ID_DIGEST_HEX = 16


def server_alarm_id(endpoint: str, condition_id: str) -> str:
    """A URL-safe, bounded (at most 141 characters), unique and stable alarm id for a server condition.

    `ua.<endpoint>.<readable condition id>~<digest>`: the readable part replaces characters outside `[A-Za-z0-9._-]`
    with `_` and is cut short, so it alone could merge two conditions (`ns=2;s=Line1/EStop` and
    `ns=2;s=Line1_EStop`); the digest is SHA-256 of the exact endpoint name and ConditionId string (IEC 62541-3
    §8.2 NodeId in text), so two different conditions never share an id and one condition always gets the
    same. Ids recorded before the digest was added (`ua.<endpoint>.<readable>`) stay in the journal as written:
    they are the readable prefix of today's id.
    """
    digest = hashlib.sha256(f"{endpoint}\n{condition_id}".encode()).hexdigest()[:_ID_DIGEST_HEX]
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in condition_id)
    return f"ua.{endpoint[:_ID_ENDPOINT_CHARS]}.{safe[:_ID_CONDITION_CHARS]}~{digest}"

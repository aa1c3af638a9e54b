"""TagState (immutable, replaced whole) and the TagCache that consumers subscribe to."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from asyncua.ua import StatusCodes

log = logging.getLogger(__name__)


class Quality(StrEnum):
    """The quality class shown beside every value: the StatusCode severity (IEC 62541-4), or STALE when the
    connection is lost."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"
    STALE = "stale"


# Symbolic names by code, built once; the low 16 bits carry info flags that are not part of the name.
_STATUS_NAMES: dict[int, str] = {v: k for k, v in vars(StatusCodes).items() if isinstance(v, int)}
GOOD = 0
BAD_TYPE_MISMATCH = StatusCodes.BadTypeMismatch
BAD_OUT_OF_RANGE = StatusCodes.BadOutOfRange
BAD_WAITING_FOR_INITIAL_DATA = StatusCodes.BadWaitingForInitialData


def classify(status_code: int) -> Quality:
    """Good / Uncertain / Bad from the two top bits of an OPC UA StatusCode (Part 4, 7.39)."""
    severity = (status_code >> 30) & 0b11
    if severity == 0:
        return Quality.GOOD
    if severity == 1:
        return Quality.UNCERTAIN
    return Quality.BAD


def status_name(status_code: int) -> str:
    """The symbolic name of a StatusCode, e.g. 'BadSensorFailure'; hex when unknown."""
    return _STATUS_NAMES.get(status_code & 0xFFFF0000) or f"0x{status_code:08X}"


@dataclass(frozen=True, slots=True)
class TagState:
    """One tag's latest value with its quality and timestamps; never mutated, only replaced."""

    name: str
    value: Any
    status_code: int
    quality: Quality
    source_time: datetime | None
    server_time: datetime | None
    received_at: datetime
    stale_since: datetime | None = None
    note: str = ""
    clock_skew_s: float = 0.0
    """How far the source time lies ahead of the HMI's clock when that is beyond the endpoint's tolerance, else 0."""

    @property
    def time(self) -> datetime:
        """SourceTimestamp, else ServerTimestamp, else time received (IEC 62541-4 DataValue)."""
        return self.source_time or self.server_time or self.received_at

    @property
    def status(self) -> str:
        """Symbolic status, e.g. 'Good' or 'BadSensorFailure'."""
        return status_name(self.status_code)

    @property
    def good(self) -> bool:
        """True only for a live value of good quality: the only kind alarms are evaluated on."""
        return self.quality is Quality.GOOD

    @property
    def skewed(self) -> bool:
        """True when the source's clock runs ahead of the HMI's by more than the endpoint's tolerance."""
        return self.clock_skew_s > 0

    def as_stale(self, since: datetime) -> TagState:
        """The same last value marked STALE since `since`; already stale states keep their first time."""
        if self.quality is Quality.STALE:
            return self
        return replace(self, quality=Quality.STALE, stale_since=since)


def coerce(data_type: str, value: Any) -> tuple[Any, int, str]:
    """Check a PLC value against the configured type: (value, status override or 0, note).

    A value of the wrong type or a non-finite number is kept for diagnosis but marked BAD, so it never shows as a
    good live number and never drives an alarm.
    """
    if value is None:
        return None, BAD_WAITING_FOR_INITIAL_DATA, "no value"
    if data_type == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, BAD_TYPE_MISMATCH, f"expected a number, got {type(value).__name__}"
        if not math.isfinite(value):
            return value, BAD_OUT_OF_RANGE, f"not a finite number: {value}"
        return float(value), 0, ""
    if data_type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value), 0, ""
            return value, BAD_TYPE_MISMATCH, f"expected an integer, got {type(value).__name__}"
        return value, 0, ""
    if data_type == "bool":
        if isinstance(value, bool):
            return value, 0, ""
        if isinstance(value, int) and value in (0, 1):
            return bool(value), 0, ""
        return value, BAD_TYPE_MISMATCH, f"expected a boolean, got {type(value).__name__}"
    if not isinstance(value, str):
        return str(value), 0, ""
    return value, 0, ""


Listener = Callable[[Sequence[TagState]], None]


class TagCache:
    """Latest TagState per tag; listeners get the changed states of the tags they asked for, batched.

    Listeners run synchronously on the event loop inside `update`, so they must only record or enqueue.
    """

    def __init__(self) -> None:
        self._states: dict[str, TagState] = {}
        self._all: dict[int, Listener] = {}
        self._by_tag: dict[str, set[int]] = {}
        self._listeners: dict[int, Listener] = {}
        self._next_id = 0

    def get(self, name: str) -> TagState | None:
        """The current state of `name`, or None before the first value."""
        return self._states.get(name)

    def snapshot(self, names: Iterable[str] | None = None) -> dict[str, TagState]:
        """Current states, of all tags or of `names`."""
        if names is None:
            return dict(self._states)
        return {n: s for n in names if (s := self._states.get(n)) is not None}

    def __len__(self) -> int:
        return len(self._states)

    def subscribe(self, names: Iterable[str] | None, listener: Listener) -> Callable[[], None]:
        """Call `listener` with changed states of `names` (all tags when None); returns the unsubscribe function."""
        self._next_id += 1
        key = self._next_id
        wanted = None if names is None else set(names)
        if wanted is None:
            self._all[key] = listener
        else:
            self._listeners[key] = listener
            for name in wanted:
                self._by_tag.setdefault(name, set()).add(key)

        def unsubscribe() -> None:
            if wanted is None:
                self._all.pop(key, None)
                return
            self._listeners.pop(key, None)
            for name in wanted:
                group = self._by_tag.get(name)
                if group is not None:
                    group.discard(key)
                    if not group:
                        del self._by_tag[name]

        return unsubscribe

    @property
    def listener_count(self) -> int:
        """How many subscriptions are open (tests check that pages end theirs)."""
        return len(self._all) + len(self._listeners)

    def listener_owners(self) -> dict[str, int]:
        """How many subscriptions each kind of listener holds (e.g. `LiveFeed._mark`: 12): a count that grows tells
        which part of the program forgot to end its subscriptions."""
        owners: dict[str, int] = {}
        for listener in (*self._all.values(), *self._listeners.values()):
            name = getattr(listener, "__qualname__", type(listener).__qualname__)
            owners[name] = owners.get(name, 0) + 1
        return owners

    def update(self, states: Sequence[TagState]) -> None:
        """Replace the states given and notify each interested listener once with its share of the batch."""
        if not states:
            return
        store = self._states
        by_tag = self._by_tag
        buckets: dict[int, list[TagState]] = {}
        for state in states:
            store[state.name] = state
            group = by_tag.get(state.name)
            if group:
                for key in group:
                    bucket = buckets.get(key)
                    if bucket is None:
                        buckets[key] = [state]
                    else:
                        bucket.append(state)
        for listener in list(self._all.values()):
            self._call(listener, states)
        for key, bucket in buckets.items():
            keyed = self._listeners.get(key)
            if keyed is not None:
                self._call(keyed, bucket)

    def mark_stale(self, names: Iterable[str], since: datetime) -> list[TagState]:
        """Turn the given tags STALE (keeping their last value); returns the states that changed."""
        changed = []
        for name in names:
            state = self._states.get(name)
            if state is not None and state.quality is not Quality.STALE:
                changed.append(state.as_stale(since))
        self.update(changed)
        return changed

    def forget(self, names: Iterable[str]) -> None:
        """Drop the states of tags that no longer exist (a plant reload removed them); listeners are not called:
        whoever followed those tags has been told by the reload itself."""
        for name in names:
            self._states.pop(name, None)

    @staticmethod
    def _call(listener: Listener, states: Sequence[TagState]) -> None:
        # One broken consumer (a page, say) must not stop the others or the source feeding the cache.
        try:
            listener(states)
        except Exception:
            log.exception("tag listener %r failed", listener)

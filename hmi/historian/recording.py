"""What the historian records: deadband and max-interval decisions on TagStates; pure, no I/O, no clock reads."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hmi.config import HistoryPolicy, PlantConfig
from hmi.tags import Quality, TagState

US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TEXT_MAX = 200  # the width of samples.text

Row = dict[str, Any]
"""One samples row: tag, t_us, value, text, quality, status."""


def to_us(when: datetime) -> int:
    """Integer microseconds since the Unix epoch (UTC) of an aware datetime; exact, no float rounding."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(t_us: int) -> datetime:
    """The aware UTC datetime of integer microseconds since the epoch."""
    return datetime.fromtimestamp(t_us // US_PER_S, UTC).replace(microsecond=t_us % US_PER_S)


def sample_time(state: TagState) -> datetime:
    """When a state happened: source time, else server time, else received; a STALE state when it went stale."""
    if state.quality is Quality.STALE and state.stale_since is not None:
        return state.stale_since
    return state.time


def drawable(quality: str, value: float | None) -> bool:
    """True when a sample is a number a trend may draw: good, or uncertain with a value (IEC 62541-4
    StatusCode: bad results are never used, uncertain ones with care)."""
    return value is not None and quality in ("good", "uncertain")


@dataclass(frozen=True, slots=True)
class TagPolicy:
    """A tag's resolved recording rules."""

    data_type: str
    deadband: float
    deadband_pct: float
    span: float | None
    max_interval_us: int
    retention_days: float

    @classmethod
    def of(cls, plant: PlantConfig, name: str) -> TagPolicy:
        """The merged history policy of tag `name` with its type and engineering range."""
        tag = plant.tags[name].tag
        policy: HistoryPolicy = plant.history_policy(name)
        span = None if tag.eng_range is None else tag.eng_range[1] - tag.eng_range[0]
        return cls(
            tag.data_type,
            policy.deadband,
            policy.deadband_pct,
            span,
            round(policy.max_interval_s * US_PER_S),
            policy.retention_days,
        )

    @property
    def numeric(self) -> bool:
        """Deadbands apply only to numbers."""
        return self.data_type in ("float", "int")


def state_row(state: TagState, t_us: int) -> Row:
    """The samples row for a state at `t_us`: numbers and bools in value, strings in text."""
    value = state.value
    number: float | None = None
    text: str | None = None
    if isinstance(value, bool):
        number = 1.0 if value else 0.0
    elif isinstance(value, int | float):
        # A non-finite number is kept out of the table (PostgreSQL would store it, SQLite turns NaN into NULL).
        number = float(value) if math.isfinite(value) else None
    elif isinstance(value, str):
        text = value[:TEXT_MAX]
    elif value is not None:
        text = repr(value)[:TEXT_MAX]
    return {
        "tag": state.name,
        "t_us": t_us,
        "value": number,
        "text": text,
        "quality": state.quality.value,
        "status": int(state.status_code),
    }


def changed_enough(last: Row, new: Row, policy: TagPolicy) -> bool:
    """Whether `new` differs from the last recorded row enough to be recorded.

    Quality or status changes always count; numbers count beyond a deadband (any configured one: absolute, or
    percent of the eng_range span, else of |last|); with no deadband any change counts; other types on any change.
    """
    if new["quality"] != last["quality"] or new["status"] != last["status"]:
        return True
    if new["text"] != last["text"]:
        return True
    a, b = last["value"], new["value"]
    if a is None or b is None:
        return a is not b
    delta: float = abs(b - a)
    if not policy.numeric:
        return delta != 0
    thresholds = []
    if policy.deadband > 0:
        thresholds.append(policy.deadband)
    if policy.deadband_pct > 0:
        base = policy.span if policy.span is not None else abs(a)
        thresholds.append(policy.deadband_pct / 100 * base)
    if not thresholds:
        return delta != 0
    return any(delta > t for t in thresholds)


def plant_policies(plant: PlantConfig) -> dict[str, TagPolicy]:
    """The recording rules of every tag of the plant whose history is enabled."""
    return {n: TagPolicy.of(plant, n) for n in plant.tags if plant.history_policy(n).enabled}


class Recorder:
    """Decides, per tag, which states become samples; remembers the last recorded row and the latest state seen.

    `offer` is called with every new state; `due(now)` returns the max-interval samples. The latest state
    suppressed by a deadband is what the max-interval sample writes, so it is never lost for good.
    """

    def __init__(self, policies: Mapping[str, TagPolicy]) -> None:
        self._policies = dict(policies)
        self._last: dict[str, Row] = {}
        self._latest: dict[str, TagState] = {}
        # Clock time (µs) of the last recording per tag: the max-interval rule counts from when we wrote,
        # so a source clock running behind does not make every tick write.
        self._last_at: dict[str, int] = {}

    @classmethod
    def for_plant(cls, plant: PlantConfig) -> Recorder:
        """A recorder for every tag of the plant whose history is enabled."""
        return cls(plant_policies(plant))

    def use_policies(self, policies: Mapping[str, TagPolicy]) -> None:
        """New recording rules (a plant reload): tags kept go on from their last recorded row, removed ones are
        forgotten, new ones start with their first value."""
        self._policies = dict(policies)
        for table in (self._last, self._latest, self._last_at):
            for name in [n for n in table if n not in self._policies]:
                del table[name]

    @property
    def names(self) -> list[str]:
        """The tags recorded."""
        return list(self._policies)

    def policy(self, name: str) -> TagPolicy | None:
        """The resolved policy of a recorded tag."""
        return self._policies.get(name)

    def offer(self, state: TagState, now_us: int) -> Row | None:
        """The row to write for a new state, or None when the deadband suppresses it."""
        policy = self._policies.get(state.name)
        if policy is None:
            return None
        self._latest[state.name] = state
        last = self._last.get(state.name)
        row = state_row(state, to_us(sample_time(state)))
        if last is not None and not changed_enough(last, row, policy):
            return None
        return self._record(row, now_us)

    def offer_all(self, states: Iterable[TagState], now_us: int) -> list[Row]:
        """Rows for several states in order."""
        return [row for s in states if (row := self.offer(s, now_us)) is not None]

    def due(self, now_us: int) -> list[Row]:
        """Max-interval samples: the latest state of each tag not recorded for its max interval.

        Each is stamped in the source's time base, the last row's time plus the clock time since it was written:
        a PLC clock ahead of the HMI's would otherwise put the repeat before the change it repeats and reorder
        the history (samples are ordered by source time, IEC 62541-4 §7.7.3 SourceTimestamp).
        """
        rows = []
        for name, state in self._latest.items():
            last_at = self._last_at.get(name, now_us)
            if now_us - last_at >= self._policies[name].max_interval_us:
                last = self._last.get(name)
                t_us = now_us if last is None else last["t_us"] + (now_us - last_at)
                rows.append(self._record(state_row(state, t_us), now_us))
        return rows

    def _record(self, row: Row, now_us: int) -> Row:
        last = self._last.get(row["tag"])
        if last is not None and row["t_us"] == last["t_us"]:
            # Two states with the same timestamp (a status change in the same scan, a tick at a change's time):
            # both are kept, one microsecond apart, so the key stays unique.
            row["t_us"] = last["t_us"] + 1
        self._last[row["tag"]] = row
        self._last_at[row["tag"]] = now_us
        return row

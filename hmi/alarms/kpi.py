"""Alarm-system performance KPIs (ISA-18.2 / IEC 62682 monitoring and assessment, EEMUA 191) from journal rows.

Pure functions: no I/O and no clock reads; the window [start, end) and the journal rows come in as arguments.

Choices this module makes, so a reader of a KPI report knows what the numbers mean:
- Only *annunciated* activations count: journal rows of kind "activated" whose state after the event is not
  shelved, suppressed by design or out of service. Escalations (H -> HH) and returns from shelving are not
  activations; the escalated alarm journals its own activation.
- An event's time is its source time, falling back to the server time (SourceTimestamp, else ServerTimestamp:
  IEC 62541-4 DataValue).
- Flood periods are fixed 10-minute periods aligned to the window start; a shorter last period still counts as a
  period. The peak is taken over the same periods, so "peak > threshold" and "some period in flood" agree.
- Chattering: the same alarm activates `chatter_count` times within `chatter_window` (sliding, inclusive: the
  first and the last of them are at most `chatter_window` apart).
- Fleeting: an activation followed by the alarm's next clear less than `fleeting_limit` later.
- Stale: an alarm that stays active and annunciated for more than `stale_after`. Its annunciation ends with a
  clear (but not the clear of a latched alarm, which stays listed until reset), a reset, or the alarm being
  shelved, suppressed or taken out of service; it starts again when an alarm returns from those modes while
  still active. Counted per day (24 h periods aligned to the window start) as the number of distinct alarms
  stale at some moment of that day; the KPI is the worst day.
- Priority bands: 1 = high, 2 = medium, 3 and 4 = low (the standard's 5 % / 15 % / 80 % split names three
  bands; with four configured priorities the two lowest share the "low" band). Targets are read as bounds:
  high <= 5 %, medium <= 15 %, low >= 80 %, since the risk the guideline guards against is too many urgent alarms.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from hmi.alarms.states import AlarmEventKind
from hmi.texts import Text

ACTIVATED = AlarmEventKind.ACTIVATED.value
CLEARED = AlarmEventKind.CLEARED.value
RESET = AlarmEventKind.RESET.value
# Removed by management of change: the alarm ends there, whatever its state was.
REMOVED = AlarmEventKind.REMOVED.value
# States after an activation that mean nobody was told: those activations are not part of the alarm load.
NOT_ANNUNCIATED = frozenset({"shelved", "suppressed_by_design", "out_of_service"})
# Kinds that take an alarm out of the operator's list, and those that bring it back.
HIDING_KINDS = frozenset(
    k.value for k in (AlarmEventKind.SHELVED, AlarmEventKind.SUPPRESSED, AlarmEventKind.OUT_OF_SERVICE)
)
RETURN_KINDS = frozenset(
    k.value for k in (AlarmEventKind.UNSHELVED, AlarmEventKind.UNSUPPRESSED, AlarmEventKind.RETURNED_TO_SERVICE)
)
# States in which an alarm stands in the operator's list because its condition holds (or it is latched).
STANDING_STATES = frozenset({"active_unack", "active_ack", "latched_unack", "latched_ack"})
KPI_KINDS = frozenset({ACTIVATED, CLEARED, RESET, REMOVED, *HIDING_KINDS, *RETURN_KINDS})
"""The journal kinds the KPIs need; the loader fetches only these."""

PRIORITY_BANDS = ("high", "medium", "low")

Comparison = Literal["<=", "<", ">="]
_SYMBOL = {"<=": "≤", "<": "<", ">=": "≥"}


@dataclass(frozen=True, slots=True)
class JournalEvent:
    """The part of an alarm journal row the KPIs need."""

    alarm_id: str
    area: str
    line: str
    priority: int
    kind: str
    state: str
    source_time: datetime | None
    server_time: datetime

    @property
    def time(self) -> datetime:
        """When it happened: the source time, else the server time (IEC 62541-4 DataValue)."""
        return self.source_time or self.server_time

    @property
    def annunciated_activation(self) -> bool:
        """True for an activation the operator was shown (not shelved, suppressed or out of service)."""
        return self.kind == ACTIVATED and self.state not in NOT_ANNUNCIATED

    @property
    def starts_standing(self) -> bool:
        """True when the alarm enters the operator's list as active: an annunciated activation or a return."""
        return self.annunciated_activation or (self.kind in RETURN_KINDS and self.state in STANDING_STATES)

    @property
    def ends_standing(self) -> bool:
        """True when the alarm leaves the list as active: cleared (unless latched), reset, or hidden."""
        if self.kind == CLEARED:
            return not self.state.startswith("latched")
        return self.kind in (RESET, REMOVED) or self.kind in HIDING_KINDS


def parse_priority(text: str | int | None) -> int:
    """The journal's priority text ("1".."4") as a number; 0 when it is missing or not a number."""
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return 0


class JournalRow(Protocol):
    """The columns of an alarm_events row the KPIs read (an AlarmEvent, or a row of those columns)."""

    @property
    def alarm_id(self) -> str: ...
    @property
    def area(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def source_time(self) -> datetime | None: ...
    @property
    def server_time(self) -> datetime: ...


def journal_event(row: JournalRow) -> JournalEvent:
    """The JournalEvent of one alarm_events row."""
    return JournalEvent(
        alarm_id=row.alarm_id,
        area=row.area,
        line=row.line,
        priority=parse_priority(row.priority),
        # The kind is a StrEnum in the model; plain text here so kinds added later need no change.
        kind=str(row.kind),
        state=row.state,
        source_time=row.source_time,
        server_time=row.server_time,
    )


def priority_band(priority: int) -> str:
    """'high' for 1, 'medium' for 2, 'low' for 3 and 4, 'unknown' otherwise."""
    if priority == 1:
        return "high"
    if priority == 2:
        return "medium"
    if priority >= 3:
        return "low"
    return "unknown"


@dataclass(frozen=True, slots=True)
class KpiTargets:
    """Targets and thresholds, defaulting to the typical benchmark values of ISA-18.2 / IEC 62682 and EEMUA 191
    (configurable)."""

    per_10min: float = 1.0
    per_10min_max: float = 2.0
    per_hour: float = 6.0
    per_hour_max: float = 12.0
    per_day: float = 150.0
    per_day_max: float = 300.0
    flood_period: timedelta = timedelta(minutes=10)
    flood_threshold: int = 10
    """A period is in flood with *more than* this many activations."""
    flood_percent: float = 1.0
    """Periods in flood must stay *below* this percentage."""
    peak_max: int = 10
    top10_share: float = 5.0
    chatter_count: int = 3
    chatter_window: timedelta = timedelta(seconds=60)
    chattering_max: int = 0
    fleeting_limit: timedelta = timedelta(seconds=5)
    fleeting_max: int = 0
    stale_after: timedelta = timedelta(hours=24)
    stale_per_day: int = 5
    """Stale alarms on any day must stay *below* this number."""
    priority_high: float = 5.0
    priority_medium: float = 15.0
    priority_low: float = 80.0

    def __post_init__(self) -> None:
        for name in ("flood_period", "chatter_window", "fleeting_limit", "stale_after"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"KpiTargets.{name} must be a positive duration")
        if self.chatter_count < 2:
            raise ValueError("KpiTargets.chatter_count must be at least 2 (one activation cannot chatter)")


DEFAULT_TARGETS = KpiTargets()


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI of a report: its value, the target it is held against, and whether it meets it."""

    key: str
    label: Text
    value: float
    unit: str
    target: float
    comparison: Comparison
    met: bool | None
    """None when the KPI cannot be judged (no activations to take a share of)."""
    maximum: float | None = None
    """The 'maximum manageable' upper bound of the average rates; None for the other KPIs."""
    detail: str = ""
    """A Text where the KPI has one (shown translated)."""

    @property
    def within_maximum(self) -> bool | None:
        """For the averages: True when at or below the maximum manageable rate; None for other KPIs."""
        return None if self.maximum is None else self.value <= self.maximum

    @property
    def target_text(self) -> str:
        """The target in words, e.g. '≤ 1 (2 maximum manageable)'."""
        unit = "" if not self.unit else (self.unit if self.unit == "%" else f" {self.unit}")
        target = f"{_SYMBOL[self.comparison]} {_number(self.target)}{unit}"
        if self.maximum is not None:
            return Text("{target} ({maximum} maximum manageable)", target=target, maximum=_number(self.maximum))
        return target

    @property
    def verdict(self) -> Text:
        """'meets target', 'misses target', 'above target, within maximum manageable' or 'not applicable'."""
        if self.met is None:
            return Text("not applicable (no activations)")
        if self.met:
            return Text("meets target")
        if self.within_maximum:
            return Text("above target, within maximum manageable")
        return Text("misses target")


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class PeriodCount:
    """Annunciated activations in one fixed period starting at `start` (for the chart)."""

    start: datetime
    count: int


@dataclass(frozen=True, slots=True)
class AlarmCount:
    """One of the most frequent alarms: its activations and their share of all activations (%)."""

    alarm_id: str
    line: str
    priority: int
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class ChatteringAlarm:
    """An alarm that chattered: the most activations within one chatter window, and its activations in total."""

    alarm_id: str
    line: str
    priority: int
    peak: int
    activations: int


@dataclass(frozen=True, slots=True)
class FleetingAlarm:
    """An alarm with activations that cleared within the fleeting limit: how many, and the shortest (s)."""

    alarm_id: str
    line: str
    priority: int
    count: int
    shortest_s: float


@dataclass(frozen=True, slots=True)
class StaleAlarm:
    """An alarm that stood more than the stale limit: since when it stood, and until when (None: still at end)."""

    alarm_id: str
    line: str
    priority: int
    since: datetime
    until: datetime | None


@dataclass(frozen=True, slots=True)
class KpiReport:
    """Every KPI for one area (None: all areas) over the window [start, end), with the details behind them."""

    area: str | None
    start: datetime
    end: datetime
    targets: KpiTargets
    activations: int
    periods: int
    flood_periods: int
    peak: int
    series: tuple[PeriodCount, ...]
    top: tuple[AlarmCount, ...]
    chattering: tuple[ChatteringAlarm, ...]
    fleeting: tuple[FleetingAlarm, ...]
    stale: tuple[StaleAlarm, ...]
    stale_by_day: tuple[PeriodCount, ...]
    priorities: dict[int, int]
    """Annunciated activations per priority; 0 collects rows without a usable priority."""
    kpis: tuple[Kpi, ...] = field(default=())

    def kpi(self, key: str) -> Kpi:
        """The KPI called `key` (KeyError when there is none)."""
        for kpi in self.kpis:
            if kpi.key == key:
                return kpi
        raise KeyError(key)

    @property
    def flood_percent(self) -> float:
        """Periods in flood as a percentage of all periods of the window."""
        return 100.0 * self.flood_periods / self.periods if self.periods else 0.0

    def band_share(self, band: str) -> float:
        """Share (%) of annunciated activations in priority band `band` ('high', 'medium', 'low')."""
        if not self.activations:
            return 0.0
        n = sum(count for priority, count in self.priorities.items() if priority_band(priority) == band)
        return 100.0 * n / self.activations


def compute_kpis(
    events: Iterable[JournalEvent],
    start: datetime,
    end: datetime,
    *,
    area: str | None = None,
    targets: KpiTargets = DEFAULT_TARGETS,
) -> KpiReport:
    """All KPIs of `area` (None: every area) over [start, end) from journal events (any order, any kinds).

    Events outside the window still matter: a clear just after `end` decides whether an activation was fleeting,
    and an activation before `start` that is still standing can be stale inside the window.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the KPI window needs timezone-aware times")
    if end <= start:
        raise ValueError(
            Text("the KPI window ends ({end}) before it starts ({start})", end=end.isoformat(), start=start.isoformat())
        )
    # A stable sort keeps the journal's own order for events with the same time (activation before its clear).
    scoped = sorted((e for e in events if area is None or e.area == area), key=lambda e: e.time)
    activations = [e for e in scoped if e.annunciated_activation and start <= e.time < end]
    n = len(activations)
    seconds = (end - start).total_seconds()

    series = _period_counts(activations, start, end, targets.flood_period)
    flood_periods = sum(1 for p in series if p.count > targets.flood_threshold)
    peak = max((p.count for p in series), default=0)
    top = _top(activations, n)
    chattering = _chattering(activations, targets)
    by_alarm: dict[str, list[JournalEvent]] = defaultdict(list)
    for event in scoped:
        by_alarm[event.alarm_id].append(event)
    fleeting = _fleeting(by_alarm, start, end, targets)
    stale, stale_by_day = _stale(by_alarm, start, end, targets)
    priorities = dict(sorted(Counter(e.priority if 1 <= e.priority <= 4 else 0 for e in activations).items()))

    report = KpiReport(
        area=area,
        start=start,
        end=end,
        targets=targets,
        activations=n,
        periods=len(series),
        flood_periods=flood_periods,
        peak=peak,
        series=series,
        top=top,
        chattering=chattering,
        fleeting=fleeting,
        stale=stale,
        stale_by_day=stale_by_day,
        priorities=priorities,
    )
    return replace(report, kpis=_kpis(report, seconds))


def _period_counts(
    activations: Sequence[JournalEvent], start: datetime, end: datetime, period: timedelta
) -> tuple[PeriodCount, ...]:
    periods = math.ceil((end - start) / period)
    counts = [0] * periods
    for event in activations:
        counts[(event.time - start) // period] += 1
    return tuple(PeriodCount(start + i * period, c) for i, c in enumerate(counts))


def _top(activations: Sequence[JournalEvent], n: int) -> tuple[AlarmCount, ...]:
    counts = Counter(e.alarm_id for e in activations)
    first: dict[str, JournalEvent] = {}
    for event in activations:
        first.setdefault(event.alarm_id, event)
    # Ties broken by id so the same journal always gives the same list.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10]
    return tuple(
        AlarmCount(alarm_id, first[alarm_id].line, first[alarm_id].priority, count, 100.0 * count / n)
        for alarm_id, count in ranked
    )


def _chattering(activations: Sequence[JournalEvent], targets: KpiTargets) -> tuple[ChatteringAlarm, ...]:
    times: dict[str, list[datetime]] = defaultdict(list)
    first: dict[str, JournalEvent] = {}
    for event in activations:
        times[event.alarm_id].append(event.time)
        first.setdefault(event.alarm_id, event)
    out = []
    for alarm_id, ts in times.items():
        # Sliding window over the sorted times: the most activations whose first and last are within the window.
        peak, lo = 0, 0
        for hi, t in enumerate(ts):
            while t - ts[lo] > targets.chatter_window:
                lo += 1
            peak = max(peak, hi - lo + 1)
        if peak >= targets.chatter_count:
            out.append(ChatteringAlarm(alarm_id, first[alarm_id].line, first[alarm_id].priority, peak, len(ts)))
    return tuple(sorted(out, key=lambda c: (-c.peak, c.alarm_id)))


def _fleeting(
    by_alarm: dict[str, list[JournalEvent]], start: datetime, end: datetime, targets: KpiTargets
) -> tuple[FleetingAlarm, ...]:
    out = []
    for alarm_id, seq in by_alarm.items():
        durations = []
        next_clear: datetime | None = None
        # Walk backwards so each activation knows the first clear after it without a search.
        for event in reversed(seq):
            if event.kind == CLEARED:
                next_clear = event.time
            elif event.annunciated_activation and start <= event.time < end and next_clear is not None:
                duration = next_clear - event.time
                if duration < targets.fleeting_limit:
                    durations.append(duration.total_seconds())
        if durations:
            out.append(FleetingAlarm(alarm_id, seq[0].line, seq[0].priority, len(durations), min(durations)))
    return tuple(sorted(out, key=lambda f: (-f.count, f.alarm_id)))


def _stale(
    by_alarm: dict[str, list[JournalEvent]], start: datetime, end: datetime, targets: KpiTargets
) -> tuple[tuple[StaleAlarm, ...], tuple[PeriodCount, ...]]:
    day = timedelta(days=1)
    days = math.ceil((end - start) / day)
    per_day: list[set[str]] = [set() for _ in range(days)]
    stale = []
    for alarm_id, seq in by_alarm.items():
        next_end: datetime | None = None
        intervals: list[tuple[datetime, datetime | None, datetime]] = []
        for event in reversed(seq):
            if event.ends_standing:
                next_end = event.time
            elif event.starts_standing and event.time < end:
                stale_from = event.time + targets.stale_after
                stop = end if next_end is None else min(next_end, end)
                # "More than" the limit: an alarm cleared exactly at the limit was never stale.
                if stop > stale_from and stop > start:
                    intervals.append(
                        (max(stale_from, start), None if next_end is None or next_end >= end else next_end, event.time)
                    )
        if not intervals:
            continue
        first = seq[0]
        for lo, until, since in sorted(intervals, key=lambda i: i[2]):
            stale.append(StaleAlarm(alarm_id, first.line, first.priority, since, until))
            hi = until or end
            for d in range(max(0, (lo - start) // day), days):
                if start + d * day >= hi:
                    break
                per_day[d].add(alarm_id)
    by_day = tuple(PeriodCount(start + d * day, len(ids)) for d, ids in enumerate(per_day))
    return tuple(sorted(stale, key=lambda s: (s.since, s.alarm_id))), by_day


def _kpis(r: KpiReport, seconds: float) -> tuple[Kpi, ...]:
    t = r.targets
    n = r.activations
    per_10min = n / (seconds / 600)
    per_hour = n / (seconds / 3600)
    per_day = n / (seconds / 86400)
    top_share = sum(a.count for a in r.top) * 100.0 / n if n else 0.0
    worst_stale_day = max((p.count for p in r.stale_by_day), default=0)
    stale_alarms = len({s.alarm_id for s in r.stale})
    period_min = t.flood_period.total_seconds() / 60
    has = n > 0
    shares = {band: r.band_share(band) for band in PRIORITY_BANDS}
    return (
        Kpi(
            "per_10min",
            Text("Average alarms per 10 minutes"),
            per_10min,
            "",
            t.per_10min,
            "<=",
            per_10min <= t.per_10min,
            t.per_10min_max,
        ),
        Kpi(
            "per_hour",
            Text("Average alarms per hour"),
            per_hour,
            "",
            t.per_hour,
            "<=",
            per_hour <= t.per_hour,
            t.per_hour_max,
        ),
        Kpi(
            "per_day",
            Text("Average alarms per day"),
            per_day,
            "",
            t.per_day,
            "<=",
            per_day <= t.per_day,
            t.per_day_max,
        ),
        Kpi(
            "flood_percent",
            Text(
                "Periods in flood (more than {threshold} alarms in {minutes:g} min)",
                threshold=t.flood_threshold,
                minutes=period_min,
            ),
            r.flood_percent,
            "%",
            t.flood_percent,
            "<",
            r.flood_percent < t.flood_percent,
            detail=Text("{flood} of {periods} periods in flood", flood=r.flood_periods, periods=r.periods),
        ),
        Kpi(
            "peak_10min",
            Text("Peak alarms in any {minutes:g}-minute period", minutes=period_min),
            r.peak,
            "",
            t.peak_max,
            "<=",
            r.peak <= t.peak_max,
        ),
        Kpi(
            "top10_share",
            Text("Share of the 10 most frequent alarms"),
            top_share,
            "%",
            t.top10_share,
            "<=",
            top_share <= t.top10_share if has else None,
            detail=Text("{top} of {n} activations", top=sum(a.count for a in r.top), n=n),
        ),
        Kpi(
            "chattering",
            Text(
                "Chattering alarms ({count}+ activations within {seconds:g} s)",
                count=t.chatter_count,
                seconds=t.chatter_window.total_seconds(),
            ),
            len(r.chattering),
            "",
            t.chattering_max,
            "<=",
            len(r.chattering) <= t.chattering_max,
        ),
        Kpi(
            "fleeting",
            Text("Fleeting alarms (active less than {seconds:g} s)", seconds=t.fleeting_limit.total_seconds()),
            len(r.fleeting),
            "",
            t.fleeting_max,
            "<=",
            len(r.fleeting) <= t.fleeting_max,
            detail=Text("{n} fleeting activations", n=sum(f.count for f in r.fleeting)),
        ),
        Kpi(
            "stale_per_day",
            Text(
                "Stale alarms on the worst day (active more than {hours:g} h)",
                hours=t.stale_after.total_seconds() / 3600,
            ),
            worst_stale_day,
            "",
            t.stale_per_day,
            "<",
            worst_stale_day < t.stale_per_day,
            detail=Text("{n} stale alarm(s) in the window", n=stale_alarms),
        ),
        Kpi(
            "priority_high",
            Text("Priority 1 (high) share"),
            shares["high"],
            "%",
            t.priority_high,
            "<=",
            shares["high"] <= t.priority_high if has else None,
        ),
        Kpi(
            "priority_medium",
            Text("Priority 2 (medium) share"),
            shares["medium"],
            "%",
            t.priority_medium,
            "<=",
            shares["medium"] <= t.priority_medium if has else None,
        ),
        Kpi(
            "priority_low",
            Text("Priority 3-4 (low) share"),
            shares["low"],
            "%",
            t.priority_low,
            ">=",
            shares["low"] >= t.priority_low if has else None,
        ),
    )

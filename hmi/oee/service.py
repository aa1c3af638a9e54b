"""OEE service: state timelines, production counts, stops with downtime reasons, OEE reports and Pareto.

Everything is computed from the historian's samples (state changes with their source times), so the ISO 22400-2
KPIs can be recomputed for any window; only the downtime reasons people give are stored here. Windows are clipped
at the injected clock's now, so a running shift counts to now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.config import Line, PlantConfig
from hmi.oee.calc import OeeResult, compute_oee
from hmi.oee.schedule import (
    Interval,
    intersect,
    merge,
    planned_busy_intervals,
    planned_stop_intervals,
    scheduled_intervals,
    subtract,
    total_s,
)
from hmi.oee.states import SEVERITY, StateCategory
from hmi.oee.timeline import NO_DATA, Segment, StateSample, build_timeline, from_us, to_us
from hmi.records.audit import AuditLog
from hmi.shifts import ShiftSlot, current_shift, previous_shifts
from hmi.store.database import Database
from hmi.store.models import DowntimeAssignment, Sample
from hmi.texts import Text

STOP_LOOKBACK_DAYS = 31
"""How far back a stop may start to be given a reason, and how far back a stop's start is searched."""
OTHER_REASON = "other"
MAX_COMMENT_LENGTH = 1000
NOT_ASSIGNED = "Not assigned"
_USABLE = ("good", "uncertain")  # qualities whose value can be used (bad/stale samples carry none)
_SAMPLES = Sample.__table__  # type: ignore[attr-defined]  # SQLModel declares it only at runtime


@dataclass(frozen=True)
class Stop:
    """A maximal period in which a line was not running, with the latest downtime reason given to it."""

    line: str
    start: datetime
    end: datetime | None
    duration_s: float
    category: StateCategory
    state: str
    reason: str | None
    reason_text: str | None
    planned: bool
    comment: str
    assigned_by: str | None
    assigned_at: datetime | None


@dataclass(frozen=True)
class LineReport:
    """How a line ran in a window (end clipped at now): OEE with the times and counts it came from."""

    line: str
    start: datetime
    end: datetime
    oee: OeeResult | None
    planned_busy_s: float
    actual_production_s: float
    unknown_s: float
    planned_downtime_s: float
    good: float
    rejects: float
    produced: float
    plan: float | None
    segments: list[Segment]
    stops: list[Stop]
    unscheduled_good: float = 0.0
    unscheduled_rejects: float = 0.0
    performance_cause: str = ""

    @property
    def recorded_busy_s(self) -> float:
        """Planned busy time with a recorded state: the time OEE and its factors are computed over."""
        return max(self.planned_busy_s - self.unknown_s, 0.0)

    @property
    def recorded_share(self) -> float | None:
        """How much of the planned busy time has a recorded state (None without planned busy time)."""
        return self.recorded_busy_s / self.planned_busy_s if self.planned_busy_s > 0 else None


@dataclass(frozen=True)
class ParetoRow:
    """Downtime of one reason in a Pareto: number of stops, their time in the schedule and its share."""

    reason: str | None
    text: str
    planned: bool
    stops: int
    duration_s: float
    share: float
    cumulative_share: float


class OeeService:
    """Line timelines, counts, stops, OEE reports and downtime reasons; checks ASSIGN_DOWNTIME and audits."""

    def __init__(self, plant: PlantConfig, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._plant = plant
        self._db = db
        self._audit = audit
        self._clock = clock

    def use_plant(self, plant: PlantConfig) -> None:
        """Take over a reloaded plant (hmi/plant_reload.py)."""
        self._plant = plant

    # ------------------------------------------------------------------------------------------------ queries

    async def timeline(self, line: str, start: datetime, end: datetime, machine: str | None = None) -> list[Segment]:
        """State segments of a line (or one of its machines) over [start, min(end, now))."""
        ln = self._line(line)
        if machine is None:
            tag = ln.state_tag
            if tag is None:
                raise ValueError(
                    Text(
                        "line {line!r} has no state_tag; name the tag holding its PackML state in the plant "
                        "configuration",
                        line=line,
                    )
                )
        else:
            found = next((m for m in ln.machines if m.name == machine), None)
            if found is None:
                known = ", ".join(m.name for m in ln.machines) or "none"
                raise ValueError(
                    Text(
                        "line {line!r} has no machine {machine!r}; known machines: {known}",
                        line=line,
                        machine=machine,
                        known=known,
                    )
                )
            if found.state_tag is None:
                raise ValueError(
                    Text(
                        "machine {machine!r} of line {line!r} has no state_tag; name the tag holding its "
                        "PackML state in the plant configuration",
                        machine=machine,
                        line=line,
                    )
                )
            tag = found.state_tag
        return await self._segments(tag, start, end)

    async def counts(self, line: str, start: datetime, end: datetime) -> tuple[float, float]:
        """Good and reject quantities produced in [start, min(end, now)) from the line's counters."""
        ln = self._line(line)
        stop_at = min(end, self._clock())
        return (
            await self._count(ln.good_count_tag, start, stop_at),
            await self._count(ln.reject_count_tag, start, stop_at),
        )

    async def stops(self, line: str, start: datetime, end: datetime) -> list[Stop]:
        """Stops of a line overlapping [start, min(end, now)), oldest first, each with its full extent."""
        ln = self._line(line)
        if ln.state_tag is None:
            return []
        return await self._stops(ln, start, end, await self._segments(ln.state_tag, start, end))

    async def stops_of_tags(self, tags: Sequence[str], start: datetime, end: datetime) -> list[Stop]:
        """Stops of the lines that `tags` belong to (lines with a state tag; unknown tags are skipped), in the
        order the lines are first named: what a trend of those tags shades."""
        lines: dict[str, None] = {}
        for name in tags:
            ref = self._plant.tags.get(name)
            if ref is not None and ref.line.state_tag is not None:
                lines.setdefault(ref.line.name)
        return [stop for line in lines for stop in await self.stops(line, start, end)]

    async def report(self, line: str, start: datetime, end: datetime) -> LineReport:
        """OEE and its inputs for a line over [start, min(end, now))."""
        ln = self._line(line)
        site = self._plant.site
        stop_at = max(start, min(end, self._clock()))
        segments = await self._segments(ln.state_tag, start, stop_at) if ln.state_tag else []
        stops = await self._stops(ln, start, stop_at, segments)
        scheduled = scheduled_intervals(site, ln.oee, start, stop_at)
        busy = subtract(scheduled, planned_stop_intervals(site, ln.oee, start, stop_at))
        # A stop given a planned reason (changeover, cleaning) is planned downtime, not lost availability.
        busy = subtract(busy, [(s.start, s.end or stop_at) for s in stops if s.planned])
        planned_busy_s = total_s(busy)
        running = intersect(_spans(segments, StateCategory.RUNNING), busy)
        actual_s = total_s(running)
        unknown_s = total_s(intersect(_spans(segments, StateCategory.UNKNOWN), busy))
        # Time without a recorded state is neither available nor lost: it stays out of the factors (ISO 22400-2
        # defines them over planned busy time the line's state is known for), and its share is shown beside them.
        recorded = subtract(busy, _spans(segments, StateCategory.UNKNOWN)) if ln.state_tag else busy
        sets = (busy, recorded, running)
        g_all, (g_busy, g_recorded, g_running) = await self._count_in(ln.good_count_tag, start, stop_at, sets)
        r_all, (r_busy, r_recorded, r_running) = await self._count_in(ln.reject_count_tag, start, stop_at, sets)
        result = plan = None
        cause = ""
        if ln.oee is not None:
            ideal_cycle_s = 60.0 / ln.oee.ideal_rate_per_min
            # Production is counted only inside planned busy time (ISO 22400-2 PQ over PBT): what a line makes
            # outside its schedule is shown on its own, never divided by the scheduled time.
            result = compute_oee(total_s(recorded), actual_s, ideal_cycle_s, g_recorded + r_recorded, g_recorded)
            rate = ln.oee.planned_rate_per_min or ln.oee.ideal_rate_per_min
            plan = rate * planned_busy_s / 60.0
            if result.performance_flagged:
                cause = _performance_cause(
                    ln.oee.ideal_rate_per_min, actual_s, g_recorded + r_recorded, g_running + r_running
                )
        return LineReport(
            ln.name,
            start,
            stop_at,
            result,
            planned_busy_s,
            actual_s,
            unknown_s,
            total_s(scheduled) - planned_busy_s,
            g_busy,
            r_busy,
            g_busy + r_busy,
            plan,
            segments,
            stops,
            unscheduled_good=g_all - g_busy,
            unscheduled_rejects=r_all - r_busy,
            performance_cause=cause,
        )

    def pareto_of(self, reports: Sequence[LineReport]) -> list[ParetoRow]:
        """Downtime by reason over the reports' lines' planned busy time in their windows, largest first (from the
        reports' stops: nothing is read again)."""
        return self._pareto([(self._line(r.line), r.stops, r.start, r.end) for r in reports])

    def _pareto(self, items: Sequence[tuple[Line, Sequence[Stop], datetime, datetime]]) -> list[ParetoRow]:
        site = self._plant.site
        totals: dict[str | None, list[float]] = {}
        info: dict[str | None, tuple[str, bool]] = {None: (NOT_ASSIGNED, False)}
        for ln, stops, start, stop_at in items:
            # Stop time outside the schedule or in a configured break is not downtime to analyse.
            busy = planned_busy_intervals(site, ln.oee, start, stop_at)
            for stop in stops:
                seconds = total_s(intersect([(stop.start, stop.end or stop_at)], busy))
                if seconds <= 0:
                    continue
                entry = totals.setdefault(stop.reason, [0, 0.0])
                entry[0] += 1
                entry[1] += seconds
                if stop.reason is not None:
                    info[stop.reason] = (stop.reason_text or stop.reason, stop.planned)
        grand = sum(d for _, d in totals.values())
        ordered = sorted(totals.items(), key=lambda kv: (-kv[1][1], -kv[1][0], info[kv[0]][0]))
        rows: list[ParetoRow] = []
        cumulative = 0.0
        for reason, (n, seconds) in ordered:
            share = seconds / grand if grand > 0 else 0.0
            cumulative += share
            text, planned = info[reason]
            rows.append(ParetoRow(reason, text, planned, int(n), seconds, share, min(cumulative, 1.0)))
        return rows

    async def by_shift(
        self, line: str, count: int = 9, now: datetime | None = None
    ) -> list[tuple[ShiftSlot, LineReport]]:
        """Reports of the last `count` shifts the line is scheduled in (the running one included), oldest first."""
        ln = self._line(line)
        now = now or self._clock()
        names = set(ln.oee.shifts) if ln.oee is not None and ln.oee.shifts else None
        out: list[tuple[ShiftSlot, LineReport]] = []
        for slot in previous_shifts(self._plant.site, now, count, names):
            out.append((slot, await self.report(line, slot.start, min(slot.end, now))))
        return out

    def windows(self, now: datetime | None = None) -> dict[str, tuple[datetime, datetime]]:
        """UTC bounds of the current 'shift', plant-local calendar 'day' and ISO 'week' (from Monday 00:00)."""
        now = now or self._clock()
        site = self._plant.site
        zone = site.zone
        today = now.astimezone(zone).date()
        monday = today - timedelta(days=today.weekday())

        def midnight(day: date) -> datetime:
            return datetime.combine(day, time(0), zone).astimezone(UTC)

        shift = current_shift(site, now)
        return {
            "shift": (shift.start, shift.end),
            # Local midnights converted one by one: a DST day is 23 or 25 hours long, a DST week 167 or 169.
            "day": (midnight(today), midnight(today + timedelta(days=1))),
            "week": (midnight(monday), midnight(monday + timedelta(days=7))),
        }

    # ------------------------------------------------------------------------------------------------ command

    async def assign_reason(
        self, ctx: ActionContext, line: str, stop_start: datetime, reason: str, comment: str = ""
    ) -> DowntimeAssignment:
        """Give the stop of `line` that began at `stop_start` a downtime reason; needs ASSIGN_DOWNTIME.

        A re-assignment adds a row (the earlier ones stay as history). ValueError for an unknown line, reason
        or stop, or 'other' without a comment.
        """
        object_id = f"{line}@{_iso(stop_start)}"
        await self._audit.require(
            ctx, Permission.ASSIGN_DOWNTIME, action="downtime.assign", object_type="downtime", object_id=object_id
        )
        ln = self._line(line)
        code = reason.strip()
        known = self._plant.downtime_reason(code)
        if known is None:
            codes = ", ".join(r.code for r in self._plant.downtime_reasons)
            raise ValueError(
                Text("unknown downtime reason {reason!r}; use one of: {codes}", reason=reason, codes=codes)
            )
        comment = comment.strip()
        if code == OTHER_REASON and not comment:
            raise ValueError(Text("reason 'other' needs a comment saying what stopped the line"))
        if len(comment) > MAX_COMMENT_LENGTH:
            raise ValueError(
                Text(
                    "the comment has {length} characters; shorten it to {most}",
                    length=len(comment),
                    most=MAX_COMMENT_LENGTH,
                )
            )
        now = self._clock()
        if not now - timedelta(days=STOP_LOOKBACK_DAYS) <= stop_start <= now:
            raise ValueError(
                Text(
                    "stops can be given a reason for {days} days; {start} is outside that (or in the future)",
                    days=STOP_LOOKBACK_DAYS,
                    start=_iso(stop_start),
                )
            )
        start_us = to_us(stop_start)
        found = [
            s
            for s in await self.stops(line, stop_start, stop_start + timedelta(microseconds=1))
            if to_us(s.start) == start_us
        ]
        if not found:
            raise ValueError(
                Text(
                    "line {line!r} has no stop starting at {start}; pick the stop from the line's list of stops",
                    line=line,
                    start=_iso(stop_start),
                )
            )
        stop = found[0]
        async with self._audit.transaction() as session:
            previous = (
                (
                    await session.execute(
                        select(DowntimeAssignment)
                        .where(DowntimeAssignment.line == ln.name, DowntimeAssignment.stop_start_us == start_us)
                        .order_by(col(DowntimeAssignment.id).desc())
                        .limit(1)
                    )
                )
                .scalars()
                .first()
            )
            row = DowntimeAssignment(
                line=ln.name,
                stop_start_us=start_us,
                reason=code,
                comment=comment,
                user_id=ctx.user_id or None,
                username=ctx.username,
                station=ctx.station,
                at=now,
                action_id=ctx.id,
            )
            session.add(row)
            await session.flush()
            await self._audit.record(
                ctx,
                "downtime.assign",
                "downtime",
                object_id,
                session=session,
                old_value=previous.reason if previous is not None else None,
                new_value=code,
                reason=comment or None,
                detail=f"line {ln.name}, stop {stop.state} ({stop.category.value}) from {_iso(stop.start)}, "
                f"reason {known.text}" + (" (planned)" if known.planned else ""),
            )
        return row

    # ------------------------------------------------------------------------------------------------ internals

    def _line(self, name: str) -> Line:
        found = self._plant.line(name)
        if found is None:
            known = ", ".join(ln.name for _, ln in self._plant.lines())
            raise ValueError(Text("unknown line {name!r}; known lines: {known}", name=name, known=known))
        return found[1]

    async def _segments(self, tag: str, start: datetime, end: datetime) -> list[Segment]:
        now = self._clock()
        stop_at = min(end, now)
        if stop_at <= start:
            return []
        s = _SAMPLES.c
        columns = (s.t_us, s.text, s.quality)
        before = select(*columns).where(s.tag == tag, s.t_us < to_us(start)).order_by(s.t_us.desc()).limit(1)
        inside = select(*columns).where(s.tag == tag, s.t_us >= to_us(start), s.t_us < to_us(stop_at)).order_by(s.t_us)
        async with self._db.session() as session:
            rows = list((await session.execute(before)).all()) + list((await session.execute(inside)).all())
        samples = [StateSample(from_us(t_us), text, quality) for t_us, text, quality in rows]
        return build_timeline(samples, start, end, now, self._plant.history_policy(tag).max_interval_s)

    async def _running_sample(self, tag: str, after: datetime, before: datetime, *, last: bool) -> datetime | None:
        """The last (or first) sample in [after, before) saying the tag's state is Execute."""
        s = _SAMPLES.c
        pick = sa.func.max(s.t_us) if last else sa.func.min(s.t_us)
        query = sa.select(pick).where(
            s.tag == tag,
            s.t_us >= to_us(after),
            s.t_us < to_us(before),
            s.quality.in_(_USABLE),
            sa.func.lower(sa.func.trim(s.text)) == "execute",
        )
        async with self._db.session() as session:
            t_us = (await session.execute(query)).scalar()
        return None if t_us is None else from_us(int(t_us))

    async def _stops(self, ln: Line, start: datetime, end: datetime, segments: list[Segment]) -> list[Stop]:
        if not segments or ln.state_tag is None:
            return []
        tag = ln.state_tag
        now = self._clock()
        stop_at = min(end, now)
        ext_start, ext_end = start, stop_at
        # A stop is known by its line and start, so one running into the window is followed back to where it
        # began (and one running out of it forward to where it ended), whatever window is asked for.
        if segments[0].category != StateCategory.RUNNING:
            floor = start - timedelta(days=STOP_LOOKBACK_DAYS)
            ext_start = await self._running_sample(tag, floor, start, last=True) or floor
        if segments[-1].category != StateCategory.RUNNING and stop_at < now:
            ext_end = await self._running_sample(tag, stop_at, now, last=False) or now
        if (ext_start, ext_end) != (start, stop_at):
            segments = await self._segments(tag, ext_start, ext_end)
        runs: list[list[Segment]] = []
        for seg in segments:
            if seg.category == StateCategory.RUNNING:
                continue
            if runs and runs[-1][-1].end == seg.start:
                runs[-1].append(seg)
            else:
                runs.append([seg])
        # A stretch with nothing recorded at all (before the first recording, the HMI down) is a gap in the record,
        # not a stop anyone can give a reason for; it stays in the timeline and in unknown time.
        # A stop that comes out of such a gap begins where its first state was recorded.
        runs = [
            r[next(i for i, seg in enumerate(r) if seg.state != NO_DATA) :]
            for r in runs
            if not all(seg.state == NO_DATA for seg in r)
        ]
        runs = [r for r in runs if r[0].start < stop_at and r[-1].end > start]
        if not runs:
            return []
        assigned = await self._assignments(ln.name, to_us(runs[0][0].start), to_us(runs[-1][0].start))
        out: list[Stop] = []
        for run in runs:
            first, last_end = run[0], run[-1].end
            ended = None if last_end >= now else last_end
            worst = max((seg.category for seg in run), key=lambda c: SEVERITY[c])
            row = assigned.get(to_us(first.start))
            reason = self._plant.downtime_reason(row.reason) if row is not None else None
            out.append(
                Stop(
                    line=ln.name,
                    start=first.start,
                    end=ended,
                    duration_s=(last_end - first.start).total_seconds(),
                    category=worst,
                    state=first.state,
                    reason=row.reason if row is not None else None,
                    reason_text=(reason.text if reason is not None else row.reason) if row is not None else None,
                    planned=reason.planned if reason is not None else False,
                    comment=row.comment if row is not None else "",
                    assigned_by=row.username if row is not None else None,
                    assigned_at=row.at if row is not None else None,
                )
            )
        return out

    async def _assignments(self, line: str, first_us: int, last_us: int) -> dict[int, DowntimeAssignment]:
        query = (
            select(DowntimeAssignment)
            .where(
                DowntimeAssignment.line == line,
                col(DowntimeAssignment.stop_start_us) >= first_us,
                col(DowntimeAssignment.stop_start_us) <= last_us,
            )
            .order_by(col(DowntimeAssignment.id))
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).scalars().all()
        # Ascending ids: the newest assignment of a stop is the one left in the dict.
        return {row.stop_start_us: row for row in rows}

    async def _count_in(
        self, tag: str | None, start: datetime, end: datetime, sets: Sequence[Sequence[Interval]]
    ) -> tuple[float, list[float]]:
        """Quantity counted in [start, end), and the part of it counted inside each set of intervals.

        An increase belongs to the time of the sample that shows it, as in `_count`; one query for all sets.
        """
        if tag is None or end <= start:
            return 0.0, [0.0 for _ in sets]
        s = _SAMPLES.c
        usable = sa.and_(s.tag == tag, s.value.is_not(None), s.quality.in_(_USABLE))
        before = (
            sa.select(s.t_us, s.value).where(usable, s.t_us < to_us(start)).order_by(s.t_us.desc()).limit(1).subquery()
        )
        inside = sa.select(s.t_us, s.value).where(usable, s.t_us >= to_us(start), s.t_us < to_us(end))
        points = sa.union_all(sa.select(before.c.t_us, before.c.value), inside).subquery()
        steps = sa.select(
            points.c.t_us, points.c.value, sa.func.lag(points.c.value).over(order_by=points.c.t_us).label("prev")
        ).subquery()
        increase = sa.case((steps.c.value >= steps.c.prev, steps.c.value - steps.c.prev), else_=steps.c.value)
        columns = [sa.func.coalesce(sa.func.sum(increase), 0.0)]
        for intervals in sets:
            spans = [sa.and_(steps.c.t_us >= to_us(a), steps.c.t_us < to_us(b)) for a, b in merge(intervals)]
            inside_set = sa.or_(*spans) if spans else sa.false()
            columns.append(sa.func.coalesce(sa.func.sum(sa.case((inside_set, increase), else_=0.0)), 0.0))
        query = sa.select(*columns).where(steps.c.prev.is_not(None))
        async with self._db.session() as session:
            row = (await session.execute(query)).one()
        return float(row[0] or 0.0), [float(v or 0.0) for v in row[1:]]

    async def _count(self, tag: str | None, start: datetime, end: datetime) -> float:
        """Quantity counted by a counter tag in [start, end): sum of increases; a drop (reset) adds the new value."""
        return (await self._count_in(tag, start, end, []))[0]


def _performance_cause(ideal_rate_per_min: float, running_s: float, produced: float, produced_running: float) -> str:
    """Why performance exceeds 100 %, from where the quantity was counted: outside running time, or faster than
    the ideal rate while running."""
    if produced <= 0:
        return ""
    outside = produced - produced_running
    if running_s <= 0 or outside / produced > 0.05:
        return Text(
            "{outside:,.0f} of {produced:,.0f} items were counted while the line's state was not Execute: "
            "the state tag and the counters disagree (check the state tag's mapping and the PLC's counters)",
            outside=outside,
            produced=produced,
        )
    achieved = produced_running / (running_s / 60.0)
    return Text(
        "while running the line made {achieved:,.1f} items/min, more than its ideal rate of "
        "{ideal:g}/min: raise ideal_rate_per_min in the plant file",
        achieved=achieved,
        ideal=ideal_rate_per_min,
    )


def _spans(segments: Sequence[Segment], cat: StateCategory) -> list[Interval]:
    return [(seg.start, seg.end) for seg in segments if seg.category == cat]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")

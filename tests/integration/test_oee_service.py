"""OEE service end to end on both databases: samples as the historian writes them in, reports and stops out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.oee.service import OeeService
from hmi.oee.states import StateCategory
from hmi.oee.timeline import to_us
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import DowntimeAssignment, Sample
from tests.conftest import sign_in

PLANT = """
site:
  name: OEE test plant
  timezone: {zone}
  shifts:
    - {{name: Early, start: "06:00", end: "14:00"}}
    - {{name: Late, start: "14:00", end: "22:00"}}
    - {{name: Night, start: "22:00", end: "06:00"}}
endpoints: [{{name: e, url: "opc.tcp://127.0.0.1:4840"}}]
areas:
  - name: A
    lines:
{lines}
"""
LINE = """
      - name: {name}
        state_tag: {name}.State
        good_count_tag: {name}.Good
        reject_count_tag: {name}.Reject
        oee: {oee}
        tags:
          - {{name: {name}.State, endpoint: e, node_id: "ns=2;s={name}.State", data_type: string}}
          - {{name: {name}.Good, endpoint: e, node_id: "ns=2;s={name}.Good", data_type: int}}
          - {{name: {name}.Reject, endpoint: e, node_id: "ns=2;s={name}.Reject", data_type: int}}
        machines:
          - name: Filler
            state_tag: {name}.Filler.State
            tags: [{{name: {name}.Filler.State, endpoint: e, node_id: "ns=2;s={name}.Filler.State", data_type: string}}]
"""
LINES = {
    # 0.5 min per item, scheduled in the early shift only: the worked example of tests/unit/test_oee_calc.py.
    "L1": "{ideal_rate_per_min: 2, shifts: [Early]}",
    "L2": '{ideal_rate_per_min: 2, shifts: [Early], planned_stops: [{name: Lunch, start: "11:30", end: "12:00"}]}',
    "L3": "{ideal_rate_per_min: 2, planned_rate_per_min: 1.5}",
}
DAY = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday; the plant below runs on UTC unless a test says otherwise


def plant(zone: str = "UTC") -> PlantConfig:
    lines = "".join(LINE.format(name=name, oee=oee) for name, oee in LINES.items())
    return parse_config(PLANT.format(zone=zone, lines=lines))


def h(hours: float, minutes: float = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hours, minutes=minutes)


async def insert(db: Database, rows: Sequence[dict[str, object]]) -> None:
    async with db.session(write=True) as session:
        await session.execute(sa.insert(Sample.__table__), list(rows))  # type: ignore[attr-defined]
        await session.commit()


def states(
    tag: str,
    changes: Sequence[tuple[datetime, str | None, str]],
    until: datetime,
    every: timedelta = timedelta(minutes=10),
) -> list[dict[str, object]]:
    """State samples as the historian writes them: each change, then re-written every max interval."""
    rows: list[dict[str, object]] = []
    for i, (t, text, quality) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else until
        while t < end:
            rows.append({"tag": tag, "t_us": to_us(t), "value": None, "text": text, "quality": quality, "status": 0})
            t += every
    return rows


def run(tag: str, *changes: tuple[datetime, str], until: datetime) -> list[dict[str, object]]:
    return states(tag, [(t, s, "good") for t, s in changes], until)


def counter(tag: str, *points: tuple[datetime, float]) -> list[dict[str, object]]:
    return [{"tag": tag, "t_us": to_us(t), "value": v, "text": None, "quality": "good", "status": 0} for t, v in points]


async def vector_shift(db: Database, line: str = "L1") -> None:
    """An early shift of the worked example: 60 min Held, 760 good and 20 rejects counted."""
    await insert(db, run(f"{line}.State", (h(5, 50), "Execute"), (h(9), "Held"), (h(10), "Execute"), until=h(14, 10)))
    await insert(db, counter(f"{line}.Good", (h(5, 55), 1000), (h(9), 1400), (h(13, 59), 1760), (h(14, 5), 1800)))
    await insert(db, counter(f"{line}.Reject", (h(5, 55), 5), (h(9), 15), (h(13, 59), 25)))


@pytest.fixture
def oee(db: Database, audit: AuditLog, clock: ManualClock) -> OeeService:
    return OeeService(plant(), db, audit, clock)


async def person(users: UserService, role: Role = Role.OPERATOR) -> ActionContext:
    return (await sign_in(users, f"p-{role.value}", role, station="panel-1")).for_action()


# ---------------------------------------------------------------------------------------------------- reports


@pytest.mark.req("OEE-001")
async def test_the_worked_example_from_samples(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await vector_shift(db)
    clock.set(h(15))
    report = await oee.report("L1", h(6), h(14))
    assert (report.planned_busy_s, report.actual_production_s, report.unknown_s) == (480 * 60, 420 * 60, 0)
    assert (report.good, report.rejects, report.produced) == (760, 20, 780)
    assert report.oee is not None
    assert round(report.oee.availability or 0, 4) == 0.875
    assert round(report.oee.performance or 0, 4) == 0.9286
    assert round(report.oee.quality or 0, 4) == 0.9744
    assert round(report.oee.oee or 0, 4) == 0.7917
    assert report.plan == 960  # the ideal rate (no planned rate given) over 480 min
    assert [(s.state, s.category) for s in report.segments] == [
        ("Execute", StateCategory.RUNNING),
        ("Held", StateCategory.DOWN),
        ("Execute", StateCategory.RUNNING),
    ]
    assert len(report.stops) == 1
    stop = report.stops[0]
    assert (stop.start, stop.end, stop.duration_s, stop.state, stop.category) == (
        h(9),
        h(10),
        3600,
        "Held",
        StateCategory.DOWN,
    )
    assert (stop.reason, stop.reason_text, stop.planned, stop.assigned_by) == (None, None, False, None)


@pytest.mark.req("OEE-001")
async def test_a_running_shift_is_computed_up_to_now(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await vector_shift(db)
    clock.set(h(9, 30))
    report = await oee.report("L1", h(6), h(14))
    assert report.end == h(9, 30)
    assert (report.planned_busy_s, report.actual_production_s) == (3.5 * 3600, 3 * 3600)
    assert report.good == 400  # the 13:59 sample lies in the future of this clock
    [stop] = report.stops
    assert (stop.start, stop.end, stop.duration_s) == (h(9), None, 1800)
    assert await oee.counts("L1", h(6), h(14)) == (400, 10)


@pytest.mark.req("OEE-003")
async def test_planned_stops_are_not_planned_busy_time(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await insert(
        db,
        run(
            "L2.State",
            (h(5, 50), "Execute"),
            (h(9), "Held"),
            (h(10), "Execute"),
            (h(11, 30), "Stopped"),
            (h(12), "Execute"),
            until=h(14, 10),
        ),
    )
    clock.set(h(15))
    report = await oee.report("L2", h(6), h(14))
    assert report.planned_busy_s == 450 * 60
    assert report.planned_downtime_s == 30 * 60
    assert report.actual_production_s == 390 * 60
    assert report.oee is not None
    assert report.oee.availability == pytest.approx(390 / 450)
    # The lunch stop is a stop of the line, but no downtime in the Pareto: it lies in a planned stop.
    assert [s.state for s in report.stops] == ["Held", "Stopped"]
    [row] = oee.pareto_of([report])
    assert (row.reason, row.stops, row.duration_s) == (None, 1, 3600)


@pytest.mark.req("OEE-003")
async def test_a_planned_reason_moves_the_stop_out_of_busy_time(
    db: Database, oee: OeeService, users: UserService, clock: ManualClock
) -> None:
    await vector_shift(db)
    clock.set(h(15))
    await oee.assign_reason(await person(users), "L1", h(9), "changeover")
    report = await oee.report("L1", h(6), h(14))
    assert (report.planned_busy_s, report.actual_production_s, report.planned_downtime_s) == (420 * 60, 420 * 60, 3600)
    assert report.oee is not None
    assert report.oee.availability == 1.0
    assert report.stops[0].planned
    assert report.stops[0].reason_text == "Changeover"


@pytest.mark.req("OEE-006")
async def test_counter_reset_and_baseline_before_the_window(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await insert(db, counter("L1.Good", (h(5), 900), (h(5, 55), 1000), (h(9), 1500), (h(9, 30), 0), (h(13, 59), 260)))
    await insert(db, counter("L1.Reject", (h(6), 3), (h(7), 2), (h(8), 4)))  # first sample at the window start
    await insert(
        db, [{"tag": "L1.Good", "t_us": to_us(h(10)), "value": None, "text": None, "quality": "stale", "status": 0}]
    )
    clock.set(h(15))
    assert await oee.counts("L1", h(6), h(14)) == (760, 4)  # 500 + 260; rejects 3 -> 2 (reset) -> 4: 2 + 2
    assert await oee.counts("L1", h(14), h(15)) == (0, 0)


@pytest.mark.req("OEE-005")
async def test_unknown_periods_count_against_availability(db: Database, oee: OeeService, clock: ManualClock) -> None:
    rows = states(
        "L1.State",
        [(h(5, 50), "Execute", "good"), (h(8), None, "stale"), (h(8, 30), "Execute", "good")],
        until=h(11, 1),
    )
    # Nothing recorded 11:00-12:30 (historian down): Execute is trusted 15 min (1.5 x max interval 600 s).
    rows += run("L1.State", (h(12, 30), "Execute"), until=h(14, 10))
    await insert(db, rows)
    clock.set(h(15))
    report = await oee.report("L1", h(6), h(14))
    assert report.unknown_s == (30 + 75) * 60
    assert report.actual_production_s == (480 - 105) * 60
    # The stale stretch is a stop (the line may have stood); nothing recorded at all is a gap in the record,
    # counted as unknown time but not listed as a stop to give a reason for.
    assert [(s.start, s.end, s.state, s.category) for s in report.stops] == [
        (h(8), h(8, 30), "Stale", StateCategory.UNKNOWN),
    ]
    assert [(s.start, s.end) for s in report.segments if s.state == "No data"] == [(h(11, 15), h(12, 30))]


@pytest.mark.req("OEE-005")
async def test_line_without_data_or_machine_timeline(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await insert(db, run("L1.Filler.State", (h(6), "Execute"), (h(7), "Suspended"), until=h(8)))
    clock.set(h(8))
    segments = await oee.timeline("L1", h(6), h(8), machine="Filler")
    assert [(s.state, s.category, s.duration_s) for s in segments] == [
        ("Execute", StateCategory.RUNNING, 3600),
        ("Suspended", StateCategory.STARVED_BLOCKED, 3600),
    ]
    report = await oee.report("L1", h(6), h(8))
    assert report.unknown_s == report.planned_busy_s == 7200
    assert report.oee is not None
    # Nothing recorded in planned time: the factors are unknown, not zero.
    assert (report.oee.availability, report.oee.oee, report.recorded_share) == (None, None, 0.0)
    with pytest.raises(ValueError, match="no machine 'Capper'; known machines: Filler"):
        await oee.timeline("L1", h(6), h(8), machine="Capper")
    with pytest.raises(ValueError, match="unknown line 'L9'; known lines: L1, L2, L3"):
        await oee.report("L9", h(6), h(8))


@pytest.mark.req("OEE-006")
async def test_production_outside_the_schedule_is_counted_apart(
    db: Database, oee: OeeService, clock: ManualClock
) -> None:
    # L1 is scheduled in the early shift only; it also runs the late shift (unscheduled) and makes 900 there.
    await vector_shift(db)
    await insert(db, run("L1.State", (h(14, 10), "Execute"), until=h(22)))
    await insert(db, counter("L1.Good", (h(18), 2300), (h(21, 59), 2700)))
    await insert(db, counter("L1.Reject", (h(21, 59), 30)))
    clock.set(h(23))
    report = await oee.report("L1", h(0), h(24))  # "Today"
    assert report.oee is not None
    # The day's OEE is the early shift's: the late shift's items are not divided by the scheduled time.
    assert (report.good, report.rejects) == (760, 20)
    assert round(report.oee.performance or 0, 4) == 0.9286
    assert round(report.oee.oee or 0, 4) == 0.7917
    assert not report.oee.performance_flagged
    assert (report.unscheduled_good, report.unscheduled_rejects) == (40 + 900, 5)  # 14:05 and the late shift


@pytest.mark.req("OEE-005")
async def test_unrecorded_time_stays_out_of_the_factors(db: Database, oee: OeeService, clock: ManualClock) -> None:
    # Recorded only 06:00-08:00 of the early shift (the HMI was installed then switched off): 25 % recorded.
    await insert(db, run("L1.State", (h(6), "Execute"), (h(7), "Held"), until=h(8)))
    await insert(db, counter("L1.Good", (h(6), 0), (h(7), 30)))
    await insert(db, counter("L1.Reject", (h(6), 0)))
    clock.set(h(15))
    report = await oee.report("L1", h(6), h(14))
    assert report.oee is not None
    assert report.recorded_share == pytest.approx(125 / 480)  # Held is trusted 15 min after its 07:50 sample
    assert report.oee.availability == pytest.approx(60 / 125)
    assert report.oee.oee == pytest.approx(30 * 30 / (125 * 60))


@pytest.mark.req("OEE-002")
async def test_performance_above_100_names_its_cause(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await insert(db, run("L1.State", (h(6), "Execute"), until=h(14)))
    await insert(db, counter("L1.Good", (h(6), 0), (h(14) - timedelta(seconds=1), 1440)))  # 3/min, ideal is 2
    clock.set(h(15))
    report = await oee.report("L1", h(6), h(14))
    assert report.oee is not None
    assert report.oee.performance_flagged
    assert "made 3.0 items/min, more than its ideal rate of 2/min" in report.performance_cause
    # Counted while the state said Held: the state tag and the counters disagree, the ideal rate is not to blame.
    await insert(db, run("L2.State", (h(6), "Execute"), (h(7), "Held"), until=h(14)))
    await insert(db, counter("L2.Good", (h(6), 0), (h(6, 59), 100), (h(10), 800)))
    report = await oee.report("L2", h(6), h(14))
    assert report.oee is not None
    assert report.oee.performance_flagged
    assert report.performance_cause.startswith("700 of 800 items were counted while the line's state was not Execute")


# ------------------------------------------------------------------------------------------------------ stops


@pytest.mark.req("OEE-005")
async def test_stops_keep_their_true_bounds_whatever_the_window(
    db: Database, oee: OeeService, clock: ManualClock
) -> None:
    await vector_shift(db)
    clock.set(h(15))
    for start, end in ((h(9, 30), h(12)), (h(6), h(9, 30)), (h(9, 15), h(9, 45))):
        [stop] = await oee.stops("L1", start, end)
        assert (stop.start, stop.end, stop.duration_s) == (h(9), h(10), 3600)
    assert await oee.stops("L1", h(10), h(14)) == []


@pytest.mark.req("OEE-005")
async def test_a_stop_out_of_a_recording_gap_starts_at_its_first_record(
    db: Database, oee: OeeService, clock: ManualClock
) -> None:
    # The HMI's first record of the line says Held: the stop begins there, not 31 days back.
    await insert(db, run("L1.State", (h(7), "Held"), (h(8), "Execute"), until=h(9)))
    clock.set(h(9))
    [stop] = await oee.stops("L1", h(6), h(9))
    assert (stop.start, stop.end, stop.state) == (h(7), h(8), "Held")


@pytest.mark.req("OEE-007")
async def test_assign_a_reason_and_reassign_keeps_history(
    db: Database, oee: OeeService, audit: AuditLog, users: UserService, clock: ManualClock
) -> None:
    await vector_shift(db)
    clock.set(h(15))
    ctx = await person(users)
    first = await oee.assign_reason(ctx, "L1", h(9), "jam")
    assert (first.reason, first.at, first.action_id, first.username, first.station) == (
        "jam",
        h(15),
        ctx.id,
        ctx.username,
        "panel-1",
    )
    clock.advance(60)
    lead = await person(users, Role.LEAD)
    await oee.assign_reason(lead, "L1", h(9), "material", "  bottles ran out  ")
    [stop] = await oee.stops("L1", h(6), h(14))
    assert (stop.reason, stop.reason_text, stop.comment, stop.assigned_by, stop.assigned_at) == (
        "material",
        "Material missing (starved)",
        "bottles ran out",
        lead.username,
        h(15, 1),
    )
    async with db.session() as session:
        rows = (await session.execute(sa.select(DowntimeAssignment).order_by(DowntimeAssignment.id))).scalars().all()
    assert [(r.reason, r.stop_start_us) for r in rows] == [("jam", to_us(h(9))), ("material", to_us(h(9)))]
    entries = await audit.query(action="downtime.assign")
    assert [(e.old_value, e.new_value, e.action_id) for e in entries] == [
        ("jam", "material", lead.id),
        (None, "jam", ctx.id),
    ]
    assert entries[0].reason == "bottles ran out"
    assert entries[0].object_id == "L1@2025-01-06T09:00:00.000000+00:00"
    assert await audit.verify() is None


@pytest.mark.req("OEE-007")
async def test_assignment_is_refused_without_the_permission(
    db: Database, oee: OeeService, audit: AuditLog, users: UserService, clock: ManualClock
) -> None:
    await vector_shift(db)
    clock.set(h(15))
    manager = await person(users, Role.MANAGER)
    with pytest.raises(PermissionDenied):
        await oee.assign_reason(manager, "L1", h(9), "jam")
    [denied] = await audit.query(action="downtime.assign.denied")
    assert (denied.action_id, denied.username, denied.station) == (manager.id, manager.username, "panel-1")
    assert (await oee.stops("L1", h(6), h(14)))[0].reason is None


@pytest.mark.parametrize(
    ("line", "start", "reason", "comment", "message"),
    [
        ("L1", h(9), "coffee", "", r"unknown downtime reason 'coffee'; use one of: jam, material, .*other"),
        ("L1", h(9), "other", " ", "reason 'other' needs a comment"),
        ("L9", h(9), "jam", "", "unknown line 'L9'"),
        ("L1", h(9, 1), "jam", "", "line 'L1' has no stop starting at 2025-01-06T09:01:00.000000"),
        ("L1", h(8), "jam", "", "line 'L1' has no stop starting at"),
        ("L1", h(9) - timedelta(days=40), "jam", "", "for 31 days"),
        ("L1", h(16), "jam", "", "in the future"),
    ],
)
@pytest.mark.req("OEE-007")
async def test_assignment_validation(
    db: Database,
    oee: OeeService,
    users: UserService,
    clock: ManualClock,
    line: str,
    start: datetime,
    reason: str,
    comment: str,
    message: str,
) -> None:
    await vector_shift(db)
    clock.set(h(15))
    with pytest.raises(ValueError, match=message):
        await oee.assign_reason(await person(users), line, start, reason, comment)


@pytest.mark.req("OEE-007")
async def test_other_with_a_comment_is_accepted(
    db: Database, oee: OeeService, users: UserService, clock: ManualClock
) -> None:
    await vector_shift(db)
    clock.set(h(15))
    row = await oee.assign_reason(await person(users), "L1", h(9), "other", "forklift in the way")
    assert (row.reason, row.comment) == ("other", "forklift in the way")


@pytest.mark.req("OEE-008")
async def test_pareto_orders_reasons_by_downtime(
    db: Database, oee: OeeService, users: UserService, clock: ManualClock
) -> None:
    await insert(
        db,
        run(
            "L1.State",
            (h(5, 50), "Execute"),
            (h(7), "Held"),
            (h(8), "Execute"),
            (h(9), "Suspended"),
            (h(9, 30), "Execute"),
            (h(10), "Aborting"),
            (h(10, 5), "Aborted"),
            (h(10, 20), "Execute"),
            (h(11), "Stopped"),
            (h(11, 10), "Execute"),
            until=h(14, 10),
        ),
    )
    await insert(db, run("L2.State", (h(5, 50), "Execute"), (h(12, 10), "Idle"), (h(13), "Execute"), until=h(14, 10)))
    clock.set(h(15))
    ctx = await person(users)
    await oee.assign_reason(ctx, "L1", h(7), "jam")
    await oee.assign_reason(ctx, "L1", h(9), "material")
    await oee.assign_reason(ctx, "L1", h(10), "jam")
    stops = await oee.stops("L1", h(6), h(14))
    assert [(s.state, s.category, s.duration_s) for s in stops] == [
        ("Held", StateCategory.DOWN, 3600),
        ("Suspended", StateCategory.STARVED_BLOCKED, 1800),
        ("Aborting", StateCategory.DOWN, 1200),
        ("Stopped", StateCategory.IDLE, 600),
    ]
    rows = oee.pareto_of([await oee.report("L1", h(6), h(14)), await oee.report("L2", h(6), h(14))])
    assert [(r.reason, r.text, r.stops, r.duration_s) for r in rows] == [
        ("jam", "Jam / mechanical fault", 2, 80 * 60),
        (None, "Not assigned", 2, 60 * 60),
        ("material", "Material missing (starved)", 1, 30 * 60),
    ]
    assert [round(r.share, 4) for r in rows] == [round(80 / 170, 4), round(60 / 170, 4), round(30 / 170, 4)]
    assert [round(r.cumulative_share, 4) for r in rows] == [round(80 / 170, 4), round(140 / 170, 4), 1.0]
    assert oee.pareto_of([await oee.report("L1", h(15), h(16))]) == []


# ------------------------------------------------------------------------------------------- shifts and windows


@pytest.mark.req("OEE-008")
async def test_by_shift_over_a_midnight_crossing_shift(db: Database, oee: OeeService, clock: ManualClock) -> None:
    await insert(db, run("L3.State", (h(21), "Execute"), (h(23, 30), "Held"), (h(24, 30), "Execute"), until=h(27)))
    await insert(db, counter("L3.Good", (h(21), 0), (h(21, 30), 60), (h(22), 120), (h(23, 30), 300), (h(26, 59), 660)))
    clock.set(h(27))  # 03:00 on Tuesday, inside Monday's night shift
    shifts = await oee.by_shift("L3", 3)
    assert [(slot.name, slot.date.day) for slot, _ in shifts] == [("Early", 6), ("Late", 6), ("Night", 6)]
    early, late, night = (report for _, report in shifts)
    assert early.oee is not None
    # Nothing recorded in the early shift: its availability is unknown, not zero.
    assert (early.actual_production_s, early.unknown_s, early.oee.availability) == (0, 8 * 3600, None)
    assert (late.actual_production_s, late.good) == (3600, 60)
    assert night.end == h(27)
    assert (night.planned_busy_s, night.actual_production_s, night.good) == (5 * 3600, 4 * 3600, 600)
    assert night.plan == 1.5 * 300  # the planned rate over the 300 planned minutes so far
    [stop] = night.stops
    assert (stop.start, stop.end, stop.category) == (h(23, 30), h(24, 30), StateCategory.DOWN)
    # L1 runs the early shift only: its trend lists early shifts alone.
    assert [(s.name, s.date.day) for s, _ in await oee.by_shift("L1", 2)] == [("Early", 5), ("Early", 6)]


@pytest.mark.req("OEE-008")
async def test_windows_across_the_dst_change_in_berlin(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    service = OeeService(plant("Europe/Berlin"), db, audit, clock)
    now = datetime(2025, 3, 30, 12, tzinfo=UTC)  # Sunday 14:00 CEST; clocks went forward at 02:00 that night
    clock.set(now)
    windows = service.windows()
    assert windows["week"] == (
        datetime(2025, 3, 24, tzinfo=berlin).astimezone(UTC),
        datetime(2025, 3, 31, tzinfo=berlin).astimezone(UTC),
    )
    assert windows["week"][1] - windows["week"][0] == timedelta(hours=167)
    assert windows["day"] == (datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 30, 22, tzinfo=UTC))
    # 14:00 local: the late shift has just begun (14:00-22:00 CEST).
    assert windows["shift"] == (datetime(2025, 3, 30, 12, tzinfo=UTC), datetime(2025, 3, 30, 20, tzinfo=UTC))
    # A week of early shifts running flat out, recorded every 10 minutes.
    week_start = windows["week"][0]
    await insert(db, run("L1.State", (week_start - timedelta(minutes=5), "Execute"), until=now))
    await insert(db, counter("L1.Good", *[(week_start + timedelta(hours=k), 120.0 * k) for k in range(168)]))
    report = await service.report("L1", *windows["week"])
    assert report.end == now
    assert report.planned_busy_s == report.actual_production_s == 7 * 8 * 3600
    # Now is 157 h into the 167-h week: hourly samples 0..156 lie before it, the first is the baseline; those of
    # the 7 early shifts (8 a day) are production in planned busy time, the rest is unscheduled production.
    assert report.good == 120 * 7 * 8
    assert report.unscheduled_good == 120 * (156 - 7 * 8)
    assert report.stops == []

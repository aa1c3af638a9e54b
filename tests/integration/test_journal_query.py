"""Journal queries, CSV export and the KPI loader on a real SQLite file and the local PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.alarms.journal_query import (
    CSV_COLUMNS,
    EXPORT_ACTION,
    JournalFilter,
    export_journal,
    journal_csv,
    load_kpi_events,
    query_journal,
    read_journal_page,
)
from hmi.alarms.kpi import compute_kpis
from hmi.alarms.kpi_service import KPI_ACTION, kpi_report, require_kpi_access
from hmi.config import QueryLimits
from hmi.limits import RangeTooLong, TooManyRows
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, AlarmEventKind

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def row(alarm_id: str, seconds: float, kind: str = "activated", **fields: Any) -> dict[str, Any]:
    """An alarm_events row `seconds` after T0 (source and server time alike unless given)."""
    at = T0 + timedelta(seconds=seconds)
    tag = alarm_id.rsplit(".", 1)[0]
    state = {"activated": "active_unack", "cleared": "normal"}.get(kind, "active_ack")
    base: dict[str, Any] = {
        "alarm_id": alarm_id,
        "tag": tag,
        "area": "Packing",
        "line": "L1",
        "priority": "3",
        "kind": AlarmEventKind(kind),
        "state": state,
        "value": None,
        "message": f"{tag} alarm",
        "source_time": at,
        "server_time": at,
        "user_id": None,
        "username": None,
        "comment": None,
        "action_id": None,
    }
    return base | fields


async def insert(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.session() as session:
        await session.execute(sa.insert(AlarmEvent), rows)
        await session.commit()


@pytest.fixture
async def journal(db: Database) -> Database:
    await insert(
        db,
        [
            row("L1.M1.Temp.H", 0, priority="2", value="85.0"),
            row("L1.M1.Temp.H", 30, "acknowledged", priority="2", username="olga", comment="valve checked"),
            row("L1.M1.Temp.H", 60, "cleared", priority="2", state="normal", value="70.0"),
            row("L2.M1.Jam.discrete", 120, priority="1", line="L2", value="True"),
            row("F1.Level_Low.L", 180, area="Filling", line="F1", tag="F1.Level_Low", priority="4", value="-3.5"),
            row("L1.M2.Speed.L", 240, tag="L1.M2.Speed", state="shelved"),
        ],
    )
    return db


@pytest.mark.req("ALM-025")
async def test_newest_first(journal: Database) -> None:
    rows = await query_journal(journal, JournalFilter())
    assert [(r.alarm_id, str(r.kind)) for r in rows] == [
        ("L1.M2.Speed.L", "activated"),
        ("F1.Level_Low.L", "activated"),
        ("L2.M1.Jam.discrete", "activated"),
        ("L1.M1.Temp.H", "cleared"),
        ("L1.M1.Temp.H", "acknowledged"),
        ("L1.M1.Temp.H", "activated"),
    ]
    assert all(r.server_time.tzinfo is not None for r in rows)


@pytest.mark.req("ALM-025")
async def test_same_server_time_keeps_insertion_order_newest_first(db: Database) -> None:
    await insert(db, [row("A.H", 0), row("B.H", 0), row("C.H", 0)])
    assert [r.alarm_id for r in await query_journal(db, JournalFilter())] == ["C.H", "B.H", "A.H"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (JournalFilter(line="L2"), ["L2.M1.Jam.discrete"]),
        (JournalFilter(area="Filling"), ["F1.Level_Low.L"]),
        (JournalFilter(priority=1), ["L2.M1.Jam.discrete"]),
        (JournalFilter(priority="2"), ["L1.M1.Temp.H"] * 3),
        (JournalFilter(tag="temp"), ["L1.M1.Temp.H"] * 3),
        (JournalFilter(tag="M1."), ["L2.M1.Jam.discrete", "L1.M1.Temp.H", "L1.M1.Temp.H", "L1.M1.Temp.H"]),
        (JournalFilter(alarm_id="L1.M2.Speed.L"), ["L1.M2.Speed.L"]),
        (JournalFilter(kind="cleared"), ["L1.M1.Temp.H"]),
        (JournalFilter(state="shelved"), ["L1.M2.Speed.L"]),
        (JournalFilter(username="olga"), ["L1.M1.Temp.H"]),
        (
            JournalFilter(since=T0 + timedelta(seconds=60), until=T0 + timedelta(seconds=180)),
            ["L2.M1.Jam.discrete", "L1.M1.Temp.H"],
        ),
        (JournalFilter(line="L1", kind="activated"), ["L1.M2.Speed.L", "L1.M1.Temp.H"]),
        (JournalFilter(line="L9"), []),
        (JournalFilter(line="", tag="", kind=""), None),  # empty text means no restriction
    ],
)
@pytest.mark.req("ALM-025")
async def test_filters(journal: Database, flt: JournalFilter, expected: list[str] | None) -> None:
    rows = await query_journal(journal, flt)
    if expected is None:
        assert len(rows) == 6
    else:
        assert [r.alarm_id for r in rows] == expected


@pytest.mark.req("ALM-025")
async def test_tag_text_is_not_a_pattern(journal: Database) -> None:
    # "_" and "%" match only themselves.
    assert [r.alarm_id for r in await query_journal(journal, JournalFilter(tag="Level_Low"))] == ["F1.Level_Low.L"]
    assert await query_journal(journal, JournalFilter(tag="Level%Low")) == []
    # As a pattern, "1_" would match the "1." of every L1 tag.
    assert await query_journal(journal, JournalFilter(tag="1_")) == []


@pytest.mark.req("ALM-025")
async def test_a_kind_this_version_does_not_know_finds_nothing(journal: Database) -> None:
    assert await query_journal(journal, JournalFilter(kind="teleported")) == []


@pytest.mark.req("ALM-025")
async def test_limit(journal: Database) -> None:
    rows = await query_journal(journal, JournalFilter(), limit=2)
    assert [r.alarm_id for r in rows] == ["L1.M2.Speed.L", "F1.Level_Low.L"]


@pytest.mark.req("REC-016")
async def test_naive_filter_time_is_refused(journal: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await query_journal(journal, JournalFilter(since=datetime(2025, 1, 6)))  # noqa: DTZ001 - the point


@pytest.mark.req("ALM-025")
async def test_csv_has_utc_and_local_times_and_every_row(journal: Database) -> None:
    rows = await query_journal(journal, JournalFilter(alarm_id="L1.M1.Temp.H"))
    text = journal_csv(rows, BERLIN)
    records = list(csv.reader(io.StringIO(text)))
    assert tuple(records[0]) == CSV_COLUMNS
    assert len(records) == 4
    newest = dict(zip(CSV_COLUMNS, records[1], strict=True))
    assert newest["time_utc"] == "2025-01-06T06:01:00.000+00:00"
    assert newest["time_local"] == "2025-01-06T07:01:00.000+01:00"
    assert newest["zone"] == "Europe/Berlin"
    assert (newest["kind"], newest["state"], newest["value"]) == ("cleared", "normal", "70.0")
    ack = dict(zip(CSV_COLUMNS, records[2], strict=True))
    assert (ack["username"], ack["comment"]) == ("olga", "valve checked")


@pytest.mark.req("SEC-007")
async def test_csv_keeps_negative_numbers_as_numbers(journal: Database) -> None:
    rows = await query_journal(journal, JournalFilter(area="Filling"))
    records = list(csv.DictReader(io.StringIO(journal_csv(rows, BERLIN))))
    assert records[0]["value"] == "-3.5"


@pytest.mark.req("SEC-007")
async def test_csv_defuses_formulas(db: Database) -> None:
    await insert(
        db,
        [
            row(
                "X.H",
                0,
                message='=HYPERLINK("http://evil.example","click")',
                comment="+1+cmd|' /C calc'!A0",
                username="@sum",
                value="-2+3",
                tag="\tT",
                line='L1,"quoted"\nnext',
            )
        ],
    )
    rows = await query_journal(db, JournalFilter())
    record = next(csv.DictReader(io.StringIO(journal_csv(rows, BERLIN))))
    assert record["message"] == '\'=HYPERLINK("http://evil.example","click")'
    assert record["comment"] == "'+1+cmd|' /C calc'!A0"
    assert record["username"] == "'@sum"
    assert record["value"] == "'-2+3"
    assert record["tag"] == "'\tT"
    # Commas, quotes and line breaks survive the round trip.
    assert record["line"] == 'L1,"quoted"\nnext'


@pytest.mark.req("ALM-026")
async def test_kpi_loader_reads_lifecycle_rows_of_the_window(journal: Database) -> None:
    events = await load_kpi_events(journal, T0, T0 + timedelta(hours=1))
    # The acknowledgement is no KPI input; everything else is, oldest first.
    assert [(e.alarm_id, e.kind) for e in events] == [
        ("L1.M1.Temp.H", "activated"),
        ("L1.M1.Temp.H", "cleared"),
        ("L2.M1.Jam.discrete", "activated"),
        ("F1.Level_Low.L", "activated"),
        ("L1.M2.Speed.L", "activated"),
    ]
    assert events[0].priority == 2
    assert type(events[0].kind) is str
    assert [e.alarm_id for e in await load_kpi_events(journal, T0, T0 + timedelta(hours=1), "Filling")] == [
        "F1.Level_Low.L"
    ]


@pytest.mark.req("ALM-026")
async def test_kpi_loader_allows_for_clock_skew(db: Database) -> None:
    # Source time inside the window, recorded by the server 2 minutes after the window closed.
    await insert(db, [row("A.H", 3599, server_time=T0 + timedelta(seconds=3720))])
    events = await load_kpi_events(db, T0, T0 + timedelta(hours=1))
    assert compute_kpis(events, T0, T0 + timedelta(hours=1)).activations == 1


@pytest.mark.req("ALM-026")
async def test_kpi_loader_carries_in_alarms_standing_before_the_window(db: Database) -> None:
    day = 86400
    await insert(
        db,
        [
            row("Standing.H", -3 * day),  # never cleared: stale inside the window
            row("Cleared.H", -3 * day),
            row("Cleared.H", -3 * day + 60, "cleared"),
            row("Latched.H", -2 * day),
            row("Latched.H", -2 * day + 10, "cleared", state="latched_unack"),
            row("Shelved.H", -2 * day),
            row("Shelved.H", -2 * day + 10, "shelved", state="shelved"),
            row("Ancient.H", -90 * day),  # older than the look-back
            row("Other.H", -3 * day, area="Filling"),
        ],
    )
    events = await load_kpi_events(db, T0, T0 + timedelta(days=1), "Packing")
    assert sorted(e.alarm_id for e in events) == ["Latched.H", "Standing.H"]
    report = compute_kpis(events, T0, T0 + timedelta(days=1), area="Packing")
    assert sorted(s.alarm_id for s in report.stale) == ["Latched.H", "Standing.H"]
    assert report.kpi("stale_per_day").value == 2
    assert report.activations == 0


@pytest.mark.req("ALM-026")
async def test_kpi_report_for_a_manager_with_a_known_flood(db: Database, audit: AuditLog) -> None:
    await insert(db, [row(f"A{i}.H", 600 + i) for i in range(11)] + [row("B.H", 4000)])
    manager = ActionContext(1, "max", "Max Manager", Role.MANAGER)
    report = await kpi_report(db, audit, manager, T0, T0 + timedelta(days=1), "Packing")
    assert (report.activations, report.flood_periods, report.peak) == (12, 1, 11)
    assert await audit.query() == []  # an allowed look is not an audit event


@pytest.mark.req("ALM-028")
async def test_kpi_report_refused_to_an_operator_and_audited(db: Database, audit: AuditLog) -> None:
    operator = ActionContext(2, "olga", "Olga Operator", Role.OPERATOR, station="panel-1")
    with pytest.raises(PermissionDenied):
        await kpi_report(db, audit, operator, T0, T0 + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        await require_kpi_access(audit, operator, "Packing")
    entries = await audit.query(username="olga")
    assert [(e.action, e.object_type, e.object_id) for e in entries] == [
        (f"{KPI_ACTION}.denied", "alarm_kpi", "Packing"),
        (f"{KPI_ACTION}.denied", "alarm_kpi", "all areas"),
    ]
    assert entries[0].station == "panel-1"
    assert await audit.verify() is None


# ------------------------------------------------------------------------------------------ limits, paging, exports

SMALL = QueryLimits(page_rows=10, list_max_days=30, export_max_days=7, export_max_rows=100)
OLGA = ActionContext(2, "olga", "Olga Operator", Role.OPERATOR, station="panel-1")


@pytest.mark.req("SEC-010")
async def test_the_kpi_window_has_a_maximum_span(db: Database, audit: AuditLog) -> None:
    manager = ActionContext(1, "max", "Max Manager", Role.MANAGER)
    with pytest.raises(RangeTooLong, match="the KPI window covers 401 days; at most 400 days"):
        await kpi_report(db, audit, manager, T0, T0 + timedelta(days=401))
    with pytest.raises(RangeTooLong, match="at most 30 days"):
        await kpi_report(db, audit, manager, T0, T0 + timedelta(days=31), max_days=30)


@pytest.mark.req("ALM-025")
async def test_the_journal_is_read_a_page_at_a_time(db: Database) -> None:
    await insert(db, [row(f"A{i:02}.H", i) for i in range(25)])
    flt = JournalFilter(since=T0)
    now = T0 + timedelta(hours=1)
    first = await read_journal_page(db, flt, limits=SMALL, now=now)
    assert ([r.alarm_id for r in first.rows][:2], first.first, first.last, first.more) == (
        ["A24.H", "A23.H"],
        1,
        10,
        True,
    )
    second = await read_journal_page(db, flt, limits=SMALL, now=now, offset=10)
    third = await read_journal_page(db, flt, limits=SMALL, now=now, offset=20)
    assert (second.first, second.last, second.more) == (11, 20, True)
    assert (third.first, third.last, third.more, third.rows[-1].alarm_id) == (21, 25, False, "A00.H")
    ids = [r.id for page in (first, second, third) for r in page.rows]
    assert len(set(ids)) == 25


@pytest.mark.req("SEC-010")
async def test_a_journal_list_beyond_its_maximum_span_is_refused(db: Database) -> None:
    now = T0 + timedelta(days=31)
    with pytest.raises(RangeTooLong, match="the journal range covers 31 days; at most 30 days"):
        await read_journal_page(db, JournalFilter(since=T0), limits=SMALL, now=now)
    with pytest.raises(RangeTooLong, match="needs a start time"):
        await read_journal_page(db, JournalFilter(), limits=SMALL, now=now)


@pytest.mark.req("REC-006")
async def test_a_journal_export_is_audited_with_who_the_filter_and_the_row_count(
    journal: Database, audit: AuditLog
) -> None:
    flt = JournalFilter(since=T0, until=T0 + timedelta(hours=1), line="L1")
    done = await export_journal(
        journal, audit, OLGA, flt, BERLIN, limits=SMALL, now=T0 + timedelta(hours=2), filename="alarm-journal.csv"
    )
    assert done.rows == 4
    assert len(list(csv.DictReader(io.StringIO(done.csv)))) == 4
    [entry] = await audit.query(action=EXPORT_ACTION)
    assert (entry.username, entry.station, entry.object_type, entry.object_id) == (
        "olga",
        "panel-1",
        "journal",
        "alarm-journal.csv",
    )
    assert json.loads(entry.new_value or "") == {
        "since": T0.isoformat(),
        "until": (T0 + timedelta(hours=1)).isoformat(),
        "line": "L1",
    }
    assert entry.detail == "4 rows to alarm-journal.csv"
    assert await audit.verify() is None


@pytest.mark.req("SEC-010")
async def test_a_journal_export_beyond_its_bounds_is_refused_and_not_recorded(db: Database, audit: AuditLog) -> None:
    await insert(db, [row(f"A{i:03}.H", i) for i in range(101)])
    with pytest.raises(TooManyRows, match="more than 100 rows; narrow the filter"):
        await export_journal(
            db,
            audit,
            OLGA,
            JournalFilter(since=T0),
            BERLIN,
            limits=SMALL,
            now=T0 + timedelta(hours=1),
            filename="j.csv",
        )
    with pytest.raises(RangeTooLong, match="the export covers 8 days; at most 7 days"):
        await export_journal(
            db, audit, OLGA, JournalFilter(since=T0), BERLIN, limits=SMALL, now=T0 + timedelta(days=8), filename="j.csv"
        )
    assert await audit.query(action=EXPORT_ACTION) == []

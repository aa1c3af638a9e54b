"""Reading the alarm journal: filtered queries for the journal screen, CSV export, and the rows the KPIs need."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col

from hmi.access.context import ActionContext
from hmi.alarms.kpi import KPI_KINDS, JournalEvent, journal_event, parse_priority
from hmi.alarms.states import AlarmState
from hmi.config import QueryLimits
from hmi.limits import Page, check_rows, check_span, page_of
from hmi.records.audit import AuditLog
from hmi.records.export_cells import safe_cell
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, AlarmEventKind
from hmi.texts import Text

KINDS = tuple(kind.value for kind in AlarmEventKind)
"""Journal kinds a filter may ask for."""
STATES = tuple(state.value for state in AlarmState)
"""Alarm states by their names in the ISA-18.2 / IEC 62682 alarm state diagram, as journaled in `AlarmEvent.state`."""

DEFAULT_LIMIT = 5000
# Source clocks (PLCs) and the HMI's server clock disagree a little; the KPI loader filters on the indexed server
# time with this margin and lets the KPI code cut the window exactly on the event (source) time.
CLOCK_SKEW = timedelta(minutes=5)
# How far back the KPI loader looks for alarms already standing when the window opens (for stale alarms).
STANDING_LOOKBACK = timedelta(days=30)

CSV_COLUMNS = (
    "time_utc",
    "time_local",
    "zone",
    "server_time_utc",
    "priority",
    "area",
    "line",
    "tag",
    "alarm_id",
    "message",
    "kind",
    "state",
    "value",
    "username",
    "comment",
    "action_id",
)


@dataclass(frozen=True, slots=True)
class JournalFilter:
    """What to list: server time in [since, until), exact area / line / priority / alarm / kind / state / user,
    and a case-insensitive substring of the tag. None (or empty text) means no restriction."""

    since: datetime | None = None
    until: datetime | None = None
    area: str | None = None
    line: str | None = None
    priority: int | str | None = None
    tag: str | None = None
    alarm_id: str | None = None
    kind: str | None = None
    state: str | None = None
    username: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The set criteria as text (times in ISO 8601 UTC), for the export's audit row."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else str(value)
            for name in self.__slots__
            if (value := getattr(self, name)) not in (None, "")
        }


def _conditions(flt: JournalFilter) -> list[sa.ColumnElement[bool]]:
    for when in (flt.since, flt.until):
        if when is not None and when.tzinfo is None:
            raise ValueError("journal filter times must be timezone-aware")
    out: list[sa.ColumnElement[bool]] = []
    if flt.since is not None:
        out.append(col(AlarmEvent.server_time) >= flt.since)
    if flt.until is not None:
        out.append(col(AlarmEvent.server_time) < flt.until)
    for column, value in (
        (AlarmEvent.area, flt.area),
        (AlarmEvent.line, flt.line),
        (AlarmEvent.alarm_id, flt.alarm_id),
        (AlarmEvent.state, flt.state),
        (AlarmEvent.username, flt.username),
    ):
        if value:
            out.append(col(column) == value)
    if flt.priority not in (None, ""):
        out.append(col(AlarmEvent.priority) == str(parse_priority(flt.priority)))
    if flt.kind:
        # Compared as plain text: a kind this version's enum does not know yet finds nothing instead of failing.
        out.append(sa.type_coerce(AlarmEvent.kind, sa.String) == flt.kind)
    if flt.tag:
        # The person types text, not a pattern: % and _ match themselves.
        escaped = flt.tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        out.append(col(AlarmEvent.tag).ilike(f"%{escaped}%", escape="\\"))
    return out


async def query_journal(
    db: Database, flt: JournalFilter, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[AlarmEvent]:
    """Journal rows matching `flt`, newest first (server time, then insertion order), at most `limit` after
    skipping `offset`."""
    statement = (
        sa.select(AlarmEvent)
        .where(*_conditions(flt))
        .order_by(col(AlarmEvent.server_time).desc(), col(AlarmEvent.id).desc())
        .offset(max(0, offset))
        .limit(max(1, limit))
    )
    async with db.session() as session:
        return list((await session.execute(statement)).scalars())


async def read_journal_page(
    db: Database, flt: JournalFilter, *, limits: QueryLimits, now: datetime, offset: int = 0
) -> Page[AlarmEvent]:
    """One page (`limits.page_rows`) of the journal, newest first; RangeTooLong beyond `limits.list_max_days`."""
    check_span(Text("the journal range"), flt.since, flt.until or now, limits.list_max_days)
    rows = await query_journal(db, flt, limit=limits.page_rows + 1, offset=offset)
    return page_of(rows, max(0, offset), limits.page_rows)


EXPORT_ACTION = "journal.export"


@dataclass(frozen=True, slots=True)
class JournalExport:
    """A journal CSV ready to hand over, already on the audit trail."""

    csv: str
    rows: int


async def export_journal(
    db: Database,
    audit: AuditLog,
    ctx: ActionContext,
    flt: JournalFilter,
    zone: ZoneInfo,
    *,
    limits: QueryLimits,
    now: datetime,
    filename: str,
) -> JournalExport:
    """The journal rows `flt` selects as CSV (newest first, as listed), audited as `journal.export` with who, the
    filter and the row count before it is handed over (21 CFR 11.10(e)); RangeTooLong / TooManyRows beyond the
    export bounds, with nothing recorded."""
    check_span(Text("the export"), flt.since, flt.until or now, limits.export_max_days)
    rows = await query_journal(db, flt, limit=limits.export_max_rows + 1)
    check_rows(Text("the export"), len(rows), limits.export_max_rows)
    text = await asyncio.to_thread(journal_csv, rows, zone)
    # Recorded before the file leaves: an export that cannot be audited does not happen.
    await audit.record(
        ctx, EXPORT_ACTION, "journal", filename, new_value=flt.as_dict(), detail=f"{len(rows)} rows to {filename}"
    )
    return JournalExport(text, len(rows))


def _iso(dt: datetime | None, zone: ZoneInfo | None = None) -> str:
    if dt is None:
        return ""
    return dt.astimezone(zone or UTC).isoformat(timespec="milliseconds")


def journal_csv(rows: Iterable[AlarmEvent], zone: ZoneInfo) -> str:
    """The rows as CSV with a header: event time in UTC and plant local (ISO 8601 with offset), every cell safe
    to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        when = row.source_time or row.server_time
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    _iso(when),
                    _iso(when, zone),
                    zone.key,
                    _iso(row.server_time),
                    row.priority,
                    row.area,
                    row.line,
                    row.tag,
                    row.alarm_id,
                    row.message,
                    str(row.kind),
                    row.state,
                    row.value,
                    row.username,
                    row.comment,
                    row.action_id,
                )
            ]
        )
    return out.getvalue()


def _kpi_columns() -> tuple[Any, ...]:
    return (
        AlarmEvent.alarm_id,
        AlarmEvent.area,
        AlarmEvent.line,
        AlarmEvent.priority,
        sa.type_coerce(AlarmEvent.kind, sa.String).label("kind"),
        AlarmEvent.state,
        AlarmEvent.source_time,
        AlarmEvent.server_time,
        AlarmEvent.id,
    )


async def load_kpi_events(
    db: Database,
    since: datetime,
    until: datetime,
    area: str | None = None,
    *,
    lookback: timedelta = STANDING_LOOKBACK,
    skew: timedelta = CLOCK_SKEW,
) -> list[JournalEvent]:
    """The journal events `compute_kpis` needs for [since, until), oldest first.

    That is every KPI-relevant row (activations, clears, resets, shelving and the like) with a server time within
    `skew` of the window, plus, for each alarm, its last such row in the `lookback` before the window when that
    row left it standing, so an alarm active since before the window can be counted as stale.
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("the KPI window needs timezone-aware times")
    kinds = sa.type_coerce(AlarmEvent.kind, sa.String).in_(sorted(KPI_KINDS))
    in_area = [col(AlarmEvent.area) == area] if area is not None else []
    window = (
        sa.select(*_kpi_columns())
        .where(kinds, col(AlarmEvent.server_time) >= since - skew, col(AlarmEvent.server_time) < until + skew, *in_area)
        .order_by(col(AlarmEvent.server_time), col(AlarmEvent.id))
    )
    # The latest lifecycle row of each alarm before the window, ignoring a latched alarm's clear (it stays listed).
    rank = (
        sa.func.row_number()
        .over(
            partition_by=AlarmEvent.alarm_id,
            order_by=(col(AlarmEvent.server_time).desc(), col(AlarmEvent.id).desc()),
        )
        .label("rank")
    )
    latest = (
        sa.select(*_kpi_columns(), rank)
        .where(
            kinds,
            col(AlarmEvent.server_time) >= since - skew - lookback,
            col(AlarmEvent.server_time) < since - skew,
            *in_area,
            sa.not_(
                sa.and_(sa.type_coerce(AlarmEvent.kind, sa.String) == "cleared", col(AlarmEvent.state).like("latched%"))
            ),
        )
        .subquery()
    )
    carried = sa.select(latest).where(latest.c.rank == 1)
    async with db.session() as session:
        before = [journal_event(r) for r in (await session.execute(carried)).all()]
        rows = [journal_event(r) for r in (await session.execute(window)).all()]
    return sorted((e for e in before if e.starts_standing), key=lambda e: e.server_time) + rows


async def activations(
    db: Database, tags: Sequence[str], since: datetime, until: datetime, limit: int = 200
) -> list[AlarmEvent]:
    """Activations of alarms on `tags` journaled in [since, until), newest first (trend marks)."""
    if not tags:
        return []
    statement = (
        sa.select(AlarmEvent)
        .where(
            col(AlarmEvent.tag).in_(list(tags)),
            col(AlarmEvent.server_time) >= since,
            col(AlarmEvent.server_time) < until,
            sa.type_coerce(AlarmEvent.kind, sa.String) == AlarmEventKind.ACTIVATED.value,
        )
        .order_by(col(AlarmEvent.server_time).desc())
        .limit(max(1, limit))
    )
    async with db.session() as session:
        return list((await session.execute(statement)).scalars())


async def activation_counts(db: Database, since: datetime, until: datetime) -> dict[str, int]:
    """Alarm activations per line journaled in [since, until) (the alarm load on the manager overview)."""
    statement = (
        sa.select(col(AlarmEvent.line), sa.func.count())
        .where(
            col(AlarmEvent.server_time) >= since,
            col(AlarmEvent.server_time) < until,
            sa.type_coerce(AlarmEvent.kind, sa.String) == AlarmEventKind.ACTIVATED.value,
        )
        .group_by(AlarmEvent.line)
    )
    async with db.session() as session:
        return {line: int(n) for line, n in (await session.execute(statement)).all()}

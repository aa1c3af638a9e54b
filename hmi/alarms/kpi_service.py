"""Alarm KPIs for people: the permission check (audited when refused), then the journal read and the computation."""

from __future__ import annotations

import asyncio
from datetime import datetime

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.journal_query import load_kpi_events
from hmi.alarms.kpi import DEFAULT_TARGETS, KpiReport, KpiTargets, compute_kpis
from hmi.config import QueryLimits
from hmi.limits import check_span
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.texts import Text

# Alarm-system performance is management information (managers and admins). VIEW_AUDIT stands in until a
# dedicated permission exists; change it here and nowhere else.
KPI_PERMISSION = Permission.VIEW_KPI
KPI_ACTION = "alarm_kpi.view"
"""Audit action of the check; a refusal is recorded as `alarm_kpi.view.denied`."""


async def require_kpi_access(audit: AuditLog, ctx: ActionContext, area: str | None = None) -> None:
    """Return when `ctx` may view alarm KPIs; otherwise audit the refusal and raise PermissionDenied."""
    await audit.require(ctx, KPI_PERMISSION, action=KPI_ACTION, object_type="alarm_kpi", object_id=area or "all areas")


async def kpi_report(
    db: Database,
    audit: AuditLog,
    ctx: ActionContext,
    since: datetime,
    until: datetime,
    area: str | None = None,
    targets: KpiTargets = DEFAULT_TARGETS,
    *,
    max_days: float = QueryLimits().kpi_max_days,
) -> KpiReport:
    """The KPI report of `area` (None: all areas) over [since, until), for a person allowed to see it;
    RangeTooLong when the window is longer than `max_days` (the plant's `limits.kpi_max_days`)."""
    await require_kpi_access(audit, ctx, area)
    check_span(Text("the KPI window"), since, until, max_days)
    events = await load_kpi_events(db, since, until, area)
    # A 30-day window of a flooding plant is a lot of rows: compute off the event loop so screens stay live.
    return await asyncio.to_thread(compute_kpis, events, since, until, area=area, targets=targets)

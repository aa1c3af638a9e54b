"""Audit trail lists and screen exports are bounded: pages of rows, a maximum span, a maximum export (issue 8 §5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hmi.clock import ManualClock
from hmi.config import QueryLimits
from hmi.limits import RangeTooLong, TooManyRows
from hmi.records.audit import AuditLog, system_context
from hmi.records.audit_export import AuditFilter, read_export, read_page

SMALL = QueryLimits(page_rows=10, list_max_days=30, export_max_days=7, export_max_rows=100)


async def record(audit: AuditLog, clock: ManualClock, n: int) -> None:
    actor = system_context("runtime")
    for i in range(n):
        await audit.record(actor, "test.event", "test", str(i))
        clock.advance(1)


@pytest.mark.req("REC-018", "SEC-010")
async def test_the_audit_list_is_read_a_page_at_a_time(audit: AuditLog, clock: ManualClock) -> None:
    start = clock()
    await record(audit, clock, 25)
    flt = AuditFilter.build(since=start)
    pages = [await read_page(audit, flt, limits=SMALL, now=clock(), offset=k) for k in (0, 10, 20)]
    assert [(p.first, p.last, p.more) for p in pages] == [(1, 10, True), (11, 20, True), (21, 25, False)]
    ids = [e.object_id for p in pages for e in p.rows]
    assert ids == [str(i) for i in range(24, -1, -1)]  # newest first, each row once


@pytest.mark.req("SEC-010")
async def test_an_audit_list_beyond_its_maximum_span_is_refused(audit: AuditLog, clock: ManualClock) -> None:
    start = clock()
    with pytest.raises(RangeTooLong, match="the audit range covers 31 days; at most 30 days"):
        await read_page(audit, AuditFilter.build(since=start), limits=SMALL, now=start + timedelta(days=31))
    with pytest.raises(RangeTooLong, match="needs a start time"):
        await read_page(audit, AuditFilter.build(), limits=SMALL, now=start)


@pytest.mark.req("SEC-010")
async def test_a_screen_export_is_bounded_by_span_and_rows(audit: AuditLog, clock: ManualClock) -> None:
    start = clock()
    await record(audit, clock, 101)
    flt = AuditFilter.build(since=start)
    with pytest.raises(TooManyRows, match="more than 100 rows; narrow the filter"):
        await read_export(audit, flt, limits=SMALL, now=clock())
    with pytest.raises(RangeTooLong, match="the export covers 8 days; at most 7 days"):
        await read_export(audit, flt, limits=SMALL, now=start + timedelta(days=8))
    rows = await read_export(
        audit, AuditFilter.build(since=start, action="test.event"), limits=QueryLimits(export_max_rows=200), now=clock()
    )
    assert [r.object_id for r in rows][:2] == ["0", "1"]  # oldest first, the order a reader follows

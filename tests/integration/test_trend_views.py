"""Saved trend views on SQLite and PostgreSQL: private to their owner, validated, replaced by name, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hmi.access.auth import UserService
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.historian.views import TrendViews
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from tests.conftest import sign_in
from tests.plant_fixture import small_plant


@pytest.mark.req("HIS-008", "HIS-010")
async def test_views_are_private_validated_and_replaced_by_name(
    db: Database, audit: AuditLog, users: UserService, clock: ManualClock
) -> None:
    views = TrendViews(small_plant("opc.tcp://127.0.0.1:4840"), db, audit, clock)
    olga = await sign_in(users, "olga", Role.OPERATOR)
    manager = await sign_in(users, "max", Role.MANAGER)

    first = await views.save(olga.for_action(), "  Temps  ", ["L1.M1.Temp"], "10m")
    assert first.name == "Temps"
    again = await views.save(olga.for_action(), "Temps", ["L1.M1.Temp", "L1.Speed"], "7d")
    assert again.id == first.id
    assert again.pens == ("L1.M1.Temp", "L1.Speed")
    assert again.range_key == "7d"
    start = clock() - timedelta(hours=3)
    custom = await views.save(olga.for_action(), "Incident", ["L1.M1.Pressure"], "custom", start=start, end=clock())
    assert custom.start == start

    assert [v.name for v in await views.list(olga)] == ["Incident", "Temps"]
    assert await views.list(manager) == []
    assert await views.get(manager, first.id) is None
    with pytest.raises(LookupError):
        await views.delete(manager.for_action(), first.id)

    for pens, rng, message in (
        (["L1.M1.Temp"] * 9, "10m", "at most 8 pens"),
        (["Nope.Tag"], "10m", r"unknown tag\(s\): Nope\.Tag"),
        ([], "10m", "at least one pen"),
        (["L1.M1.Temp"], "1y", "unknown time range"),
        (["L1.M1.Temp"], "custom", "a custom range needs a start before its end"),
    ):
        with pytest.raises(ValueError, match=message):
            await views.save(olga.for_action(), "Bad", pens, rng)
    with pytest.raises(ValueError, match="give the view a name"):
        await views.save(olga.for_action(), "   ", ["L1.M1.Temp"], "10m")

    await views.delete(olga.for_action(), first.id)
    assert [v.name for v in await views.list(olga)] == ["Incident"]
    actions = [e.action for e in await audit.query(username="olga") if e.action.startswith("trend_view")]
    assert sorted(actions) == ["trend_view.delete", "trend_view.save", "trend_view.save", "trend_view.save"]

"""Kiosk stations in the station service, on both real databases: set by administrators only, audited, a
disabled station is no kiosk, and an existing database gets the column."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.kiosk import KIOSK_USER, REFUSED, kiosk_context, record_refusal
from hmi.access.roles import Permission, Role
from hmi.access.stations import StationService, UnknownStation
from hmi.clock import ManualClock
from hmi.records.audit import AuditLog
from hmi.store.database import Database

PASSWORD = "correct horse"


@pytest.fixture
def stations(db: Database, audit: AuditLog, clock: ManualClock) -> StationService:
    return StationService(db, audit, clock)


@pytest.mark.req("OVW-009")
async def test_admins_make_a_station_a_kiosk_and_back_audited(
    stations: StationService, admin: ActionContext, users: UserService, audit: AuditLog
) -> None:
    await stations.register(admin, "wall-1")
    assert not await stations.is_kiosk("wall-1")
    station = await stations.set_kiosk(admin, " Wall-1 ", True, reason="canteen screen")
    assert station.kiosk
    assert await stations.is_kiosk("wall-1")
    # Setting it again changes nothing and records nothing.
    await stations.set_kiosk(admin, "wall-1", True)
    # A disabled station is no kiosk (its panel secret is revoked too); nor is a browser's address.
    await stations.set_disabled(admin, "wall-1", True)
    assert not await stations.is_kiosk("wall-1")
    assert not await stations.is_kiosk("web:10.0.0.9")
    assert not await stations.is_kiosk("")
    await stations.set_disabled(admin, "wall-1", False)
    await stations.set_kiosk(admin, "wall-1", False)
    assert not await stations.is_kiosk("wall-1")
    rows = list(reversed(await audit.query(action="station.kiosk")))
    assert [(json.loads(r.old_value or ""), json.loads(r.new_value or ""), r.reason) for r in rows] == [
        ({"kiosk": False}, {"kiosk": True}, "canteen screen"),
        ({"kiosk": True}, {"kiosk": False}, None),
    ]
    with pytest.raises(UnknownStation):
        await stations.set_kiosk(admin, "nowhere", True)

    await users.create_user("max", PASSWORD, Role.MANAGER)
    manager = (await users.sign_in("max", PASSWORD)).ctx
    assert manager is not None
    with pytest.raises(PermissionDenied):
        await stations.set_kiosk(manager, "wall-1", True)
    assert not await stations.is_kiosk("wall-1")
    [denied] = await audit.query(action="station.kiosk.denied")
    assert (denied.username, denied.object_id) == ("max", "wall-1")


@pytest.mark.req("OVW-007")
async def test_a_refusal_at_a_kiosk_names_the_station_and_nobody(audit: AuditLog) -> None:
    ctx = kiosk_context("wall-1")
    # The least role, and no user row: a kiosk is nobody.
    assert (ctx.role, ctx.user_id, ctx.can(Permission.MANAGE_STATIONS)) == (Role.OPERATOR, 0, False)
    await record_refusal(audit, "wall-1", "/alarms?focus=x" + "y" * 500)
    [row] = await audit.query(action=REFUSED)
    assert (row.username, row.user_id, row.station, row.object_type) == (KIOSK_USER, None, "wall-1", "page")
    assert row.object_id.startswith("/alarms?focus=x")
    assert len(row.object_id) == 200
    assert await audit.verify() is None


@pytest.mark.req("OVW-009")
async def test_an_existing_database_gets_the_kiosk_column(
    db: Database, stations: StationService, admin: ActionContext
) -> None:
    await stations.register(admin, "panel-1")
    # The stations table as a release before kiosks made it.
    async with db.session(write=True) as session:
        await session.execute(sa.text("ALTER TABLE stations DROP COLUMN kiosk"))
        await session.commit()
    await db.stop()
    await db.start()
    station = await stations.get("panel-1")
    assert station is not None
    assert station.kiosk is False
    await stations.set_kiosk(admin, "panel-1", True)
    assert await stations.is_kiosk("panel-1")

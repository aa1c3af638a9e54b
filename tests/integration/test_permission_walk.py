"""Walk EVERY (role, permission) pair through the real services on both databases (21 CFR 11.10(g)):
each action is either done, or refused with PermissionDenied and an audit row `<action>.denied`.

The expected matrix is written out here, not taken from hmi.access.roles, so a changed table fails this test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import pytest

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission, Role
from hmi.access.stations import StationService
from hmi.alarms.service import AlarmService
from hmi.clock import ManualClock
from hmi.config import parse_config
from hmi.notify.service import Notifier
from hmi.oee.service import OeeService
from hmi.oee.timeline import to_us
from hmi.records.audit import AuditLog
from hmi.records.notes import ShiftNotes
from hmi.store.database import Database
from hmi.store.models import Sample
from tests.conftest import PERSON_PASSWORD as PASSWORD
from tests.conftest import FedEngine, sign_in

PLANT = """
site: {name: Walk}
endpoints: [{name: e, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L
        state_tag: L.State
        tags:
          - {name: L.State, endpoint: e, node_id: "ns=2;s=L.State", data_type: string}
          - {name: T1, endpoint: e, node_id: "ns=2;s=T1", alarms: [{type: H, limit: 10, priority: 2, message: T1 high}]}
          - name: Trip
            endpoint: e
            node_id: "ns=2;s=Trip"
            data_type: bool
            alarms: [{type: discrete, value: true, latching: true, priority: 3, message: Drive tripped}]
"""

# Rows: the action as the walk performs it (audit action name). Columns: operator lead engineer manager admin.
# "x" = done, "." = refused and audited.
EXPECTED = """
screen.view             x x x x x
alarm.acknowledge       x x x . .
alarm.shelve            . x x . .
alarm.unshelve          . x x . .
alarm.reset             . x x . .
alarm.out_of_service    . . x x x
alarm.return_to_service . . x x x
kpi.view                . . x x x
note.add                x x x . .
note.amend              x x x . .
downtime.assign         x x x . .
handover.sign           . x . . .
audit.view              . . x x x
audit.export            . . . x x
user.create             . . . . x
user.disable            . . . . x
user.enable             . . . . x
user.reset_password     . . . . x
user.unlock             . . . . x
station.register        . . . . x
station.disable         . . . . x
station.enrol           . . . . x
station.revoke          . . . . x
station.kiosk           . . . . x
recipe.create           . . x . .
recipe.approve          . . x x .
recipe.download         . x x . .
notification.view       . . x . x
"""
# Checked only (their services belong to other modules); done means "no refusal", no row of its own.
CHECK_ONLY = {
    "screen.view",
    "kpi.view",
    "handover.sign",
    "audit.view",
    "audit.export",
    # Recipes: walked through the service in tests/integration/test_recipes.py (CTL-037).
    "recipe.create",
    "recipe.approve",
    "recipe.download",
    # Viewing the notification journal leaves no row; its retry is audited (tests/integration/test_notifications.py).
    "notification.view",
}
ROLES = (Role.OPERATOR, Role.LEAD, Role.ENGINEER, Role.MANAGER, Role.ADMIN)


def expected() -> dict[tuple[str, Role], bool]:
    table: dict[tuple[str, Role], bool] = {}
    for line in EXPECTED.strip().splitlines():
        action, *marks = line.split()
        for role, mark in zip(ROLES, marks, strict=True):
            table[(action, role)] = mark == "x"
    return table


class Plant(FedEngine):
    """The real services on one database and one manual clock."""

    clock: ManualClock

    def __init__(self, db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> None:
        super().__init__(parse_config(PLANT), clock)
        self.db = db
        self.audit = audit
        self.users = users
        self.alarms = AlarmService(self.engine, db, audit, clock)
        self.notes = ShiftNotes(db, audit, clock)
        self.stations = StationService(db, audit, clock)
        self.oee = OeeService(self.plant, db, audit, clock)
        self.notifier = Notifier(self.engine, db, audit, lambda: self.plant, clock)
        self.n = 0

    def unique(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


async def _make_target_user(p: Plant, admin: ActionContext) -> str:
    name = p.unique("target")
    await p.users.create_user(name, PASSWORD, Role.OPERATOR, actor=admin)
    return name


def actions(p: Plant, admin: ActionContext) -> dict[str, Callable[[ActionContext], Awaitable[object]]]:
    """For each action: a coroutine factory that performs it as `ctx` (setting up what it needs as admin)."""

    async def fresh_t1() -> None:
        """T1.H in service, not shelved, and newly active (unacknowledged)."""
        await p.alarms.unshelve(fixer, ["T1.H"], "walk")
        await p.alarms.return_to_service(fixer, ["T1.H"], "walk")
        p.put("T1", 0.0)
        p.clock.advance(1)
        p.put("T1", 20.0)

    async def acknowledge(ctx: ActionContext) -> object:
        await fresh_t1()
        return await p.alarms.acknowledge(ctx, ["T1.H"], "seen")

    async def shelve(ctx: ActionContext) -> object:
        await fresh_t1()
        return await p.alarms.shelve(ctx, ["T1.H"], "sensor work", timedelta(minutes=30))

    async def unshelve(ctx: ActionContext) -> object:
        await fresh_t1()
        await p.alarms.shelve(fixer, ["T1.H"], "sensor work", timedelta(minutes=30))
        return await p.alarms.unshelve(ctx, ["T1.H"], "done")

    async def reset(ctx: ActionContext) -> object:
        return await p.alarms.reset(ctx, ["Trip.discrete"], "drive checked")

    async def out_of_service(ctx: ActionContext) -> object:
        await fresh_t1()
        return await p.alarms.remove_from_service(ctx, ["T1.H"], "WO-1")

    async def return_to_service(ctx: ActionContext) -> object:
        await fresh_t1()
        await p.alarms.remove_from_service(fixer, ["T1.H"], "WO-1")
        return await p.alarms.return_to_service(ctx, ["T1.H"], "WO-1 done")

    def check(permission: Permission, action: str) -> Callable[[ActionContext], Awaitable[object]]:
        # Screens and services owned elsewhere (KPIs, handover, audit screens) check through AuditLog.require.
        async def run(ctx: ActionContext) -> object:
            await p.audit.require(ctx, permission, action=action, object_type="screen")
            return None

        return run

    async def note_add(ctx: ActionContext) -> object:
        return await p.notes.add(ctx, "L", "walk note", "early", date(2025, 1, 6))

    async def note_amend(ctx: ActionContext) -> object:
        note = await p.notes.add(admin_lead, "L", "to amend", "early", date(2025, 1, 6))
        assert note.id is not None
        return await p.notes.amend(ctx, note.id, "amended text", "typo")

    async def downtime_assign(ctx: ActionContext) -> object:
        # A fresh stop of line L for each role: Execute, then Held a moment later (as the historian records them).
        now = p.clock()
        held = now - timedelta(milliseconds=250)
        async with p.db.session(write=True) as session:
            session.add_all(
                [
                    Sample(
                        tag="L.State", t_us=to_us(now - timedelta(milliseconds=500)), text="Execute", quality="good"
                    ),
                    Sample(tag="L.State", t_us=to_us(held), text="Held", quality="good"),
                ]
            )
            await session.commit()
        return await p.oee.assign_reason(ctx, "L", held, "jam")

    async def user_create(ctx: ActionContext) -> object:
        return await p.users.create_user(p.unique("new"), PASSWORD, Role.OPERATOR, actor=ctx)

    async def user_disable(ctx: ActionContext) -> object:
        return await p.users.set_disabled(ctx, await _make_target_user(p, admin), True)

    async def user_enable(ctx: ActionContext) -> object:
        name = await _make_target_user(p, admin)
        await p.users.set_disabled(admin, name, True)
        return await p.users.set_disabled(ctx, name, False)

    async def user_reset(ctx: ActionContext) -> object:
        return await p.users.reset_password(ctx, await _make_target_user(p, admin), "a brand new one")

    async def user_unlock(ctx: ActionContext) -> object:
        return await p.users.unlock(ctx, await _make_target_user(p, admin))

    async def station_register(ctx: ActionContext) -> object:
        return await p.stations.register(ctx, p.unique("panel-"))

    async def station_enrol(ctx: ActionContext) -> object:
        return await p.stations.enrol(ctx, p.unique("panel-"), address="web:10.0.0.1")

    async def station_revoke(ctx: ActionContext) -> object:
        name = (await p.stations.enrol(admin, p.unique("panel-")))[0].name
        return await p.stations.revoke(ctx, name)

    async def station_kiosk(ctx: ActionContext) -> object:
        name = (await p.stations.register(admin, p.unique("wall-"))).name
        return await p.stations.set_kiosk(ctx, name, True)

    async def station_disable(ctx: ActionContext) -> object:
        name = (await p.stations.register(admin, p.unique("panel-"))).name
        return await p.stations.set_disabled(ctx, name, True)

    async def notification_view(ctx: ActionContext) -> object:
        return await p.notifier.recent(ctx)

    # The test's own hands for setting the stage (a note to amend, an alarm to unshelve); never a walked person.
    admin_lead = ActionContext(user_id=admin.user_id, username=admin.username, full_name="", role=Role.LEAD)
    fixer = ActionContext(user_id=admin.user_id, username=admin.username, full_name="", role=Role.ENGINEER)
    return {
        "screen.view": check(Permission.VIEW, "screen.view"),
        "alarm.acknowledge": acknowledge,
        "alarm.shelve": shelve,
        "alarm.unshelve": unshelve,
        "alarm.reset": reset,
        "alarm.out_of_service": out_of_service,
        "alarm.return_to_service": return_to_service,
        "kpi.view": check(Permission.VIEW_KPI, "kpi.view"),
        "note.add": note_add,
        "note.amend": note_amend,
        "downtime.assign": downtime_assign,
        "handover.sign": check(Permission.SIGN_HANDOVER, "handover.sign"),
        "audit.view": check(Permission.VIEW_AUDIT, "audit.view"),
        "audit.export": check(Permission.EXPORT_AUDIT, "audit.export"),
        "user.create": user_create,
        "user.disable": user_disable,
        "user.enable": user_enable,
        "user.reset_password": user_reset,
        "user.unlock": user_unlock,
        "station.register": station_register,
        "station.disable": station_disable,
        "station.enrol": station_enrol,
        "station.revoke": station_revoke,
        "station.kiosk": station_kiosk,
        "recipe.create": check(Permission.MANAGE_RECIPES, "recipe.create"),
        "recipe.approve": check(Permission.APPROVE_RECIPE, "recipe.approve"),
        "recipe.download": check(Permission.DOWNLOAD_RECIPE, "recipe.download"),
        "notification.view": notification_view,
    }


@pytest.mark.req("ACC-012")
def test_the_walk_covers_every_permission() -> None:
    """Each permission is exercised by at least one action in the walk, so no table entry goes untested."""
    from hmi.access.roles import allowed

    table = expected()
    for permission in Permission:
        walked = {role for role in ROLES if allowed(role, permission)}
        assert any({role for role in ROLES if table[(action, role)]} == walked for action in {a for a, _ in table}), (
            permission
        )


@pytest.mark.req("ACC-012")
async def test_every_role_and_action(db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> None:
    p = Plant(db, audit, users, clock)
    admin = await sign_in(users, "root", Role.ADMIN)
    people = {role: await sign_in(users, f"walk-{role.value}", role, station="walk-panel") for role in ROLES}
    # A latched trip that has cleared and been acknowledged is what a reset works on.
    p.put("Trip", True)
    p.put("Trip", False)
    await p.alarms.acknowledge(people[Role.LEAD], ["Trip.discrete"])

    run = actions(p, admin)
    table = expected()
    assert set(run) == {action for action, _ in table}
    outcomes: dict[tuple[str, Role], bool] = {}
    for action, role in table:
        # Each alarm activation is acknowledged once: give every step its own time.
        clock.advance(1)
        ctx = people[role].for_action()
        try:
            await run[action](ctx)
            done = True
        except PermissionDenied:
            done = False
        denials = [
            e for e in await audit.query(action=f"{action}.denied", username=ctx.username) if e.action_id == ctx.id
        ]
        if done:
            assert denials == [], (action, role)
            if action not in CHECK_ONLY:
                # Done means done: the action left its own audit row, not merely no refusal.
                rows = [e for e in await audit.query(action=action, limit=20) if e.action_id == ctx.id]
                assert rows, (action, role)
        else:
            assert len(denials) == 1, (action, role)
            assert (denials[0].station, denials[0].user_id) == ("walk-panel", ctx.user_id)
        outcomes[(action, role)] = done
        if action == "alarm.reset" and done:
            # Re-arm the latched trip for the next role.
            clock.advance(1)
            p.put("Trip", True)
            p.put("Trip", False)
            await p.alarms.acknowledge(people[Role.LEAD], ["Trip.discrete"])
    wrong = {key: outcome for key, outcome in outcomes.items() if outcome != table[key]}
    assert wrong == {}
    assert await audit.verify() is None

"""Lockout, unlock, password policy, idle unlock/logoff audit, user switch and stations on both real databases
(21 CFR 11.10(d), 11.10(g), 11.300(d))."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hmi.access.auth import PasswordPolicyError, UnknownUser, UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.access.stations import StationExists, StationService, UnknownStation, secret_digest
from hmi.clock import ManualClock
from hmi.config import AccessPolicy
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from tests.conftest import FAST_HASHER

PASSWORD = "correct horse"


@pytest.fixture
def stations(db: Database, audit: AuditLog, clock: ManualClock) -> StationService:
    return StationService(db, audit, clock)


@pytest.mark.req("ACC-003")
async def test_five_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(
    users: UserService, admin: ActionContext, audit: AuditLog, clock: ManualClock
) -> None:
    assert users.policy.lockout_attempts == 5
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    for attempt in range(1, 6):
        outcome = await users.sign_in("alice", f"guess {attempt}", station="panel-1")
        assert outcome.locked is (attempt == 5)
    [lockout] = await audit.query(action="login.lockout")
    assert (lockout.username, lockout.object_id, lockout.station) == ("alice", "alice", "panel-1")
    assert "5 failed sign-ins" in (lockout.detail or "")
    [locked] = await users.locked_users()
    assert (locked.username, locked.locked_at) == ("alice", clock.now())

    # The right password does not open a locked account; the attempt is audited.
    refused = await users.sign_in("alice", PASSWORD)
    assert (refused.ok, refused.reason, refused.locked) == (False, "account locked", True)
    assert (await audit.query(action="login.failed", limit=1))[0].reason == "account locked"

    unlocked = await users.unlock(admin, "alice", reason="called the helpdesk")
    assert (unlocked.locked_at, unlocked.failed_logins) == (None, 0)
    [change] = await audit.query(action="user.unlock")
    assert (change.username, change.object_id, change.reason, change.new_value) == (
        "root",
        "alice",
        "called the helpdesk",
        '{"failed_logins": 0, "locked": false}',
    )
    assert await users.locked_users() == []
    assert (await users.sign_in("alice", PASSWORD)).ok
    assert await audit.verify() is None


@pytest.mark.req("ACC-003")
async def test_lockout_count_comes_from_the_plant_policy(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    users = UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(lockout_attempts=2))
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    assert not (await users.sign_in("alice", "nope nope")).locked
    assert (await users.sign_in("alice", "nope nope")).locked


@pytest.mark.req("ACC-003")
async def test_only_admins_unlock(users: UserService, audit: AuditLog) -> None:
    await users.create_user("lena", PASSWORD, Role.LEAD)
    lena = (await users.sign_in("lena", PASSWORD)).ctx
    assert lena is not None
    with pytest.raises(PermissionDenied):
        await users.unlock(lena, "lena")
    assert [e.action for e in await audit.query(action="user.unlock.denied")] == ["user.unlock.denied"]


@pytest.mark.req("ACC-003")
async def test_unlock_of_an_unknown_user(users: UserService, admin: ActionContext) -> None:
    with pytest.raises(UnknownUser):
        await users.unlock(admin, "zed")


@pytest.mark.req("ACC-002")
async def test_policy_length_from_the_plant_and_no_reuse_on_reset(
    db: Database, audit: AuditLog, clock: ManualClock, admin: ActionContext
) -> None:
    users = UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(password_min_length=12))
    with pytest.raises(PasswordPolicyError, match="at least 12"):
        await users.create_user("alice", "only eleven", Role.OPERATOR)
    with pytest.raises(PasswordPolicyError, match="user name"):
        await users.create_user("alice.long.name", "Alice.Long.Name", Role.OPERATOR)
    await users.create_user("alice", "twelve chars!", Role.OPERATOR)
    with pytest.raises(PasswordPolicyError, match="differ from the current"):
        await users.reset_password(admin, "alice", "twelve chars!")
    await users.reset_password(admin, "alice", "another twelve")
    assert (await users.sign_in("alice", "another twelve")).ok


@pytest.mark.req("ACC-007")
async def test_screen_unlock_checks_the_password_and_counts_failures(
    db: Database, audit: AuditLog, clock: ManualClock
) -> None:
    users = UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(lockout_attempts=3))
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    ctx = (await users.sign_in("alice", PASSWORD, station="panel-1")).ctx
    assert ctx is not None
    await users.screen_locked(ctx)
    assert (await users.unlock_screen(ctx, PASSWORD)).ok
    assert not (await users.unlock_screen(ctx, "wrong one")).locked
    assert not (await users.sign_in("alice", "wrong two")).locked
    # Screen-lock and login failures count together.
    assert (await users.unlock_screen(ctx, "wrong three")).locked
    actions = [e.action for e in reversed(await audit.query(username="alice"))]
    assert actions == [
        "login",
        "screen.lock",
        "screen.unlock",
        "screen.unlock.failed",
        "login.failed",
        "screen.unlock.failed",
        "login.lockout",
    ]
    await users.logout(ctx, idle=True)
    [idle] = await audit.query(action="logout.idle")
    assert (idle.username, idle.station) == ("alice", "panel-1")
    assert "15 idle minutes" in (idle.detail or "")


@pytest.mark.req("ACC-011")
async def test_user_switch_logs_out_the_previous_person_and_in_the_next(users: UserService, audit: AuditLog) -> None:
    await users.create_user("olga", PASSWORD, Role.OPERATOR)
    await users.create_user("lena", PASSWORD, Role.LEAD)
    olga = (await users.sign_in("olga", PASSWORD, station="panel-7")).ctx
    assert olga is not None
    assert not (await users.switch_user(olga, "lena", "wrong password", "panel-7")).ok
    assert await audit.query(action="logout.switch") == []
    switched = await users.switch_user(olga, "lena", PASSWORD, "panel-7")
    assert switched.ctx is not None
    assert (switched.ctx.username, switched.ctx.station) == ("lena", "panel-7")
    last_two = await audit.query(limit=2)
    assert [(e.action, e.username, e.station) for e in reversed(last_two)] == [
        ("logout.switch", "olga", "panel-7"),
        ("login", "lena", "panel-7"),
    ]


@pytest.mark.req("ACC-010")
async def test_stations_are_registered_listed_and_disabled_by_admins(
    stations: StationService, admin: ActionContext, users: UserService, audit: AuditLog, clock: ManualClock
) -> None:
    panel = await stations.register(admin, " Panel-L1 ", area="Packaging")
    assert (panel.name, panel.area, panel.registered_by, panel.registered_at, panel.disabled) == (
        "panel-l1",
        "Packaging",
        "root",
        clock.now(),
        False,
    )
    with pytest.raises(StationExists):
        await stations.register(admin, "PANEL-L1")
    with pytest.raises(ValueError, match="no spaces"):
        await stations.register(admin, "two words")
    await stations.register(admin, "office-pc")
    assert [s.name for s in await stations.list()] == ["office-pc", "panel-l1"]
    assert await stations.active("panel-l1") is not None

    await stations.set_disabled(admin, "panel-l1", True, reason="replaced")
    assert await stations.active("panel-l1") is None
    assert [s.name for s in await stations.list(include_disabled=False)] == ["office-pc"]
    with pytest.raises(UnknownStation):
        await stations.set_disabled(admin, "nowhere", True)
    await stations.set_disabled(admin, "panel-l1", False)
    assert await stations.active("panel-l1") is not None

    actions = [(e.action, e.object_id) for e in reversed(await audit.query(username="root"))]
    assert actions == [
        ("login", "root"),
        ("station.register", "panel-l1"),
        ("station.register", "office-pc"),
        ("station.disable", "panel-l1"),
        ("station.enable", "panel-l1"),
    ]


@pytest.mark.req("ACC-010")
async def test_only_admins_manage_stations(stations: StationService, users: UserService, audit: AuditLog) -> None:
    await users.create_user("max", PASSWORD, Role.MANAGER)
    manager = (await users.sign_in("max", PASSWORD)).ctx
    assert manager is not None
    with pytest.raises(PermissionDenied, match="may not manage stations"):
        await stations.register(manager, "panel-9")
    assert await stations.list() == []
    [denied] = await audit.query(action="station.register.denied")
    assert (denied.username, denied.object_id) == ("max", "panel-9")


@pytest.mark.req("ACC-010")
async def test_records_carry_the_station_of_the_sign_in(users: UserService, audit: AuditLog) -> None:
    await users.create_user("olga", PASSWORD, Role.OPERATOR)
    olga = (await users.sign_in("olga", PASSWORD, station="panel-l1")).ctx
    assert olga is not None
    assert olga.station == "panel-l1"
    await users.logout(olga)
    assert {e.station for e in await audit.query(username="olga")} == {"panel-l1"}


@pytest.mark.req("ACC-003")
async def test_an_existing_database_gets_the_lockout_columns(db: Database, users: UserService) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    # The users table as a release before the lockout made it.
    async with db.session(write=True) as session:
        await session.execute(sa.text("ALTER TABLE users DROP COLUMN failed_logins"))
        await session.execute(sa.text("ALTER TABLE users DROP COLUMN locked_at"))
        await session.commit()
    await db.stop()
    await db.start()
    user = await users.get("alice")
    assert user is not None
    assert (user.failed_logins, user.locked_at) == (0, None)
    assert not (await users.sign_in("alice", "wrong guess")).ok
    assert (await users.sign_in("alice", PASSWORD)).ok


@pytest.mark.req("ACC-010")
async def test_a_panel_is_its_station_only_with_the_enrolled_secret(
    stations: StationService, admin: ActionContext, audit: AuditLog, clock: ManualClock
) -> None:
    station, secret = await stations.enrol(admin, " Panel-L1 ", area="Packaging", address="web:10.0.0.5")
    assert (station.name, station.area, station.enrolled_by, station.enrolled_at) == (
        "panel-l1",
        "Packaging",
        "root",
        clock.now(),
    )
    assert station.secret_hash == secret_digest(secret) != secret
    # The name alone, a guess, or nothing identifies no station.
    for claim in ("panel-l1", "", None, secret + "x", "x" * 10_000):
        assert await stations.identify(claim) is None
    clock.advance(120)
    found = await stations.identify(secret)
    assert found is not None
    assert (found.name, found.last_seen_at) == ("panel-l1", clock.now())

    # Enrolling another panel under the name takes the station from the first one.
    _, second = await stations.enrol(admin, "panel-l1", address="web:10.0.0.6")
    assert await stations.identify(secret) is None
    assert (await stations.identify(second) or station).name == "panel-l1"
    await stations.revoke(admin, "panel-l1", reason="panel replaced")
    assert await stations.identify(second) is None
    with pytest.raises(ValueError, match="no enrolled panel"):
        await stations.revoke(admin, "panel-l1")

    # Disabling revokes too; enabling again does not bring the old secret back.
    _, third = await stations.enrol(admin, "panel-l1")
    await stations.set_disabled(admin, "panel-l1", True)
    with pytest.raises(ValueError, match="is disabled; enable it first"):
        await stations.enrol(admin, "panel-l1")
    await stations.set_disabled(admin, "panel-l1", False)
    assert await stations.identify(third) is None

    actions = [(e.action, e.detail) for e in reversed(await audit.query(object_type="station"))]
    assert actions == [
        ("station.enrol", "panel at web:10.0.0.5 enrolled"),
        (
            "station.enrol",
            "panel at web:10.0.0.6 enrolled; the panel enrolled before under this name no longer is this station",
        ),
        ("station.revoke", None),
        ("station.enrol", "panel at an unknown address enrolled"),
        ("station.disable", None),
        ("station.enable", None),
    ]
    for entry in await audit.query():
        assert all(s not in repr(entry) for s in (secret, second, third))


@pytest.mark.req("ACC-010")
async def test_station_names_cannot_pass_for_a_network_address(stations: StationService, admin: ActionContext) -> None:
    for name in ("web", "WEB:10.0.0.5", "web:panel"):
        with pytest.raises(ValueError, match="reserved for panels that are not enrolled"):
            await stations.enrol(admin, name)
    assert (await stations.enrol(admin, "webcam-pc"))[0].name == "webcam-pc"

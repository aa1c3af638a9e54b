"""Users and sign-in on real databases: argon2 hashes, policy, permissions, and every attempt audited."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from hmi.access.auth import PasswordPolicyError, UnknownUser, UserExists, UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.records.audit import AuditLog
from hmi.store.database import Database

PASSWORD = "correct horse"


@pytest.mark.req("REC-001", "ACC-014", "SEC-001")
async def test_create_user_stores_an_argon2_hash_and_audits(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    # The production hasher, not the fast one the other tests use.
    users = UserService(db, audit, clock)
    user = await users.create_user("Alice", PASSWORD, "operator", " Alice Adams ")
    assert (user.username, user.full_name, user.role, user.disabled) == ("alice", "Alice Adams", Role.OPERATOR, False)
    assert user.created_at == clock.now()
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in user.password_hash
    assert "password_hash" not in repr(user)
    stored = await users.get("ALICE")
    assert stored is not None
    assert stored.role is Role.OPERATOR
    [entry] = await audit.query()
    assert (entry.action, entry.object_id, entry.username) == ("user.create", "alice", "system")
    assert entry.new_value == '{"disabled": false, "full_name": "Alice Adams", "role": "operator", "username": "alice"}'


@pytest.mark.req("ACC-001")
async def test_duplicate_names_are_refused_case_insensitively(users: UserService) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    with pytest.raises(UserExists, match="'alice' already exists"):
        await users.create_user("Alice", "other password", Role.LEAD)
    assert len(await users.list_users()) == 1


@pytest.mark.req("ACC-002")
async def test_policy_is_enforced_unless_switched_off(users: UserService) -> None:
    with pytest.raises(PasswordPolicyError, match="at least 8"):
        await users.create_user("bob", "short", Role.OPERATOR)
    with pytest.raises(PasswordPolicyError, match="user name"):
        await users.create_user("operator1", "operator1", Role.OPERATOR)
    assert await users.list_users() == []
    # The demo command creates its well-known accounts this way.
    await users.create_user("demo", "demo", Role.OPERATOR, enforce_policy=False)
    assert (await users.sign_in("demo", "demo")).ctx is not None


@pytest.mark.req("ACC-014")
async def test_unknown_role_lists_the_roles(users: UserService) -> None:
    with pytest.raises(ValueError, match="operator, lead, engineer, manager, admin"):
        await users.create_user("bob", PASSWORD, "king")


@pytest.mark.req("ACC-004")
async def test_sign_in_returns_a_context_and_audits_the_login(users: UserService, audit: AuditLog) -> None:
    user = await users.create_user("alice", PASSWORD, Role.LEAD, "Alice Adams")
    ctx = (await users.sign_in(" Alice", PASSWORD, station="panel-3")).ctx
    assert ctx is not None
    assert (ctx.user_id, ctx.username, ctx.full_name, ctx.role, ctx.station) == (
        user.id,
        "alice",
        "Alice Adams",
        Role.LEAD,
        "panel-3",
    )
    [login] = await audit.query(action="login")
    assert (login.user_id, login.username, login.station, login.action_id) == (user.id, "alice", "panel-3", ctx.id)


@pytest.mark.req("ACC-004")
async def test_failed_logins_are_audited_with_the_reason(users: UserService, audit: AuditLog) -> None:
    user = await users.create_user("alice", PASSWORD, Role.OPERATOR)
    assert (await users.sign_in("alice", "wrong password", station="panel-1")).ctx is None
    assert (await users.sign_in("mallory", PASSWORD, station="panel-2")).ctx is None
    [wrong] = await audit.query(action="login.failed")
    assert (wrong.user_id, wrong.username, wrong.station, wrong.reason) == (
        user.id,
        "alice",
        "panel-1",
        "wrong password",
    )
    # Unknown names are counted per address and written as one row when the window closes (here: at stop).
    assert await audit.query(action="login.failed.unknown") == []
    await users.stop()
    [unknown] = await audit.query(action="login.failed.unknown")
    assert (unknown.object_type, unknown.object_id, unknown.station, unknown.reason) == (
        "client",
        "panel-2",
        "panel-2",
        "login: unknown user",
    )
    assert '"count": 1' in (unknown.new_value or "")


@pytest.mark.req("ACC-005")
async def test_disabled_users_cannot_sign_in(users: UserService, admin: ActionContext, audit: AuditLog) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    user = await users.set_disabled(admin, "alice", True, reason="left the company")
    assert user.disabled
    assert (await users.sign_in("alice", PASSWORD)).ctx is None
    [failed] = await audit.query(action="login.failed")
    assert failed.reason == "account disabled"
    [change] = await audit.query(action="user.disable")
    assert (change.username, change.object_id, change.old_value, change.new_value, change.reason) == (
        "root",
        "alice",
        '{"disabled": false}',
        '{"disabled": true}',
        "left the company",
    )
    await users.set_disabled(admin, "alice", False)
    assert (await users.sign_in("alice", PASSWORD)).ctx is not None
    assert [u.username for u in await users.list_users()] == ["alice", "root"]


@pytest.mark.req("ACC-012")
async def test_refused_actions_raise_and_are_audited(users: UserService, audit: AuditLog) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    await users.create_user("mara", PASSWORD, Role.MANAGER)
    mara = (await users.sign_in("mara", PASSWORD, station="office")).ctx
    assert mara is not None
    with pytest.raises(PermissionDenied, match="may not manage users"):
        await users.set_disabled(mara, "alice", True)
    with pytest.raises(PermissionDenied):
        await users.reset_password(mara, "alice", "new password 1")
    with pytest.raises(PermissionDenied):
        await users.create_user("eve", PASSWORD, Role.ADMIN, actor=mara)
    refusals = await audit.query(username="mara")
    assert [(e.action, e.object_id, e.action_id) for e in refusals] == [
        ("user.create.denied", "eve", mara.id),
        ("user.reset_password.denied", "alice", mara.id),
        ("user.disable.denied", "alice", mara.id),
        ("login", "mara", mara.id),
    ]
    alice = await users.get("alice")
    assert alice is not None
    assert not alice.disabled
    assert await users.get("eve") is None
    assert (await users.sign_in("alice", PASSWORD)).ctx is not None


@pytest.mark.req("ACC-005")
async def test_admin_cannot_disable_their_own_account(users: UserService, admin: ActionContext) -> None:
    with pytest.raises(ValueError, match="own account"):
        await users.set_disabled(admin, "root", True)


@pytest.mark.req("ACC-002")
async def test_reset_password(users: UserService, admin: ActionContext, audit: AuditLog) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    with pytest.raises(PasswordPolicyError):
        await users.reset_password(admin, "alice", "short")
    with pytest.raises(UnknownUser, match="no user 'zed'"):
        await users.reset_password(admin, "zed", "new password 1")
    await users.reset_password(admin, "alice", "new password 1")
    assert (await users.sign_in("alice", PASSWORD)).ctx is None
    assert (await users.sign_in("alice", "new password 1")).ctx is not None
    [reset] = await audit.query(action="user.reset_password")
    assert (reset.username, reset.object_id, reset.old_value, reset.new_value) == ("root", "alice", None, None)


@pytest.mark.req("ACC-004")
async def test_logout_is_audited(users: UserService, audit: AuditLog) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    ctx = (await users.sign_in("alice", PASSWORD, station="panel-1")).ctx
    assert ctx is not None
    await users.logout(ctx)
    [logout] = await audit.query(action="logout")
    assert (logout.username, logout.station, logout.action_id) == ("alice", "panel-1", ctx.id)


@pytest.mark.req("SEC-001")
async def test_outdated_hash_is_upgraded_at_sign_in(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    weak = UserService(db, audit, clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    old_hash = (await weak.create_user("alice", PASSWORD, Role.OPERATOR)).password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    users = UserService(db, audit, clock, hasher=stronger)
    assert (await users.sign_in("alice", PASSWORD)).ctx is not None
    stored = await users.get("alice")
    assert stored is not None
    assert stored.password_hash != old_hash
    assert not stronger.check_needs_rehash(stored.password_hash)
    assert (await users.sign_in("alice", PASSWORD)).ctx is not None
    assert await audit.verify() is None

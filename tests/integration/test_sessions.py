"""Server-side sessions on SQLite and PostgreSQL: bounded, rotated, locked, and ended by every account change."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.access.sessions import SessionEnd, SessionsEnded, SessionService, session_key
from hmi.clock import ManualClock
from hmi.config import AccessPolicy
from hmi.store.database import Database

PASSWORD = "correct horse"


@pytest.fixture
async def people(users: UserService) -> tuple[ActionContext, ActionContext]:
    """An administrator and an operator, signed in (their contexts)."""
    await users.create_user("root", "admin password", Role.ADMIN, "Ada Admin")
    await users.create_user("olga", PASSWORD, Role.OPERATOR, "Olga Operator")
    admin = (await users.sign_in("root", "admin password", station="office")).ctx
    olga = (await users.sign_in("olga", PASSWORD, station="panel-1")).ctx
    assert admin is not None
    assert olga is not None
    return admin, olga


@pytest.mark.req("ACC-008")
async def test_a_session_resolves_the_live_account(users: UserService, people: tuple[ActionContext, ...]) -> None:
    _, olga = people
    sid = await users.sessions.start(olga)
    check = await users.sessions.check(sid)
    assert not check.refusal
    assert check.ctx is not None
    assert (check.ctx.username, check.ctx.role, check.ctx.station) == ("olga", Role.OPERATOR, "panel-1")
    # Every resolution is a new action (its own id for the record and its audit row).
    assert (await users.sessions.check(sid)).ctx.id != check.ctx.id  # type: ignore[union-attr]
    assert (await users.sessions.check("made-up-id")).refusal
    assert (await users.sessions.check(None)).refusal


@pytest.mark.req("SEC-003")
async def test_the_database_keeps_only_a_hash_of_the_session_id(
    db: Database, users: UserService, people: tuple[ActionContext, ...]
) -> None:
    from sqlmodel import select

    from hmi.store.models import UserSession

    sid = await users.sessions.start(people[1])
    async with db.session() as session:
        [row] = (await session.execute(select(UserSession))).scalars().all()
    assert row.key == session_key(sid)
    assert sid not in row.key


@pytest.mark.req("SEC-003")
async def test_each_sign_in_gets_a_new_id(users: UserService, people: tuple[ActionContext, ...]) -> None:
    _, olga = people
    first = await users.sessions.start(olga)
    second = await users.sessions.start(olga)
    assert first != second
    assert len(first) >= 40


@pytest.mark.parametrize("change", ["disable", "reset_password", "logout", "lockout", "switch"])
@pytest.mark.req("ACC-008")
async def test_account_changes_end_every_session_of_the_person(
    users: UserService, people: tuple[ActionContext, ...], change: str
) -> None:
    admin, olga = people
    panel1, panel2 = await users.sessions.start(olga), await users.sessions.start(olga)
    admins = await users.sessions.start(admin)
    told: list[SessionsEnded] = []
    unsubscribe = users.sessions.subscribe(told.append)
    if change == "disable":
        await users.set_disabled(admin, "olga", True)
        reason = SessionEnd.DISABLED
    elif change == "reset_password":
        await users.reset_password(admin, "olga", "a new password 2")
        reason = SessionEnd.PASSWORD_RESET
    elif change == "logout":
        await users.logout(olga)
        reason = SessionEnd.LOGOUT
    elif change == "lockout":
        for attempt in range(users.policy.lockout_attempts):
            await users.sign_in("olga", f"wrong {attempt}")
        reason = SessionEnd.LOCKOUT
    else:
        assert (await users.switch_user(olga, "root", "admin password", "panel-1")).ok
        reason = SessionEnd.SWITCH
    unsubscribe()
    for sid in (panel1, panel2):
        check = await users.sessions.check(sid)
        assert check.ctx is None
        assert check.ended is reason
        assert "Nothing was recorded" in check.refusal
    # Only that person's sessions: the administrator goes on.
    assert not (await users.sessions.check(admins)).refusal
    assert [(e.reason, e.user_id) for e in told] == [(reason, olga.user_id)]


@pytest.mark.req("ACC-006")
async def test_an_idle_logoff_ends_only_that_panel(users: UserService, people: tuple[ActionContext, ...]) -> None:
    _, olga = people
    idle, busy = await users.sessions.start(olga), await users.sessions.start(olga)
    await users.logout(olga, idle=True, session_id=idle)
    assert (await users.sessions.check(idle)).ended is SessionEnd.IDLE
    assert not (await users.sessions.check(busy)).refusal


@pytest.mark.req("ACC-009")
@pytest.mark.req("ACC-008")
async def test_a_busy_sqlite_file_does_not_turn_a_session_away(
    db: Database, users: UserService, people: tuple[ActionContext, ...], clock: ManualClock, tmp_path: Path
) -> None:
    """The historian at thousands of changes a second keeps SQLite's write lock busy; a session check only reads,
    and the last-seen note it writes now and then waits for its turn at the next check instead of failing it."""
    if db.dialect != "sqlite":
        pytest.skip("SQLite's file lock; PostgreSQL locks rows")
    sid = await users.sessions.start(people[1])
    clock.advance(120)  # due for a last-seen note
    holder = sqlite3.connect(tmp_path / "hmi.db", timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for longer than the busy timeout
        check = await users.sessions.check(sid)
    finally:
        holder.rollback()
        holder.close()
    assert check.ctx is not None
    assert check.ctx.username == "olga"
    assert not check.refusal


async def test_a_session_expires_after_its_lifetime(
    users: UserService, people: tuple[ActionContext, ...], clock: ManualClock
) -> None:
    sid = await users.sessions.start(people[1])
    clock.advance(12 * 3600 - 1)
    assert not (await users.sessions.check(sid)).refusal
    clock.advance(1)
    check = await users.sessions.check(sid)
    assert check.ended is SessionEnd.EXPIRED
    assert "expired" in check.refusal


@pytest.mark.req("ACC-009")
async def test_the_lifetime_comes_from_the_plant_file(db: Database, audit: object, clock: ManualClock) -> None:
    users = UserService(db, audit, clock, policy=AccessPolicy(session_hours=1))  # type: ignore[arg-type]
    await users.create_user("olga", PASSWORD, Role.OPERATOR, enforce_policy=False)
    olga = (await users.sign_in("olga", PASSWORD)).ctx
    assert olga is not None
    sid = await users.sessions.start(olga)
    clock.advance(3600)
    assert (await users.sessions.check(sid)).ended is SessionEnd.EXPIRED
    with pytest.raises(ValidationError, match="session_hours"):
        AccessPolicy(session_hours=0)
    with pytest.raises(ValueError, match="session lifetime must be positive"):
        SessionService(db, clock, timedelta(0))


@pytest.mark.req("ACC-007")
async def test_a_locked_session_may_not_act_until_unlocked(
    users: UserService, people: tuple[ActionContext, ...]
) -> None:
    sid = await users.sessions.start(people[1])
    await users.sessions.set_locked(sid, True)
    check = await users.sessions.check(sid)
    assert check.ctx is not None
    assert check.refusal
    assert "locked" in check.refusal
    await users.sessions.set_locked(sid, False)
    assert not (await users.sessions.check(sid)).refusal


@pytest.mark.req("ACC-008")
async def test_an_account_disabled_behind_the_services_back_is_refused(
    db: Database, users: UserService, people: tuple[ActionContext, ...]
) -> None:
    import sqlalchemy as sa

    sid = await users.sessions.start(people[1])
    async with db.session(write=True) as session:
        await session.execute(sa.text("UPDATE users SET disabled = :yes WHERE username = 'olga'"), {"yes": True})
        await session.commit()
    assert (await users.sessions.check(sid)).ended is SessionEnd.DISABLED

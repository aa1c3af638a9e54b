"""Sign-in under abuse: attempt limits per account and per address, unknown names audited in bulk, argon2 apart."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from hmi.access.auth import UserService
from hmi.access.login_guard import name_digest
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.config import AccessPolicy
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from tests.conftest import FAST_HASHER

PASSWORD = "correct horse"


@pytest.fixture
async def limited(db: Database, audit: AuditLog, clock: ManualClock) -> AsyncIterator[UserService]:
    """A service with small limits: 3 attempts per account, 5 per address, in an hour (the real `limits` library)."""
    policy = AccessPolicy(
        lockout_attempts=5, login_limit_per_account="3 per hour", login_limit_per_address="5 per hour"
    )
    service = UserService(db, audit, clock, hasher=FAST_HASHER, policy=policy)
    await service.create_user("alice", PASSWORD, Role.OPERATOR)
    await service.create_user("bob", PASSWORD, Role.OPERATOR)
    yield service
    await service.stop()


@pytest.mark.req("SEC-002")
async def test_attempts_per_account_are_limited_before_the_password_is_checked(
    limited: UserService, audit: AuditLog
) -> None:
    for _ in range(3):
        assert (
            await limited.sign_in("alice", "wrong guess", station="panel-1", address="10.0.0.1")
        ).reason == "wrong password"
    # The right password too: the fourth attempt within the hour is refused unchecked, from any address.
    for address in ("10.0.0.1", "10.0.0.2"):
        result = await limited.sign_in("Alice", PASSWORD, station="panel-1", address=address)
        assert (result.ok, result.reason) == (False, "too many attempts")
        assert result.throttled is not None
        assert (result.throttled.scope, result.throttled.limit) == ("account", "3 per hour")
        assert 0 < result.throttled.retry_after_s <= 3600
    alice = await limited.get("alice")
    assert alice is not None
    # Not counted as failures: the lockout stays the configured rule for known accounts.
    assert (alice.failed_logins, alice.locked_at) == (3, None)
    assert len(await audit.query(action="login.failed")) == 3
    # Another account from the same address is not affected.
    assert (await limited.sign_in("bob", PASSWORD, station="panel-1", address="10.0.0.1")).ok
    await limited.stop()
    rows = await audit.query(action="login.throttled")
    assert [(r.object_id, json.loads(r.new_value or "{}")["count"]) for r in rows] == [("10.0.0.2", 1), ("10.0.0.1", 1)]


@pytest.mark.req("SEC-002")
async def test_attempts_per_address_are_limited_across_names(limited: UserService, audit: AuditLog) -> None:
    for name in ("eve1", "eve2", "eve3", "eve4", "alice"):
        assert not (await limited.sign_in(name, "guess", station="web:10.0.0.9")).ok
    for _ in range(3):
        result = await limited.sign_in("bob", PASSWORD, station="web:10.0.0.9")
        assert result.throttled is not None
        assert (result.throttled.scope, result.throttled.limit) == ("address", "5 per hour")
    # Bob from his own panel is in; the flood from 10.0.0.9 did not lock him out.
    assert (await limited.sign_in("bob", PASSWORD, station="web:10.0.0.10")).ok
    await limited.stop()
    [row] = await audit.query(action="login.throttled")
    value = json.loads(row.new_value or "{}")
    assert (row.object_id, value["count"], value["names_sha256_8"]) == ("web:10.0.0.9", 3, [name_digest("bob")])
    assert "5 per hour" in (row.reason or "")


@pytest.mark.req("ACC-004")
async def test_unknown_names_are_audited_once_per_address_and_window(
    db: Database, audit: AuditLog, clock: ManualClock
) -> None:
    users = UserService(db, audit, clock, hasher=FAST_HASHER)
    try:
        tried = ["root", "admin", "Hunter2-my-password", "admin", "operator"]
        for name in tried:
            assert (await users.sign_in(name, "guess", station="web:10.0.0.7")).reason == "unknown user"
        for name in ("root", "guest"):
            await users.sign_in(name, "guess", station="web:10.0.0.8")
        clock.advance(30)
        # Within the window nothing is written yet: the count is still growing.
        assert await users.refusals.flush() == 0
        assert await audit.query(action="login.failed.unknown") == []
        clock.advance(31)
        assert await users.refusals.flush() == 2
        rows = {row.object_id: row for row in await audit.query(action="login.failed.unknown")}
        assert set(rows) == {"web:10.0.0.7", "web:10.0.0.8"}
        first = json.loads(rows["web:10.0.0.7"].new_value or "{}")
        assert first["count"] == 5
        assert first["names_sha256_8"] == sorted({name_digest(n.lower()) for n in tried})
        assert json.loads(rows["web:10.0.0.8"].new_value or "{}")["count"] == 2
        assert "5 sign-in attempts for unknown user names from web:10.0.0.7" in (rows["web:10.0.0.7"].detail or "")
        # What was typed as a name (perhaps a password) is nowhere in the trail.
        for entry in await audit.query():
            assert "hunter2" not in repr(entry).lower()
        assert await audit.query(action="login.failed") == []
        # The next attempt opens a new window: a row of its own, written at stop.
        await users.sign_in("root", "guess", station="web:10.0.0.7")
    finally:
        await users.stop()
    assert len(await audit.query(action="login.failed.unknown")) == 3


@pytest.mark.req("OPS-006")
async def test_argon2_never_waits_for_the_default_executor(users: UserService) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    loop = asyncio.get_running_loop()
    # A default executor with one thread, held by a long job (as a spool replay or an export might hold it).
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    release = threading.Event()
    held = loop.run_in_executor(None, release.wait)
    try:
        # The bound only keeps a regression from hanging the suite; sign-in needs no default-executor thread.
        result = await asyncio.wait_for(users.sign_in("alice", PASSWORD), timeout=60)
        unknown = await asyncio.wait_for(users.sign_in("nobody", PASSWORD), timeout=60)
        assert await asyncio.wait_for(
            users.verify_password((await users.get("alice")).password_hash, PASSWORD), timeout=60
        )
    finally:
        release.set()
        await held
    assert result.ok
    assert unknown.reason == "unknown user"


@pytest.mark.req("OPS-006")
async def test_the_argon2_workers_stop_with_the_service_and_return_on_use(users: UserService) -> None:
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    assert any(t.name.startswith("argon2") for t in threading.enumerate())
    await users.stop()
    assert (await users.sign_in("alice", PASSWORD)).ok


@pytest.mark.req("SEC-002")
def test_limits_are_validated_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"'lots' is not a rate limit; write it like '20 per 10 minutes'"):
        AccessPolicy(login_limit_per_account="lots")

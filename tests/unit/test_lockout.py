"""Lockout counting: consecutive failures lock at the configured count, a success in between starts again.

Uses a real SQLite file (the counter lives on the user row), with the cheap argon2 parameters of the suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.auth import UserService
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.config import AccessPolicy
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from tests.conftest import FAST_HASHER

PASSWORD = "correct horse"


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'lockout.db'}")
    await db.start()
    yield db
    await db.stop()


def service(db: Database, attempts: int = 3) -> UserService:
    return UserService(
        db,
        AuditLog(db, ManualClock()),
        ManualClock(),
        hasher=FAST_HASHER,
        policy=AccessPolicy(lockout_attempts=attempts),
    )


async def failed_logins(users: UserService, name: str) -> int:
    user = await users.get(name)
    assert user is not None
    return user.failed_logins


@pytest.mark.req("ACC-003")
async def test_counts_consecutive_failures_and_locks_at_the_limit(sqlite: Database) -> None:
    users = service(sqlite, attempts=3)
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    outcomes = [await users.sign_in("alice", "wrong guess") for _ in range(3)]
    assert [(o.reason, o.locked) for o in outcomes] == [
        ("wrong password", False),
        ("wrong password", False),
        ("wrong password", True),
    ]
    assert await failed_logins(users, "alice") == 3


@pytest.mark.req("ACC-003")
async def test_a_success_starts_the_count_again(sqlite: Database) -> None:
    users = service(sqlite, attempts=3)
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    for _ in range(2):
        assert not (await users.sign_in("alice", "wrong guess")).ok
    assert await failed_logins(users, "alice") == 2
    assert (await users.sign_in("alice", PASSWORD)).ok
    assert await failed_logins(users, "alice") == 0
    for _ in range(2):
        assert not (await users.sign_in("alice", "wrong guess")).locked
    assert (await users.sign_in("alice", PASSWORD)).ok


@pytest.mark.req("ACC-003")
async def test_unknown_names_lock_nothing(sqlite: Database) -> None:
    users = service(sqlite, attempts=1)
    await users.create_user("alice", PASSWORD, Role.OPERATOR)
    outcome = await users.sign_in("nobody", "wrong guess")
    assert (outcome.reason, outcome.locked) == ("unknown user", False)
    assert await failed_logins(users, "alice") == 0

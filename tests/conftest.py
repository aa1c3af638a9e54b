"""Shared fixtures: a real database (SQLite file and local PostgreSQL), a manual clock, the audit log, signed-in
people, and an alarm engine fed through a real tag cache. Waiting for a condition: tests/waiting.py."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.alarms.engine import AlarmEngine
from hmi.clock import Clock, ManualClock, utc_now
from hmi.config import PlantConfig
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.tags import Quality, TagCache, TagState

# The server the `postgres` parameter creates its throw-away databases on; override for another server.
PG_ADMIN_URL = os.environ.get("HMI_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# Real argon2id, with parameters cheap enough that a test suite can hash hundreds of passwords.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

FakeClock = ManualClock
"""The controllable clock tests drive instead of sleeping (`now()`, `advance(seconds)`)."""

# The password `sign_in` gives the people it creates (long enough for the default password policy).
PERSON_PASSWORD = "long-enough-pw"


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """Create an empty database `hmi_test_<random>` on the local PostgreSQL, yield its URL, drop it afterwards."""
    name = f"hmi_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}); start it, set HMI_TEST_PG_ADMIN_URL, "
            "or deselect these tests with -m 'not postgres'"
        )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            # FORCE ends connections a failed test may have left open.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A started Database with all tables: a SQLite file in tmp_path, or a fresh database on the local PostgreSQL."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'hmi.db'}"
        else:
            url = await stack.enter_async_context(fresh_postgres_database())
        database = Database(url)
        await database.start()
        stack.push_async_callback(database.stop)
        yield database


@pytest.fixture
def clock() -> ManualClock:
    """A manual UTC clock starting Monday 2025-01-06 06:00 UTC (start of the early shift)."""
    return ManualClock(datetime(2025, 1, 6, 6, 0, tzinfo=UTC))


@pytest.fixture
def audit(db: Database, clock: ManualClock) -> AuditLog:
    """The audit log on `db`, timed by `clock`."""
    return AuditLog(db, clock)


@pytest.fixture
async def users(db: Database, audit: AuditLog, clock: ManualClock) -> AsyncIterator[UserService]:
    """The user service on `db`, hashing with cheap argon2 parameters (FAST_HASHER); stopped after the test."""
    service = UserService(db, audit, clock, hasher=FAST_HASHER)
    yield service
    await service.stop()


# ------------------------------------------------------------------------------------ validation package (VAL-002)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's `@pytest.mark.req(...)` ids go into the JUnit XML as its property `requirements` (space
    separated), which `hmi validation report` reads; set at collection, so skipped and failed tests carry them too."""
    for item in items:
        ids = [str(i) for mark in item.iter_markers("req") for i in mark.args]
        if ids:
            item.user_properties.append(("requirements", " ".join(dict.fromkeys(ids))))


def pytest_sessionstart(session: pytest.Session) -> None:
    """The environment this run's tests ran in (factory-hmi version and revision, Python, platform, key packages)
    as JUnit suite properties `environment.<name>`; a no-op without --junitxml. Written by the process that writes
    the XML (with pytest-xdist, the controller: its workers' suite properties would be lost)."""
    from _pytest.junitxml import xml_key

    from hmi.validation import ENVIRONMENT_PREFIX, environment

    xml = session.config.stash.get(xml_key, None)
    if xml is None or hasattr(session.config, "workerinput"):
        return
    for name, value in environment().items():
        xml.add_global_property(ENVIRONMENT_PREFIX + name, value)


async def execute(db: Database, statement: str, params: dict[str, object] | None = None) -> None:
    """Run one SQL statement on `db` and commit it: direct access to the database, past the application."""
    async with db.session() as session:
        await session.execute(sa.text(statement), params or {})
        await session.commit()


async def drop_audit_guards(db: Database) -> None:
    """Switch off the audit table's append-only guard, as someone with owner rights on the database could."""
    if db.dialect == "sqlite":
        await execute(db, "DROP TRIGGER audit_entries_no_update")
        await execute(db, "DROP TRIGGER audit_entries_no_delete")
    else:
        await execute(db, "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only")


@pytest.fixture
async def admin(users: UserService) -> ActionContext:
    """root, an administrator (Ada Admin), signed in at the station "office"."""
    return await sign_in(users, "root", Role.ADMIN, password="admin password", full_name="Ada Admin", station="office")


async def sign_in(
    users: UserService,
    username: str,
    role: Role,
    *,
    password: str = PERSON_PASSWORD,
    full_name: str = "",
    station: str = "",
) -> ActionContext:
    """Create the account `username` with `role` and sign it in; its context, as a screen would act with it."""
    await users.create_user(username, password, role, full_name)
    ctx = (await users.sign_in(username, password, station=station)).ctx
    assert ctx is not None, f"{username} could not sign in"
    return ctx


def good(tag: str, value: object, at: datetime) -> TagState:
    """A GOOD value of `tag` with source, server and receive time `at`."""
    return TagState(tag, value, 0, Quality.GOOD, at, at, at)


class FedEngine:
    """An alarm engine on `plant`, started, on a tag cache of its own; `put` feeds it a GOOD value at the clock's
    time (what an OPC UA source would deliver)."""

    def __init__(self, plant: PlantConfig, clock: Clock = utc_now) -> None:
        self.plant = plant
        self.clock = clock
        self.cache = TagCache()
        self.engine = AlarmEngine(plant, self.cache, clock)
        self.engine.start()

    def put(self, tag: str, value: object) -> None:
        self.cache.update([good(tag, value, self.clock())])

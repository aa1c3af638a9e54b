"""Where records live: URL resolution, the async engine and session factory, and one clear error when it is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from hmi.store import models
from hmi.texts import Text

try:  # asyncpg is a hard dependency, but the SQLite-only paths must not care if it is absent.
    import asyncpg  # type: ignore[import-untyped]  # ships no type information
except ImportError:  # pragma: no cover - exercised only in stripped-down installs
    asyncpg = None

_log = logging.getLogger(__name__)

ENV_VAR = "HMI_DB_URL"
CONNECT_TIMEOUT_S = 5.0
# SQLite waits this long for another writer (a second process, the CLI) before it reports "database is locked".
BUSY_TIMEOUT_MS = 5000
# Connections kept open to a SQLite file, and what each may cache. aiosqlite runs each connection in a thread of
# its own; every connection opened beyond the kept ones is a new thread and SQLite connection (schema read, WAL
# opened, pragmas) whose memory, once it closes, stays scattered in that thread's malloc arena. With SQLAlchemy's
# default of 5 kept, ten panels and the services opened and closed about 44 connections a minute on the soak bench,
# and glibc's thread arenas grew from 14.5 to 26 MiB between minutes 9 and 30, 19 MiB of it free. Keeping 20 stopped
# the churn, but each kept connection then filled SQLite's default 2 MB page cache (the arenas at 54 MiB by minute
# 30). So: 10 kept, the most recently used first, and a 512 KiB page cache each. In WAL mode a connection empties
# its cache when it starts reading after another connection has committed, and the historian commits every
# second, so a bigger cache holds memory without saving reads.
SQLITE_POOL_SIZE = 10
SQLITE_POOL_OVERFLOW = 10
SQLITE_CACHE_KIB = 512

# SQLSTATE classes that mean "the server cannot serve us", as opposed to a faulty statement:
# 08 connection exception, 28 invalid authorisation, 3D unknown database, 53 insufficient resources,
# 57P operator intervention (shutdown, starting up).
_UNAVAILABLE_SQLSTATES = ("08", "28", "3D", "53", "57P")

# One advisory lock key for schema creation so several instances starting together do not race on DDL.
_SCHEMA_LOCK_KEY = 0x686D695F736368  # "hmi_sch"

_ACCEPTED = (
    "sqlite:///PATH, sqlite+aiosqlite:///PATH, postgresql://USER@HOST:PORT/DB (or postgres://, postgresql+asyncpg://)"
)


@dataclass(frozen=True, slots=True)
class GuardReport:
    """What start() found of the append-only guards: those it had to re-install, and whether records existed."""

    replaced: tuple[str, ...] = ()
    had_audit_rows: bool = False
    installed: bool = True
    """False when the database was started with install_guards=False: `replaced` are still missing."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used; the message names it and says what to do."""

    def __init__(self, message: str, *, url: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


def resolve_db_url(cli_value: str | None, data_dir: Path) -> str:
    """The async database URL: --db value, else $HMI_DB_URL, else SQLite `hmi.db` in `data_dir`."""
    for candidate in (cli_value, os.environ.get(ENV_VAR)):
        if candidate and candidate.strip():
            return normalise_db_url(candidate.strip())
    return f"sqlite+aiosqlite:///{data_dir.expanduser().absolute() / 'hmi.db'}"


def normalise_db_url(url: str) -> str:
    """Rewrite a sync or libpq-style URL to the async driver this project uses; ValueError for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"database URL {_redact(url)!r} is not a URL; use one of: {_ACCEPTED}")
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
    }
    driver = drivers.get(scheme.lower())
    if driver is None:
        raise ValueError(f"database URL scheme {scheme!r} is not supported; use one of: {_ACCEPTED}")
    normalised = f"{driver}://{rest}"
    try:
        parsed = make_url(normalised)
    except ArgumentError as exc:
        raise ValueError(f"database URL {_redact(url)!r} cannot be parsed ({exc}); use one of: {_ACCEPTED}") from exc
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        # libpq URLs (as managed PostgreSQL services hand them out) say sslmode=; asyncpg calls it ssl=.
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": parsed.query["sslmode"]})
        normalised = parsed.render_as_string(hide_password=False)
    return normalised


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Unparseable: show only the scheme, the rest may hold a password.
        return url.partition("://")[0] + "://…"


class Database:
    """An async engine and session factory over SQLite (embedded default) or PostgreSQL (shared by instances)."""

    def __init__(
        self, url: str, *, connect_timeout: float = CONNECT_TIMEOUT_S, echo: bool = False, install_guards: bool = True
    ) -> None:
        self._url: URL = make_url(normalise_db_url(url))
        # False for read-only checks (`hmi audit verify`): missing guards are reported, not silently re-installed.
        self._install_guards = install_guards
        self._connect_timeout = connect_timeout
        self._echo = echo
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._write_sessions: async_sessionmaker[AsyncSession] | None = None
        self.guard_report = GuardReport()

    @property
    def url(self) -> str:
        """The full URL, password included; never log this, use `redacted_url`."""
        return self._url.render_as_string(hide_password=False)

    @property
    def redacted_url(self) -> str:
        """The URL with the password replaced by ***, safe for logs and messages."""
        return self._url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._url.get_backend_name()

    @property
    def engine(self) -> AsyncEngine:
        """The started engine; RuntimeError before `start()`."""
        if self._engine is None:
            raise RuntimeError("Database.start() has not been called")
        return self._engine

    @property
    def database_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL and in-memory SQLite."""
        database = self._url.database
        if self.dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).expanduser().absolute()

    def describe(self) -> str:
        """Human name of the database for messages: `PostgreSQL at host:port/db` or `SQLite database PATH`."""
        if self.dialect == "sqlite":
            return Text("SQLite database {path}", path=self._url.database or ":memory:")
        return Text(
            "PostgreSQL at {host}:{port}/{database}",
            host=self._url.host or "localhost",
            port=self._url.port or 5432,
            database=self._url.database or "",
        )

    async def start(self) -> None:
        """Create the engine, connect once, and create missing tables; DatabaseUnavailable if that fails."""
        if self._engine is not None:
            return
        with self.translate_errors():
            engine = await self._create_engine()
            try:
                await self._create_schema(engine)
            except BaseException:
                await engine.dispose()
                raise
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # On SQLite a writing transaction takes the write lock at BEGIN (see _begin), so what it reads
        # (the audit chain's tail) cannot change under it; on PostgreSQL the option is ignored.
        self._write_sessions = async_sessionmaker(
            engine.execution_options(hmi_begin="BEGIN IMMEDIATE"), expire_on_commit=False
        )

    async def stop(self) -> None:
        """Close every pooled connection; the object can be started again."""
        engine, self._engine = self._engine, None
        self._sessions = self._write_sessions = None
        if engine is not None:
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """An AsyncSession (expire_on_commit=False) that rolls back on error; the caller commits.

        `write=True` on SQLite starts the transaction with BEGIN IMMEDIATE so read-then-write sequences
        are serialised against other processes. Driver errors inside the block become DatabaseUnavailable.
        """
        factory = self._write_sessions if write else self._sessions
        if factory is None:
            raise RuntimeError("Database.start() has not been called")
        with self.translate_errors():
            session = factory()
            try:
                yield session
            except BaseException:
                # On a dead connection the rollback in close() fails too; the block's own error is the one
                # that explains what happened, so it must not be replaced by the cleanup's.
                try:
                    await session.close()
                except Exception:
                    _log.debug("closing a failed session also failed; invalidating its connection", exc_info=True)
                    with contextlib.suppress(Exception):
                        await session.invalidate()
                raise
            await session.close()

    @contextlib.contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn driver and connection errors raised inside the block into DatabaseUnavailable."""
        try:
            yield
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            reason = unavailable_reason(exc, self._connect_timeout)
            if reason is None:
                raise
            raise self.unavailable(reason) from exc

    def unavailable(self, reason: str) -> DatabaseUnavailable:
        """A DatabaseUnavailable naming this database, the cause, and what to check."""
        if self.dialect == "sqlite":
            message = Text(
                "{database} cannot be used: {reason}. Check that the file and its folder exist and are "
                "writable and that no other program holds it locked, or the --db / {setting} setting. "
                "Nothing was saved.",
                database=self.describe(),
                reason=reason,
                setting=ENV_VAR,
            )
        else:
            message = Text(
                "{database} is not reachable: {reason}. Check the server is running, or the --db / "
                "{setting} setting ({url}). Nothing was saved.",
                database=self.describe(),
                reason=reason,
                setting=ENV_VAR,
                url=self.redacted_url,
            )
        return DatabaseUnavailable(message, url=self.redacted_url, reason=reason)

    async def direct_connection(self, application_name: str = "factory-hmi") -> Any:
        """A PostgreSQL connection of its own (asyncpg), outside the pool; the caller closes it.

        For what lives as long as one connection does: a session-level advisory lock, LISTEN. The application name
        shows in pg_stat_activity (who holds the lock).
        """
        if self.dialect != "postgresql" or asyncpg is None:
            raise RuntimeError(f"a direct connection needs PostgreSQL, not {self.describe()}")
        dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        with self.translate_errors():
            return await asyncpg.connect(
                dsn, timeout=self._connect_timeout, server_settings={"application_name": application_name[:63]}
            )

    async def _create_engine(self) -> AsyncEngine:
        if self.dialect == "sqlite":
            return await self._create_sqlite_engine()
        return create_async_engine(
            self._url,
            echo=self._echo,
            # asyncpg's own default is 60 s: far too long for an operator waiting on a button.
            connect_args={"timeout": self._connect_timeout},
            # A PostgreSQL restart leaves dead pooled connections; check before use instead of failing an action.
            pool_pre_ping=True,
        )

    async def _create_sqlite_engine(self) -> AsyncEngine:
        database = self._url.database
        in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
        kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}
        if in_memory:
            # Every new connection to :memory: is a new empty database; keep exactly one.
            kwargs["poolclass"] = StaticPool
        else:
            assert database is not None
            await asyncio.to_thread(_make_parent_folder, database)
            kwargs.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW, pool_use_lifo=True)
        engine = create_async_engine(self._url, echo=self._echo, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's implicit transactions defer BEGIN until the first write; SQLAlchemy's documented recipe
            # is to switch that off and emit BEGIN ourselves (see _begin), which also lets writers use IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                if not in_memory:
                    # WAL lets the screens read while the historian or an acknowledgement writes.
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
                cursor.execute("PRAGMA foreign_keys=ON")
            finally:
                cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql(conn.get_execution_options().get("hmi_begin", "BEGIN"))

        return engine

    async def _create_schema(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            if self.dialect == "postgresql":
                # Instances starting together would otherwise both try CREATE TABLE and one would fail.
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            had_audit_rows = await conn.run_sync(_has_audit_rows)
            await conn.run_sync(SQLModel.metadata.create_all)
            for statement in models.partition_ddl(self.dialect):
                await conn.exec_driver_sql(statement)
            await conn.run_sync(_add_missing_columns)
        async with engine.connect() as conn:
            transaction = await conn.begin()
            if self.dialect == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            before = await self._guard_definitions(conn)
            for statement in models.append_only_ddl(self.dialect):
                await conn.exec_driver_sql(statement)
            after = await self._guard_definitions(conn)
            # DDL is transactional on both databases: a check-only start sees what installing would change.
            await (transaction.commit() if self._install_guards else transaction.rollback())
        # Re-installing is only half the job: a guard that was missing or changed is evidence of someone working
        # around it, which the caller records in the audit trail (hmi.records.audit.record_guard_report).
        guards = models.append_only_guards(self.dialect)
        replaced = tuple(name for name in guards if before.get(name) != after.get(name))
        self.guard_report = GuardReport(replaced, had_audit_rows, self._install_guards)

    async def _guard_definitions(self, conn: Any) -> dict[str, str]:
        if self.dialect not in ("sqlite", "postgresql"):
            return {}
        rows = (await conn.exec_driver_sql(models.append_only_definitions_sql(self.dialect))).all()
        return {str(name): str(definition) for name, definition in rows}


def _has_audit_rows(conn: sa.Connection) -> bool:
    table = models.AuditEntry.__tablename__
    if not sa.inspect(conn).has_table(table):
        return False
    return conn.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first() is not None


def _add_missing_columns(conn: sa.Connection) -> None:
    """Add columns that newer tables have but an existing database lacks (create_all only creates whole tables).

    Only additive changes: a new column must be nullable or carry a server default, so old rows stay valid.
    """
    inspector = sa.inspect(conn)
    for table in SQLModel.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise RuntimeError(
                    f"column {table.name}.{column.name} is missing and cannot be added to existing "
                    "rows: it needs a server default or must be nullable"
                )
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(conn.dialect)}"
            if column.server_default is not None:
                # The models give server defaults as a string or sa.text(), which SQLAlchemy keeps as a DefaultClause.
                default = cast(sa.DefaultClause, column.server_default).arg
                ddl += f" DEFAULT {default.text if hasattr(default, 'text') else default}"
                ddl += "" if column.nullable else " NOT NULL"
            _log.info("adding column %s.%s to the existing database", table.name, column.name)
            conn.exec_driver_sql(ddl)


def unavailable_reason(exc: BaseException, connect_timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """A short human reason when `exc` means the database cannot be reached or used, else None."""
    if isinstance(exc, ConnectionRefusedError):
        return Text("connection refused")
    if isinstance(exc, socket.gaierror):
        return Text("the host name cannot be resolved")
    if isinstance(exc, TimeoutError):
        return Text("no answer within {seconds:g} s", seconds=connect_timeout)
    if isinstance(exc, PoolTimeoutError):
        return Text("all database connections are busy")
    if isinstance(exc, OSError):
        return (os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__).rstrip(".").lower()
    if isinstance(exc, OperationalError | InterfaceError):
        return _first_line(exc.orig) or type(exc).__name__
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or _is_unavailable_sqlstate(exc.orig):
            return _first_line(exc.orig) or type(exc).__name__
        return None
    if asyncpg is not None and (
        isinstance(exc, asyncpg.InterfaceError | asyncpg.PostgresConnectionError)
        or (isinstance(exc, asyncpg.PostgresError) and _is_unavailable_sqlstate(exc))
    ):
        return _first_line(exc) or type(exc).__name__
    return None


def _make_parent_folder(database: str) -> None:
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _is_unavailable_sqlstate(error: BaseException | None) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0].rstrip(".") if text else ""

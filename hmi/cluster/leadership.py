"""Which of the instances sharing one PostgreSQL database is the active one: a session-level advisory lock.

The active instance holds the OPC UA sessions and runs the alarm engine, the journal and the historian; the others
stand by. Why an advisory lock: the database every instance already depends on decides, so there is no second
consensus system to run or to disagree with, and the lock ends with its connection. An active instance that is
killed (kill -9, a crash) releases it as soon as PostgreSQL sees the connection close, without anyone's help; a
standby asking once a second then takes it. PostgreSQL holds a session-level advisory lock "until explicitly
released or the session ends" (PostgreSQL manual, §13.3.5 "Advisory Locks").

An active instance whose lock connection breaks asks for the lock again on a new connection. It gets it back when
no standby took it meanwhile; when another instance holds it, it must stop acting at once (`on_lost`): `hmi run`
exits then, and its service manager starts it again as a standby (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hmi.cluster.connection import OwnConnection
from hmi.store.database import Database, DatabaseUnavailable
from hmi.supervise import stop_tasks

log = logging.getLogger(__name__)

# The lock's two keys (pg_try_advisory_lock(int, int)): "FHMI" and 1. Advisory locks belong to one database, so
# plants on different databases of one server do not meet.
LOCK_CLASS = 0x46484D49
LOCK_ID = 1
# How often a standby asks for the lock: a takeover comes at most this long after the active one is gone.
POLL_S = 1.0
# How often the active instance checks its lock connection, and how long one check may take.
CHECK_S = 1.0
CHECK_TIMEOUT_S = 5.0

# Who holds the role: the application name of the session holding the lock ($1, $2: LOCK_CLASS, LOCK_ID).
HOLDER_SQL = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted
AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class Leadership:
    """Takes the active role when the lock is free and keeps it while the lock connection lives.

    `on_active` is awaited once, when this instance becomes active. `on_lost` is called when an active instance's
    lock connection fails: the caller must stop acting (the lock may be someone else's in a moment).
    """

    def __init__(
        self,
        db: Database,
        instance: str,
        *,
        on_active: Callable[[], Awaitable[None]],
        on_lost: Callable[[str], None],
        poll_s: float = POLL_S,
        check_s: float = CHECK_S,
    ) -> None:
        self._db = db
        self.instance = instance
        self._on_active = on_active
        self._on_lost = on_lost
        self._poll_s = poll_s
        self._check_s = check_s
        self._link = OwnConnection(db, self.application_name)
        self._holding: object = None  # the connection that got the lock (the lock is that session's, no other's)
        self._task: asyncio.Task[None] | None = None
        self.active = False
        # The active instance as last seen (for screens: they cannot wait for the database); None when unknown.
        self.active_instance: str | None = None

    @property
    def application_name(self) -> str:
        """How this instance's lock connection is named in pg_stat_activity."""
        return f"factory-hmi {self.instance}"

    async def start(self) -> bool:
        """Ask for the lock once (True: this instance is active now; `on_active` is NOT called for that), then keep
        asking (standby) or keep checking (active) in a task of its own."""
        try:
            self.active = await self._try()
            self.active_instance = self.instance if self.active else await self.holder()
        except DatabaseUnavailable as exc:
            log.warning("cannot ask for the active role yet: %s", exc)
        self._task = asyncio.create_task(self._run(), name="leadership")
        return self.active

    async def stop(self) -> None:
        """Stop asking or checking and close the lock connection (which releases the lock)."""
        task, self._task = self._task, None
        await stop_tasks(task)
        await self._link.close()
        self.active = False

    async def holder(self) -> str | None:
        """The instance holding the active role now (as its lock connection is named), or None."""
        conn = await self._link.get()
        name = await conn.fetchval(HOLDER_SQL, LOCK_CLASS, LOCK_ID)
        if not name:
            return None
        return str(name).removeprefix("factory-hmi ")

    async def _try(self) -> bool:
        conn = await self._link.get()
        with self._db.translate_errors():
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, LOCK_ID))
        self._holding = conn if got else None
        return got

    async def _run(self) -> None:
        while not self.active:
            await asyncio.sleep(self._poll_s)
            try:
                got = await self._try()
                self.active_instance = self.instance if got else await self.holder()
            except Exception as exc:  # the database is away: keep asking, on a new connection
                log.warning("cannot ask for the active role: %s", exc)
                self.active_instance = None
                await self._link.close()
                continue
            if got:
                self.active = True
                log.warning("this instance (%s) takes over as the active one", self.instance)
                try:
                    await self._on_active()
                except Exception:  # what could start, runs; the sources keep trying to connect by themselves
                    log.exception("taking over as the active instance failed in part")
        while True:
            await asyncio.sleep(self._check_s)
            try:
                # The lock's own connection, never a new one: a new one would answer without holding the lock.
                conn = self._link.current
                if conn is None or conn is not self._holding:
                    raise ConnectionError("the lock connection is closed")
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    await conn.fetchval("SELECT 1")
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                broken = f"{type(exc).__name__}: {exc}"
            await self._link.close()
            log.error("the connection holding the active role failed (%s); asking for the role again", broken)
            if await self._regain():
                continue
            self.active = False
            self.active_instance = None
            reason = f"the connection holding the active role failed ({broken}) and another instance holds it now"
            log.critical("%s; this instance stops acting", reason)
            self._on_lost(reason)
            return

    async def _regain(self) -> bool:
        """After the lock connection broke: True once the lock is this instance's again; False when the database
        answers and another instance holds it. While the database cannot be reached nobody can take the role (a
        standby needs the database to get the lock), so this instance keeps acting, as a single server does through
        a database outage (its historian and journal keep their rows on local disk meanwhile)."""
        while True:
            try:
                if await self._try():
                    log.warning("the active role is this instance's again (%s)", self.instance)
                    return True
                return False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot ask for the active role again yet: %s", exc)
                await self._link.close()
            await asyncio.sleep(self._poll_s)

"""Screens under NiceGUI's User simulation, on a real runtime: a SmallServer and a SQLite file."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from nicegui import background_tasks, core, ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing.general import nicegui_reset_globals, prepare_simulation
from nicegui.testing.user import User

from hmi.access.roles import Role
from hmi.clock import Clock, ManualClock
from hmi.config import PlantConfig
from hmi.runtime import Runtime
from hmi.store.database import Database
from tests.opcua_server import SmallServer, free_port
from tests.plant_fixture import INITIAL, small_plant
from tests.waiting import until

PASSWORD = "correct-horse-7"
USERS = (
    ("olga", Role.OPERATOR, "Olga Operator"),
    ("lena", Role.LEAD, "Lena Lead"),
    ("max", Role.MANAGER, "Max Manager"),
    ("ada", Role.ADMIN, "Ada Admin"),
)
T = TypeVar("T")
# A shutdown that has not ended after this long is stuck (it takes a second or two): its tasks' stacks go into the
# test's log, so a hang that pytest-timeout ends minutes later says where it waited.
SHUTDOWN_REPORT_S = 60.0
log = logging.getLogger(__name__)


def report_tasks(what: str) -> None:
    """Log every asyncio task of the running loop with the stack it waits in."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()} {task.get_coro()!r}", file=out)
        task.print_stack(limit=12, file=out)
    log.error("%s has not ended after %g s; its tasks:\n%s", what, SHUTDOWN_REPORT_S, out.getvalue())


@asynccontextmanager
async def simulated_user(rt: Runtime) -> AsyncIterator[User]:
    """Like NiceGUI's user_simulation, but the pages are ours, registered for this runtime."""
    from screens.app import setup
    from screens.cli import session_cookie

    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        slow: asyncio.TimerHandle | None = None
        try:
            prepare_simulation()
            setup(rt)
            # The cookie options `hmi run` uses, so what the browser is told is tested too.
            ui.run(storage_secret="test secret", session_middleware_kwargs=session_cookie(rt.plant.access))
            transport = httpx.ASGITransport(core.app)
            async with (
                core.app.router.lifespan_context(core.app),
                httpx.AsyncClient(transport=transport, base_url="http://test") as c,
            ):
                try:
                    yield User(c)
                finally:
                    slow = asyncio.get_running_loop().call_later(
                        SHUTDOWN_REPORT_S, report_tasks, "the screen harness's shutdown (NiceGUI, then the runtime)"
                    )
        finally:
            if slow is not None:
                slow.cancel()
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
            ui.navigate = Navigate()
            ui.notify = notify
            ui.download = download


@dataclass
class Harness:
    """What a screen test needs: the runtime, the simulated browser user, and the OPC UA server."""

    rt: Runtime
    user: User
    server: SmallServer

    async def login(self, username: str, password: str = PASSWORD) -> None:
        """Sign in through the login page."""
        await self.settle_navigation()
        await self.user.open("/login")
        self.user.find(marker="username").type(username)
        self.user.find(marker="password").type(password)
        self.user.find(marker="sign-in").click()
        await self.user.should_see(marker="clock", retries=100)

    async def logout(self) -> None:
        """Sign out and wait until the login page the logout navigates to is built."""
        await self.user.open("/logout")
        await self.settle_navigation()
        await self.user.should_see(marker="sign-in", retries=100)

    async def settle_navigation(self) -> None:
        """Wait for the page navigations still under way (the simulation runs `ui.navigate.to` as a background task):
        a page opened meanwhile would be replaced by the pending one, typed-in fields and messages with it."""

        def pending() -> bool:
            return any(t.get_name().startswith("navigate ") for t in background_tasks.running_tasks)

        await until(lambda: not pending(), what="the pending page navigation to finish")

    async def raise_temp_h(self) -> None:
        """Write 85 °C to L1.M1.Temp (its H limit is 80) and wait until the alarm L1.M1.Temp.H is raised."""
        await self.server.write("L1.M1.Temp", 85.0)
        await self.until(lambda: self.rt.alarms.get("L1.M1.Temp.H") is not None, what="L1.M1.Temp.H to be raised")

    def sign(self, username: str, password: str = PASSWORD) -> None:
        """Fill in the electronic signature of the open dialog (user id and password); the caller confirms."""
        self.user.find(marker="sign-user").type(username)
        self.user.find(marker="sign-password").type(password)

    def switch_user(self, username: str, password: str = PASSWORD) -> None:
        """Hand the panel over to `username` through the header's switch-user dialog."""
        self.user.find(marker="switch-user").click()
        self.user.find(marker="switch-username").type(username)
        self.user.find(marker="switch-password").type(password)
        self.user.find(marker="switch-confirm").click()

    async def until(
        self,
        predicate: Callable[[], T | Awaitable[T]],
        timeout: float = 10.0,  # noqa: ASYNC109
        what: str | None = None,
    ) -> T:
        """Wait for the runtime to reach a state (values arrive over OPC UA); see tests.waiting.until."""
        return await until(predicate, timeout, what)


def element(hmi: Harness, marker: str) -> Any:
    """The one element marked `marker` on the simulated user's page."""
    found = hmi.user.find(marker=marker).elements
    assert len(found) == 1, f"{len(found)} elements marked {marker}"
    return next(iter(found))


def set_value(hmi: Harness, marker: str, value: Any) -> None:
    """Set the value of the element marked `marker` (a select: the simulated user cannot open a Quasar menu)."""
    element(hmi, marker).set_value(value)


def table_rows(hmi: Harness, marker: str) -> list[dict[str, Any]]:
    """The rows of the table marked `marker`."""
    table = element(hmi, marker)
    assert isinstance(table, ui.table)
    return list(table.rows)


_DETAIL = re.compile(
    r'<div class="hmi-detail hmi-below-(\d+)"><span class="hmi-detail-label">[^<]*</span>'
    r'<span class="hmi-detail-value hmi-wrap">\{\{ props\.row\.(\w+) \}\}</span></div>'
)


def table_fit(hmi: Harness, marker: str) -> tuple[dict[str, str], dict[str, int]]:
    """How the fitted table marked `marker` lays out (screens/fitted_table.py): each column's classes (the hidden
    ones carry `hmi-from-N`), and the fields its expandable details row shows below which width."""
    table = element(hmi, marker)
    assert isinstance(table, ui.table)
    classes = {c["name"]: c.get("classes", "") for c in table.props["columns"]}
    details = {field: int(width) for width, field in _DETAIL.findall(table.slots["body"].template or "")}
    return classes, details


@asynccontextmanager
async def harness_on(
    tmp_path: Path,
    plant: Callable[[str], PlantConfig],
    initial: Mapping[str, Any],
    *,
    ready: Sequence[str] | None = None,
    clock: Clock | None = None,
    users: Sequence[tuple[str, Role, str]] = USERS,
    db_url: str | None = None,
) -> AsyncIterator[Harness]:
    """A screen harness: a SmallServer holding `initial`, the plant `plant(server_url)` running on a SQLite file in
    `tmp_path` (or the database `db_url`), the simulated browser and `users`; ready once the `ready` tags (default:
    all of `initial`) have values."""
    server = SmallServer(free_port(), dict(initial))
    await server.start()
    db = Database(db_url or f"sqlite:///{tmp_path / 'hmi.db'}")
    rt = Runtime(plant(server.url), db) if clock is None else Runtime(plant(server.url), db, clock=clock)
    try:
        async with simulated_user(rt) as user:
            assert await rt.wait_ready(), rt.start_error
            for name, role, full in users:
                await rt.users.create_user(name, PASSWORD, role, full_name=full)
            harness = Harness(rt, user, server)
            waiting = list(initial) if ready is None else list(ready)
            await harness.until(lambda: all(rt.cache.get(n) is not None for n in waiting), what="the first values")
            yield harness
    finally:
        await server.stop()


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness_on(tmp_path, small_plant, INITIAL, ready=["L1.M1.Temp"]) as harness:
        yield harness


@pytest.fixture
async def timed(tmp_path: Path) -> AsyncIterator[tuple[Harness, ManualClock]]:
    """The screen harness on a ManualClock, so a test moves idle minutes instead of waiting for them."""
    clock = ManualClock(datetime.now(UTC))
    async with harness_on(tmp_path, small_plant, INITIAL, ready=[], clock=clock) as harness:
        yield harness, clock

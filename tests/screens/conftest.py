"""Screens under NiceGUI's User simulation, on a real runtime: a SmallServer and a SQLite file."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nicegui import core, ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing.general import nicegui_reset_globals, prepare_simulation
from nicegui.testing.user import User

from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.runtime import Runtime
from hmi.store.database import Database
from tests.opcua_server import SmallServer, free_port
from tests.plant_fixture import INITIAL, small_plant

PASSWORD = "correct-horse-7"
USERS = (("olga", Role.OPERATOR, "Olga Operator"), ("lena", Role.LEAD, "Lena Lead"),
         ("max", Role.MANAGER, "Max Manager"), ("ada", Role.ADMIN, "Ada Admin"))


@asynccontextmanager
async def simulated_user(rt: Runtime) -> AsyncIterator[User]:
    """Like NiceGUI's user_simulation, but the pages are ours, registered for this runtime."""
    from screens.app import setup
    from screens.cli import session_cookie

    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            prepare_simulation()
            setup(rt)
            # The cookie options `hmi run` uses, so what the browser is told is tested too.
            ui.run(storage_secret="test secret", session_middleware_kwargs=session_cookie(rt.plant.access))
            transport = httpx.ASGITransport(core.app)
            async with core.app.router.lifespan_context(core.app), httpx.AsyncClient(
                    transport=transport, base_url="http://test") as c:
                yield User(c)
        finally:
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
        await self.user.open("/login")
        self.user.find(marker="username").type(username)
        self.user.find(marker="password").type(password)
        self.user.find(marker="sign-in").click()
        await self.user.should_see(marker="clock", retries=100)

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for the runtime to reach a state (values arrive over OPC UA)."""
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                pytest.fail(f"condition not met within {timeout} s")
            await asyncio.sleep(0.05)


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    server = SmallServer(free_port(), dict(INITIAL))
    await server.start()
    rt = Runtime(small_plant(server.url), Database(f"sqlite:///{tmp_path / 'hmi.db'}"))
    try:
        async with simulated_user(rt) as user:
            assert await rt.wait_ready(), rt.start_error
            for name, role, full in USERS:
                await rt.users.create_user(name, PASSWORD, role, full_name=full)
            harness = Harness(rt, user, server)
            await harness.until(lambda: rt.cache.get("L1.M1.Temp") is not None)
            yield harness
    finally:
        await server.stop()


@pytest.fixture
async def timed(tmp_path: Path) -> AsyncIterator[tuple[Harness, ManualClock]]:
    """The screen harness on a ManualClock, so a test moves idle minutes instead of waiting for them."""
    clock = ManualClock(datetime.now(UTC))
    server = SmallServer(free_port(), dict(INITIAL))
    await server.start()
    rt = Runtime(small_plant(server.url), Database(f"sqlite:///{tmp_path / 'hmi.db'}"), clock=clock)
    try:
        async with simulated_user(rt) as user:
            assert await rt.wait_ready(), rt.start_error
            for name, role, full in USERS:
                await rt.users.create_user(name, PASSWORD, role, full_name=full)
            yield Harness(rt, user, server), clock
    finally:
        await server.stop()

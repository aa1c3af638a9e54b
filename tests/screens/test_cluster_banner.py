"""Which server of a redundant pair a screen comes from: a standby says it does not read the plant and names the
active server; the server that took over says so on every screen (docs/deployment.md, the redundant pair)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.cluster.leadership import Leadership
from hmi.store.database import Database
from tests.conftest import fresh_postgres_database
from tests.plant_fixture import INITIAL, small_plant
from tests.screens.conftest import harness_on

pytestmark = pytest.mark.postgres


async def _nothing() -> None:
    return None


@pytest.mark.req("RED-004")
async def test_a_standby_says_so_and_after_taking_over_every_screen_says_that(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        # Another instance, active first: here only its lock.
        other_db = Database(url)
        await other_db.start()
        other = Leadership(other_db, "hmi-a", on_active=_nothing, on_lost=lambda _reason: None)
        try:
            assert await other.start()
            async with harness_on(tmp_path, small_plant, INITIAL, ready=[], db_url=url) as hmi:
                assert not hmi.rt.active
                await hmi.login("olga")
                await hmi.user.open("/line/L1")
                await hmi.user.should_see(marker="cluster-banner", retries=50)
                banner = hmi.user.find(marker="cluster-banner").elements.pop()
                assert banner.text.startswith(f"Standby server {hmi.rt.instance}: the active server hmi-a reads")

                await other.stop()
                await hmi.until(lambda: hmi.rt.active, timeout=15, what="the takeover")
                await hmi.until(lambda: hmi.rt.cache.get("L1.M1.Temp") is not None, timeout=15)
                await hmi.user.open("/alarms")
                await hmi.user.should_see(f"Server {hmi.rt.instance} took over as the active server at", retries=50)
        finally:
            await other.stop()
            await other_db.stop()

"""The level 1 overview's tiles and the kiosk (wall screen) on a real runtime: OPC UA server, SQLite, NiceGUI User."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from nicegui import ElementFilter, ui

from hmi.access.context import ActionContext
from hmi.access.kiosk import KIOSK_USER, REFUSED
from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.store.models import ShiftNote
from screens.panel import PANEL_COOKIE
from tests.plant_fixture import INITIAL, PLANT_YAML
from tests.screens.conftest import PASSWORD, Harness, element, harness_on

SPEED = '{name: L1.Speed, endpoint: test, node_id: "ns=2;s=L1.Speed", unit: bpm, eng_range: [0, 600]}'


@pytest.fixture
async def ranged(tmp_path: Path) -> AsyncIterator[Harness]:
    """The screen harness on the test plant whose line speed has a normal range of 280-320."""

    def plant(url: str) -> PlantConfig:
        text = PLANT_YAML.format(url=url)
        assert SPEED in text
        return parse_config(text.replace(SPEED, SPEED[:-1] + ", normal_range: [280, 320]}"), "test-plant.yaml")

    async with harness_on(tmp_path, plant, INITIAL, ready=[]) as harness:
        yield harness


async def admin(hmi: Harness) -> ActionContext:
    ctx = (await hmi.rt.users.sign_in("ada", PASSWORD)).ctx
    assert ctx is not None
    return ctx


async def make_kiosk(hmi: Harness, name: str = "wall-1") -> None:
    """Enrol this simulated browser as station `name` (its panel secret in the cookie) and mark it a kiosk."""
    ada = await admin(hmi)
    _, secret = await hmi.rt.stations.enrol(ada, name, address="web:127.0.0.1")
    hmi.user.http_client.cookies.set(PANEL_COOKIE, secret)
    await hmi.rt.stations.set_kiosk(ada, name, True)


def text(hmi: Harness, marker: str) -> str:
    return str(element(hmi, marker).text)


def left(hmi: Harness, marker: str) -> str:
    return str(element(hmi, marker)._style.get("left", ""))


def classes(hmi: Harness, marker: str) -> list[Any]:
    return list(element(hmi, marker).classes)


@pytest.mark.req("OVW-001", "OVW-002", "SCR-001")
async def test_a_tile_shows_state_time_in_state_and_the_speed_against_its_target(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_see("RUNNING (Execute)", retries=50)
    # Time in state: from the state's recorded start, or its source time when the history has none yet.
    await hmi.until(lambda: re.fullmatch(r"(for|≥) \d+ (s|min)", text(hmi, "since-L1")) is not None)
    # The real server's speed moves the pointer: 300 of the engineering range 0-600 is the middle of the bar.
    await hmi.until(lambda: left(hmi, "speed-pointer-L1") == "50.00%", what="the pointer at 300 bpm")
    assert text(hmi, "speed-value-L1") == "300.0"
    await hmi.server.write("L1.Speed", 450.0)
    await hmi.until(lambda: left(hmi, "speed-pointer-L1") == "75.00%", what="the pointer at 450 bpm")
    await hmi.user.should_see("450.0", retries=50)
    # The target is the plan's rate (here the ideal rate, 320 per minute).
    await hmi.user.should_see("target 320")
    # The state changes: the word and shape follow, and the time in state starts again.
    await hmi.server.write("L1.State", "Held")
    await hmi.user.should_see("DOWN (Held)", retries=50)
    assert "down" in classes(hmi, "state-L1")
    await hmi.until(lambda: re.fullmatch(r"for \d+ s", text(hmi, "since-L1")) is not None)
    # The shift's OEE from the OEE service, and the counters.
    assert text(hmi, "oee-L1").startswith("OEE ")
    assert text(hmi, "good_count-L1") == "1,000"


def visible(hmi: Harness, marker: str) -> bool:
    """True when the (one) element marked `marker` is shown; it may be on the page hidden."""
    with hmi.user:
        [found] = ElementFilter(marker=marker, local_scope=False)
    return bool(found.visible)


@pytest.mark.req("OVW-002")
async def test_a_speed_outside_its_normal_range_is_marked_while_the_line_produces(ranged: Harness) -> None:
    hmi = ranged
    await hmi.login("olga")
    await hmi.user.should_see("RUNNING (Execute)", retries=50)
    await hmi.until(lambda: text(hmi, "speed-value-L1") == "300.0")
    assert not visible(hmi, "speed-deviation-L1")
    await hmi.server.write("L1.Speed", 450.0)
    await hmi.user.should_see("▲ HIGH", retries=50)
    assert "ovw-abnormal" in classes(hmi, "speed-value-L1")
    # A stopped line's low speed is expected: its state says it, the speed is not marked.
    await hmi.server.write("L1.Speed", 0.0)
    await hmi.server.write("L1.State", "Stopped")
    await hmi.user.should_see("IDLE (Stopped)", retries=50)
    await hmi.until(lambda: text(hmi, "speed-value-L1") == "0.0")
    await hmi.until(lambda: not visible(hmi, "speed-deviation-L1"), what="no LOW while stopped")
    assert "ovw-abnormal" not in classes(hmi, "speed-value-L1")
    await hmi.server.write("L1.State", "Execute")
    await hmi.user.should_see("▼ LOW", retries=50)
    # A value that is not good is not judged: its quality badge speaks instead.
    await hmi.server.write("L1.Speed", 10.0, status=ua.StatusCodes.BadSensorFailure)
    await hmi.user.should_see("BAD Bad_SensorFailure", retries=50)
    assert not visible(hmi, "speed-deviation-L1")
    # The pointer is hollow (a last value kept) or gone (none): never a solid pointer at a number not to trust.
    with hmi.user:
        [pointer] = ElementFilter(marker="speed-pointer-L1", local_scope=False)
    assert "hollow" in pointer.classes or pointer._style.get("display") == "none"


@pytest.mark.req("OVW-003")
async def test_alarm_counts_are_grey_at_zero_and_shown_when_an_alarm_is_raised(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_see(marker="count-p2", retries=50)
    assert text(hmi, "count-p2") == "0"
    assert "zero" in classes(hmi, "count-p2")
    await hmi.raise_temp_h()
    await hmi.until(lambda: text(hmi, "count-p2") == "1", what="one priority 2 alarm counted")
    assert "zero" not in classes(hmi, "count-p2")
    assert "zero" in classes(hmi, "count-p1")


@pytest.mark.req("OVW-004")
async def test_the_sparkline_draws_the_last_hour_of_speed_from_the_historian(hmi: Harness) -> None:
    async def recorded() -> bool:
        now = hmi.rt.clock()
        found = await hmi.rt.history.series(["L1.Speed"], now.replace(hour=0, minute=0), now)
        return bool(found["L1.Speed"].times)

    await hmi.until(recorded, what="a recorded speed sample")
    await hmi.login("olga")
    await hmi.user.should_see(marker="spark-L1", retries=300)
    content = str(element(hmi, "spark-L1").content)
    assert content.startswith("<svg")
    assert "<polyline" in content or "<circle" in content
    assert "<title>Speed of L1, last hour</title>" in content


@pytest.mark.req("OVW-005", "OVW-006")
async def test_a_kiosk_station_shows_the_overview_without_sign_in_and_cycles(
    timed: tuple[Harness, ManualClock],
) -> None:
    hmi, clock = timed
    await hmi.until(lambda: hmi.rt.cache.get("L1.State") is not None)
    await make_kiosk(hmi)
    await hmi.user.open("/kiosk")
    await hmi.user.should_see("Wall screen wall-1 · view only", retries=50)
    await hmi.user.should_see(marker="line-card-L1")
    await hmi.user.should_see("Plant overview (1 of 2)", retries=50)
    # No navigation and no actions: not one button, the tiles are no links, no person named.
    await hmi.user.should_not_see(kind=ui.button)
    assert "hmi-card-link" not in classes(hmi, "line-card-L1")
    await hmi.user.should_not_see(marker="user")
    # The banner still names the highest-priority unacknowledged alarm.
    await hmi.raise_temp_h()
    await hmi.user.should_see("P2 L1: <b>Temp</b> high", retries=50)
    await hmi.user.should_not_see(kind=ui.button)
    # The views change with the plant's kiosk_cycle_s on the runtime's clock.
    clock.advance(hmi.rt.plant.access.kiosk_cycle_s + 1)
    await hmi.user.should_see("Line L1 (2 of 2)", retries=50)
    await hmi.user.should_see(marker="kiosk-alarms-L1")
    await hmi.user.should_see("P2 <b>Temp</b> high", retries=50)
    clock.advance(hmi.rt.plant.access.kiosk_cycle_s + 1)
    await hmi.user.should_see("Plant overview (1 of 2)", retries=50)
    # Nobody signed in there: no login at the station in the audit trail.
    assert [e for e in await hmi.rt.audit.query(action="login") if e.station == "wall-1"] == []


@pytest.mark.req("OVW-007")
async def test_a_kiosk_is_refused_every_other_page_and_the_refusal_is_audited(hmi: Harness) -> None:
    await make_kiosk(hmi)
    for path in ("/alarms", "/login", "/users"):
        await hmi.user.open(path)
        await hmi.user.should_see(marker="kiosk-refused", retries=50)
        await hmi.user.should_see(f"{path} cannot be opened here", retries=50)
        await hmi.user.should_not_see(marker="alarm-table")
        await hmi.user.should_not_see(marker="username")
    refused = await hmi.rt.audit.query(action=REFUSED)
    assert sorted((e.username, e.station, e.object_id) for e in refused) == [
        (KIOSK_USER, "wall-1", "/alarms"),
        (KIOSK_USER, "wall-1", "/login"),
        (KIOSK_USER, "wall-1", "/users"),
    ]
    # The plant overview's own address is the kiosk view.
    await hmi.user.open("/")
    await hmi.user.should_see("Wall screen wall-1 · view only", retries=50)


@pytest.mark.req("OVW-008")
async def test_a_browser_that_is_no_kiosk_gets_no_data_from_the_kiosk_address(hmi: Harness) -> None:
    await hmi.user.open("/kiosk")
    await hmi.user.should_see(marker="kiosk-not-here", retries=50)
    await hmi.user.should_not_see(marker="overview-grid")
    # Signed in makes no difference: the kiosk address is for kiosk stations only.
    await hmi.login("olga")
    await hmi.user.open("/kiosk")
    await hmi.user.should_see(marker="kiosk-not-here", retries=50)
    await hmi.user.should_not_see(marker="line-card-L1")
    # An enrolled station that is not (or no longer) a kiosk is refused the same way.
    ada = await admin(hmi)
    await make_kiosk(hmi, "wall-2")
    await hmi.rt.stations.set_kiosk(ada, "wall-2", False)
    await hmi.user.open("/kiosk")
    await hmi.user.should_see(marker="kiosk-not-here", retries=50)


@pytest.mark.req("OVW-009")
async def test_admin_makes_a_station_a_kiosk_and_its_old_session_acts_no_more(hmi: Harness) -> None:
    ada = await admin(hmi)
    _, secret = await hmi.rt.stations.enrol(ada, "panel-9", address="web:127.0.0.1")
    hmi.user.http_client.cookies.set(PANEL_COOKIE, secret)
    await hmi.login("olga")
    await hmi.user.open("/notes")
    await hmi.user.should_see(marker="note-text", retries=50)
    # Meanwhile, at another panel, the administrator makes panel-9 a wall screen (Users → Stations).
    await hmi.rt.stations.set_kiosk(ada, "panel-9", True)
    [change] = await hmi.rt.audit.query(action="station.kiosk")
    assert (change.username, change.object_id, json.loads(change.new_value or "")) == (
        "ada",
        "panel-9",
        {"kiosk": True},
    )
    hmi.user.find(marker="note-text").type("written at a wall screen")
    hmi.user.find(marker="note-save").click()
    await hmi.until(lambda: hmi.rt.audit.query(action=REFUSED), what="the refused command audited")
    # The command is refused in olga's name; the tab then goes to the sign-in page, which the kiosk refuses too.
    refused = await hmi.rt.audit.query(action=REFUSED)
    assert ("olga", "panel-9", "command") in [(e.username, e.station, e.object_type) for e in refused]
    await hmi.user.should_see(marker="kiosk-refused", retries=50)
    async with hmi.rt.db.session() as s:
        assert (await s.execute(ShiftNote.__table__.select())).all() == []  # type: ignore[attr-defined]


@pytest.mark.req("OVW-009")
async def test_the_users_screen_switches_a_station_to_kiosk_and_back(hmi: Harness) -> None:
    ada = await admin(hmi)
    await hmi.rt.stations.register(ada, "wall-3")
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="station-kiosk-toggle-wall-3", retries=50)
    hmi.user.find(marker="station-kiosk-toggle-wall-3").click()
    await hmi.user.should_see("Station wall-3 is now a kiosk", retries=50)
    await hmi.user.should_see("kiosk (view only)", retries=50)
    assert await hmi.rt.stations.is_kiosk("wall-3")
    hmi.user.find(marker="station-kiosk-toggle-wall-3").click()
    await hmi.user.should_see("Station wall-3 is a normal station again", retries=50)
    assert not await hmi.rt.stations.is_kiosk("wall-3")
    assert [json.loads(e.new_value or "") for e in await hmi.rt.audit.query(action="station.kiosk")] == [
        {"kiosk": False},
        {"kiosk": True},
    ]

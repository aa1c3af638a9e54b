"""Any machine's faceplate within three touches from every screen: the menu lists the plant's lines by area, a line
opens its screen, a machine on its picture its faceplate (NiceGUI's simulated user, a real runtime and OPC UA
server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nicegui import ui

from hmi.config import PlantConfig, parse_config
from tests.screens.conftest import Harness, element, harness_on
from tests.screens.test_line_picture_screen import INITIAL, PLANT

# Where a person may be when they need a machine: the overview, the alarms, a display list, their preferences, and
# another line's tag faceplate (deep in the hierarchy already).
STARTS = (
    ("/", "line-card-L1"),
    ("/alarms", "alarm-table"),
    ("/displays", "menu"),
    ("/preferences", "menu"),
    ("/faceplate/tag/L1.Fill.Temp", "faceplate-tag-L1.Fill.Temp"),
)


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    def plant(url: str) -> PlantConfig:
        return parse_config(PLANT.format(url=url), "picture-plant.yaml")

    async with harness_on(tmp_path, plant, INITIAL) as harness:
        yield harness


@pytest.mark.req("UI-107")
async def test_the_menu_lists_the_lines_grouped_by_area(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/")
    await hmi.user.should_see(marker="menu-lines", retries=50)
    listed = [e.text for e in element(hmi, "menu-lines").descendants() if isinstance(e, ui.label | ui.button)]
    assert listed == ["Packing", "L1", "L2", "Wrapping", "L3"]


@pytest.mark.req("UI-107")
@pytest.mark.parametrize(("start", "shown"), STARTS, ids=[s for s, _ in STARTS])
async def test_a_machine_faceplate_is_three_touches_from_any_screen(hmi: Harness, start: str, shown: str) -> None:
    await hmi.login("olga")
    await hmi.user.open(start)
    await hmi.user.should_see(marker=shown, retries=50)
    drawer = element(hmi, "menu-drawer")
    assert drawer.value is False

    hmi.user.find(marker="menu").click()  # touch 1: the menu
    assert drawer.value is True
    hmi.user.find(marker="menu-line-L1").click()  # touch 2: the line
    await hmi.user.should_see(marker="picture-machine-Cap", retries=50)
    hmi.user.find(marker="picture-machine-Cap").click()  # touch 3: the machine
    await hmi.user.should_see(marker="faceplate-machine-L1-Cap", retries=50)

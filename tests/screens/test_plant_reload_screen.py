"""A plant reload reaches open pages without dropping them: the line page says the plant changed and, reloaded,
shows the new tag; engineers and administrators see a refused reload's problems (issue 11 §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.records.audit import system_context
from screens import plant_change
from tests.plant_fixture import PLANT_YAML
from tests.screens.conftest import Harness

ENGINEER = system_context("cli:erin", station="test")
FLOW = '              - {name: L1.M1.Flow, endpoint: test, node_id: "ns=2;s=L1.M1.Pressure", unit: bar}\n'


def plant_file(hmi: Harness, tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT_YAML.format(url=hmi.server.url) + extra, encoding="utf-8")
    hmi.rt.config_path = path
    return path


@pytest.mark.req("RLD-008")
async def test_the_line_page_shows_a_tag_added_by_a_reload(hmi: Harness, tmp_path: Path) -> None:
    path = plant_file(hmi, tmp_path)
    await hmi.login("ada")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="machine-M1")
    await hmi.user.should_not_see(marker="tile-L1.M1.Flow")
    await hmi.user.should_not_see(marker="plant-changed")

    # Invalid: nothing changes, and the administrator is told why.
    path.write_text(path.read_text(encoding="utf-8") + FLOW.replace("endpoint: test", "endpoint: nowhere"))
    refused = await hmi.rt.reload_plant(ENGINEER)
    assert not refused.applied
    await hmi.user.should_see("unknown endpoint 'nowhere'", marker="plant-reload-refused", retries=50)
    await hmi.user.should_not_see(marker="plant-changed")

    path.write_text(PLANT_YAML.format(url=hmi.server.url) + FLOW, encoding="utf-8")
    assert (await hmi.rt.reload_plant(ENGINEER)).applied
    await hmi.user.should_see("The plant configuration changed", marker="plant-changed", retries=50)
    await hmi.user.should_not_see(marker="plant-reload-refused", retries=50)
    hmi.user.find(marker="plant-reload").click()
    await hmi.user.should_see(marker="tile-L1.M1.Flow", retries=100)
    await hmi.user.should_see("Flow", marker="tile-L1.M1.Flow")
    await hmi.user.should_not_see(marker="plant-changed")


@pytest.mark.req("RLD-008")
async def test_an_idle_page_reloads_by_itself_and_an_operator_sees_no_refusals(
    hmi: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plant_change, "AUTO_RELOAD_S", 1)
    path = plant_file(hmi, tmp_path, "access: {idle_lock_min: 3, logoff_min: 10}\n")
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="machine-M1")
    assert not (await hmi.rt.reload_plant(ENGINEER)).applied  # needs a restart: refused
    await hmi.user.should_not_see(marker="plant-reload-refused")
    path.write_text(PLANT_YAML.format(url=hmi.server.url) + FLOW, encoding="utf-8")
    assert (await hmi.rt.reload_plant(ENGINEER)).applied
    # Nobody presses anything: the page rebuilds from the new plant.
    await hmi.user.should_see(marker="tile-L1.M1.Flow", retries=200)
    assert hmi.rt.cache.get("L1.M1.Flow") is not None

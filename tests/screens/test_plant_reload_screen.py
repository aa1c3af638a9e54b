"""A plant reload reaches open pages without dropping them: the line page says the plant changed and, reloaded,
shows the new tag; engineers and administrators see a refused reload's problems (issue 11 §6)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col

from hmi.records.audit import system_context
from hmi.store.models import AuditEntry
from screens import plant_change
from tests.plant_fixture import PLANT_YAML
from tests.screens.conftest import Harness, element

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


DRAWING = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50"><rect id="body" width="{w}" height="40"/></svg>'
DISPLAY = "displays:\n  - {name: L1-M1, title: Machine M1, svg: drawings/m1.svg, line: L1}\n"


@pytest.mark.req("RLD-011")
async def test_a_reload_of_a_changed_drawing_audits_both_hashes_and_the_page_shows_the_new_one(
    hmi: Harness, tmp_path: Path
) -> None:
    (tmp_path / "drawings").mkdir()
    drawing = tmp_path / "drawings" / "m1.svg"
    first, second = DRAWING.format(w=61), DRAWING.format(w=87)
    drawing.write_text(first, encoding="utf-8")
    plant_file(hmi, tmp_path, DISPLAY)
    assert (await hmi.rt.reload_plant(ENGINEER)).applied  # the display arrives with its drawing
    # The plant file stays as it is; only the drawing beside it changes.
    drawing.write_text(second, encoding="utf-8")
    result = await hmi.rt.reload_plant(ENGINEER)
    assert result.applied
    a, b = (hashlib.sha256(t.encode()).hexdigest() for t in (first, second))
    line = f"drawing L1-M1 changed: m1.svg sha256 {a} -> {b}"
    assert line in result.changes
    async with hmi.rt.db.session() as session:
        rows = await session.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "plant.reload").order_by(col(AuditEntry.id))
        )
        entries = list(rows.scalars())
    assert len(entries) == 2
    added, changed = (e.detail or "" for e in entries)
    assert f"- drawing L1-M1 added: m1.svg sha256 {a}" in added
    assert f"- {line}" in changed
    assert await hmi.rt.audit.verify() is None
    await hmi.login("ada")
    await hmi.user.open("/display/L1-M1")
    await hmi.user.should_see(marker="display-svg", retries=50)
    assert 'width="87"' in str(element(hmi, "display-svg").content)

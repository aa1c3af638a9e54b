"""Refusals the control services make are read in German by a German-speaking person, on the setpoint entry, the
confirm dialog's outcome and the recipe editor, while the audit trail keeps the English the services wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import ua

from hmi.access.roles import Role
from hmi.config import PlantConfig, parse_config
from tests.screens.conftest import PASSWORD, USERS, Harness, element, harness_on, set_value
from tests.screens.test_faceplate import INITIAL, PLANT, click, keys, open_speed_setpoint, read
from tests.screens.test_recipes_screen import RECIPE_INITIAL, recipe_plant


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    def plant(url: str) -> PlantConfig:
        return parse_config(PLANT.format(url=url), "faceplate-plant.yaml")

    async with harness_on(tmp_path, plant, INITIAL) as harness:
        yield harness


@pytest.fixture
async def recipes(tmp_path: Path) -> AsyncIterator[Harness]:
    users = (*USERS, ("erin", Role.ENGINEER, "Erin Engineer"))
    async with harness_on(tmp_path, recipe_plant, RECIPE_INITIAL, ready=["L1.SpeedSP"], users=users) as harness:
        yield harness


async def speaks_german(hmi: Harness, username: str) -> None:
    signed = (await hmi.rt.users.sign_in(username, PASSWORD)).ctx
    assert signed is not None
    await hmi.rt.appearance.set_person(signed, theme="", language="de")


@pytest.mark.req("SCR-013")
@pytest.mark.req("CTL-042")
async def test_a_setpoint_outside_its_limits_is_refused_in_german(hmi: Harness) -> None:
    await speaks_german(hmi, "olga")
    await open_speed_setpoint(hmi, "olga")
    keys(hmi, "900")
    click(hmi, "write-next")
    problem = await hmi.until(lambda: element(hmi, "entry-problem").text, what="the refusal")
    assert problem == "Abgelehnt: 900 bpm liegt außerhalb der Grenzen 100 bis 500 bpm"
    click(hmi, "key-clear")
    keys(hmi, "302")
    click(hmi, "write-next")
    problem = await hmi.until(
        lambda: (text := element(hmi, "entry-problem").text) != problem and text, what="the step refusal"
    )
    assert problem == "Abgelehnt: 302 bpm liegt nicht im Raster von 5 bpm ab 100: geben Sie 300 oder 305 an"
    assert "step grid" not in problem
    await hmi.user.should_not_see(marker="write-send")
    assert await read(hmi, "L1.SpeedSP") == 300.0


@pytest.mark.req("SCR-013")
@pytest.mark.req("CTL-043")
async def test_an_interlock_refusal_is_german_on_screen_and_english_in_the_audit_trail(hmi: Harness) -> None:
    await hmi.server.write("L1.State", "Stopped")
    await hmi.until(lambda: hmi.rt.cache.get("L1.State").value == "Stopped", what="the line stopped")  # type: ignore[union-attr]
    await speaks_german(hmi, "lena")
    await hmi.login("lena")
    await hmi.user.open("/faceplate/tag/L1.M1.TempSP")
    await hmi.user.should_see(marker="setpoint", retries=50)
    keys(hmi, "72")
    click(hmi, "write-next")
    await hmi.user.should_see(marker="write-send", retries=50)
    hmi.user.find(marker="write-reason").type("Versuch")
    # The line starts while the dialog is open: the service refuses what the screen offered a moment ago.
    await hmi.server.write("L1.State", "Execute")
    await hmi.until(lambda: hmi.rt.cache.get("L1.State").value == "Execute", what="the line running")  # type: ignore[union-attr]
    click(hmi, "write-send")
    await hmi.user.should_see(marker="write-outcome", retries=100)
    shown = element(hmi, "write-outcome").text
    # The plant file's own message stays as the plant wrote it; every sentence of ours is German.
    assert shown == (
        "abgelehnt: Verriegelung nicht erfüllt: stop the line first (erfordert L1.State != 'Execute' "
        "(L1.State ist Execute))"
    )
    assert "interlock not met" not in shown
    assert await read(hmi, "L1.M1.TempSP") == 70.0
    rows = await hmi.rt.audit.query(object_type="tag", object_id="L1.M1.TempSP")
    assert rows[0].action == "tag.write.refused"
    assert rows[0].detail == (
        "refused (interlock): interlock not met: stop the line first (needs L1.State != 'Execute' "
        "(L1.State is Execute))"
    )


@pytest.mark.req("SCR-013")
@pytest.mark.req("CTL-038")
async def test_a_recipe_value_outside_the_write_limits_is_refused_in_german(recipes: Harness) -> None:
    hmi = recipes
    await speaks_german(hmi, "erin")
    await hmi.login("erin")
    await hmi.user.open("/recipes")
    await hmi.user.should_see(marker="recipe-create", retries=50)
    hmi.user.find(marker="recipe-new-name").type("Cola")
    set_value(hmi, "recipe-new-target", "L1")
    hmi.user.find(marker="recipe-create").click()
    await hmi.user.should_see(marker="recipe-value-L1.SpeedSP", retries=300)  # the form follows the title
    hmi.user.find(marker="recipe-value-L1.SpeedSP").type("450")
    hmi.user.find(marker="recipe-save").click()
    await hmi.user.should_see(
        "L1.SpeedSP: 450 bpm liegt außerhalb der Schreibgrenzen 100 bis 400 bpm; geben Sie einen Wert innerhalb "
        "dieser Grenzen an",
        retries=50,
    )
    await hmi.user.should_not_see("is outside the write limits")
    recipe = await hmi.rt.recipes.get("Cola")
    assert recipe is not None
    assert recipe.id is not None
    assert await hmi.rt.recipes.versions(recipe.id) == []


@pytest.mark.req("SCR-013")
@pytest.mark.req("CTL-046")
async def test_a_command_not_offered_says_why_and_its_outcome_in_german(hmi: Harness) -> None:
    await speaks_german(hmi, "olga")
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    click(hmi, "line-title")
    await hmi.user.should_see(marker="faceplate-line-L1", retries=50)
    click(hmi, "command-Stop")
    await hmi.user.should_see(marker="command-outcome-Stop", content="bestätigt um ", retries=100)
    assert "confirmed" not in element(hmi, "command-outcome-Stop").text
    # In Manual, Start is not offered: the reason is German, the mode words are the plant's.
    await hmi.server.write("L1.Mode", ua.Variant(0, ua.VariantType.Int32))
    await hmi.until(lambda: not element(hmi, "command-Start").enabled, what="Start disabled")
    assert element(hmi, "command-why-Start").text == "Start erfordert die Betriebsart Auto; L1 ist in Manual"

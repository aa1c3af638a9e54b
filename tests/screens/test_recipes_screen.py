"""The recipe screens as engineers, a manager and a lead use them: create and draft, approve with a signature
(four eyes), download with the difference table and the report, the download log and its exports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.roles import Role
from hmi.config import PlantConfig, parse_config
from hmi.store.models import RecipeStatus
from tests.plant_fixture import INITIAL, PLANT_YAML
from tests.screens.conftest import USERS, Harness, harness_on, set_value, table_rows
from tests.waiting import until

# The test plant with two setpoints on line L1: one on the line, one on machine M1.
SETPOINTS = """
          - {{name: L1.SpeedSP, endpoint: test, node_id: "ns=2;s=L1.SpeedSP", unit: bpm, eng_range: [0, 600],
             write: {{min: 100, max: 400, step: 5}}}}
          - {{name: L1.M1.TempSP, endpoint: test, node_id: "ns=2;s=L1.M1.TempSP", unit: °C, eng_range: [0, 100],
             write: {{min: 20, max: 90, step: 0.5}}}}
"""
RECIPE_INITIAL = {**INITIAL, "L1.SpeedSP": 250.0, "L1.M1.TempSP": 60.0}


def recipe_plant(url: str) -> PlantConfig:
    anchor = '          - {{name: L1.Reject, endpoint: test, node_id: "ns=2;s=L1.Reject", data_type: int}}\n'
    assert anchor in PLANT_YAML
    return parse_config(PLANT_YAML.replace(anchor, anchor + SETPOINTS).format(url=url), "recipe-plant.yaml")


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    users = (*USERS, ("erin", Role.ENGINEER, "Erin Engineer"))
    async with harness_on(tmp_path, recipe_plant, RECIPE_INITIAL, ready=["L1.SpeedSP"], users=users) as harness:
        yield harness


async def drafted(hmi: Harness) -> None:
    """Erin creates recipe Cola for line L1 on screen and saves version 1 as a draft."""
    await hmi.login("erin")
    await hmi.user.open("/recipes")
    await hmi.user.should_see(marker="recipe-create", retries=50)
    hmi.user.find(marker="recipe-new-name").type("Cola")
    set_value(hmi, "recipe-new-target", "L1")
    hmi.user.find(marker="recipe-new-description").type("<b>Cola</b> 0.5 l")
    hmi.user.find(marker="recipe-create").click()
    await hmi.user.should_see(marker="recipe-title", retries=50)
    await hmi.user.should_see("<b>Cola</b> 0.5 l")  # record text shown as text, never as HTML
    await hmi.user.should_see(marker="recipe-value-L1.SpeedSP", retries=300)  # the form follows the title
    hmi.user.find(marker="recipe-value-L1.SpeedSP").type("300")
    hmi.user.find(marker="recipe-value-L1.M1.TempSP").type("64.5")
    hmi.user.find(marker="recipe-note").type("trial values")
    hmi.user.find(marker="recipe-save").click()
    await hmi.user.should_see("Version 1 saved as a draft", retries=50)


@pytest.mark.req("CTL-038")
async def test_engineer_drafts_manager_approves_with_signature_lead_downloads(hmi: Harness) -> None:
    rt = hmi.rt
    await drafted(hmi)
    # The author is not offered the approval (four eyes); the service would refuse it anyway.
    await hmi.user.should_see(marker="recipe-own-1")
    await hmi.user.should_not_see(marker="recipe-approve-1")
    await hmi.logout()
    await hmi.login("max")
    await hmi.user.open("/recipes/Cola")
    await hmi.user.should_see(marker="recipe-approve-1", retries=50)
    hmi.user.find(marker="recipe-approve-1").click()
    hmi.sign("max")
    hmi.user.find(marker="sign-confirm").click()
    await hmi.user.should_see("Version 1 approved and signed.", retries=50)
    # The status line comes first; the version's panel is built again after it (slower on a loaded machine).
    await hmi.user.should_see(marker="recipe-signature-1", retries=50)
    await hmi.user.should_see("Signed by Max Manager (max)")
    version = await rt.recipes.version_of("Cola", 1)
    assert version is not None
    assert version.status is RecipeStatus.APPROVED
    # The lead sees the version in force on the list and downloads it after seeing the difference.
    # Through the real write service to the OPC UA server, which refuses the temperature setpoint.
    await hmi.server.nodes["L1.M1.TempSP"].set_writable(False)
    await hmi.logout()
    await hmi.login("lena")
    await hmi.user.open("/recipes")
    await hmi.user.should_see("In force: version 1, approved by max", retries=50)
    await hmi.user.should_not_see(marker="recipe-create")
    hmi.user.find(marker="recipe-open-Cola").click()
    await hmi.user.should_see(marker="recipe-download-1", retries=50)
    hmi.user.find(marker="recipe-download-1").click()
    diff = {row["tag"]: row for row in table_rows(hmi, "recipe-diff")}
    assert diff["L1.SpeedSP"]["current"] == "250"
    assert diff["L1.SpeedSP"]["recipe"] == "300"
    assert diff["L1.SpeedSP"]["limits"] == "100 to 400 (step 5)"
    assert diff["L1.SpeedSP"]["change"] == "changes"
    hmi.user.find(marker="recipe-download-reason").type("changeover to cola")
    hmi.sign("lena")
    hmi.user.find(marker="recipe-download-confirm").click()
    # One parameter refused by the server: the screen says PARTIAL, never done.
    await hmi.user.should_see(marker="recipe-report-summary", retries=50)
    await hmi.user.should_see("PARTIAL download")
    report = {row["tag"]: row for row in table_rows(hmi, "recipe-report")}
    assert report["L1.SpeedSP"]["result"] == "confirmed"
    assert report["L1.M1.TempSP"]["result"] == "refused by the server"
    # The log below is read again after the report is shown (one more query): wait for its row.
    [log] = await until(lambda: table_rows(hmi, "recipe-log"), timeout=10, what="the download in the recipe's log")
    assert (log["user"], log["result"], log["confirmed"]) == ("lena", "partial", "1 of 2")
    hmi.user.find(marker="recipe-log-csv").click()
    response = await hmi.user.download.next(timeout=5)
    assert b"changeover to cola" in response.content
    assert await rt.audit.query(action="recipe.log.export")


@pytest.mark.req("CTL-038")
async def test_operators_do_not_see_recipes_and_the_refusal_is_audited(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_not_see("Recipes")
    await hmi.user.open("/recipes")
    await hmi.user.should_see(marker="recipes-denied", retries=50)
    assert await hmi.rt.audit.query(action="recipe.view.denied", username="olga")


@pytest.mark.req("CTL-038")
async def test_a_wrong_value_is_refused_on_screen_with_the_fix(hmi: Harness) -> None:
    await drafted(hmi)
    hmi.user.find(marker="recipe-value-L1.SpeedSP").clear().type("450")
    hmi.user.find(marker="recipe-save").click()
    await hmi.user.should_see("Not saved: L1.SpeedSP: 450 bpm is outside the write limits 100 to 400 bpm", retries=50)


@pytest.mark.req("CTL-038")
async def test_a_draft_is_rejected_with_a_reason_and_a_signature(hmi: Harness) -> None:
    await drafted(hmi)
    await hmi.logout()
    await hmi.login("max")
    await hmi.user.open("/recipes/Cola")
    await hmi.user.should_see(marker="recipe-reject-1", retries=50)
    hmi.user.find(marker="recipe-reject-1").click()
    await hmi.user.should_see("Not rejected: give the reason to reject first.")
    hmi.user.find(marker="recipe-reject-reason-1").type("speed too high")
    hmi.user.find(marker="recipe-reject-1").click()
    hmi.sign("max")
    hmi.user.find(marker="sign-confirm").click()
    await hmi.user.should_see("Version 1 rejected and signed.", retries=50)
    await hmi.user.should_see("Rejected because: speed too high")
    await hmi.user.should_not_see(marker="recipe-download-1")
    version = await hmi.rt.recipes.version_of("Cola", 1)
    assert version is not None
    assert version.status is RecipeStatus.REJECTED

"""The login page of a plant with an `access.oidc` section, and the provider's answer arriving at the callback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.oidc_settings import OidcSettings
from hmi.config import AccessPolicy, PlantConfig
from tests.plant_fixture import INITIAL, small_plant
from tests.screens.conftest import Harness, harness_on


@pytest.fixture
async def oidc_hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    """The screen harness on a plant whose people may sign in at an identity provider (never reached here)."""

    def plant(url: str) -> PlantConfig:
        base = small_plant(url)
        oidc = OidcSettings.model_validate(
            {
                "issuer": "http://127.0.0.1:9/realms/plant",
                "label": "Plant login",
                "client_id": "factory-hmi",
                "redirect_uri": "http://127.0.0.1:8080/auth/oidc/callback",
                "role_map": {"HMI-Leads": "lead"},
            }
        )
        fields = {name: getattr(base, name) for name in PlantConfig.model_fields}
        return PlantConfig.model_validate({**fields, "access": AccessPolicy(oidc=oidc)})

    async with harness_on(tmp_path, plant, INITIAL, ready=["L1.M1.Temp"]) as harness:
        yield harness


@pytest.mark.req("AUTH-209")
async def test_the_login_page_offers_the_provider_beside_the_form(oidc_hmi: Harness) -> None:
    await oidc_hmi.user.open("/login?next=/alarms")
    await oidc_hmi.user.should_see("Sign in with Plant login")
    await oidc_hmi.user.should_see(marker="sign-in")  # panels keep user name and password


@pytest.mark.req("AUTH-210")
async def test_an_answer_this_browser_did_not_ask_for_is_refused_and_counted(oidc_hmi: Harness) -> None:
    # A forged or replayed answer (login CSRF): no sign-in was started in this browser.
    await oidc_hmi.user.open("/auth/oidc/callback?state=forged&code=stolen")
    await oidc_hmi.user.should_see("does not belong to a sign-in started in this browser")
    await oidc_hmi.user.should_see(marker="oidc-back")
    await oidc_hmi.rt.users.refusals.flush(everything=True)
    [refused] = await oidc_hmi.rt.audit.query(action="login.failed.oidc")
    assert refused.reason == "answer not started in this browser"
    assert "through the identity provider" in (refused.detail or "")


@pytest.mark.req("AUTH-209")
async def test_a_plant_without_a_provider_has_no_button(tmp_path: Path, hmi: Harness) -> None:
    await hmi.user.open("/login")
    await hmi.user.should_see(marker="sign-in")
    await hmi.user.should_not_see(marker="oidc-sign-in")


@pytest.mark.req("AUTH-213")
async def test_the_back_channel_logout_refuses_what_is_not_a_logout_token(oidc_hmi: Harness) -> None:
    http = oidc_hmi.user.http_client
    # No token, two tokens, an oversized body: refused before anything is checked; nobody is signed out.
    assert (await http.post("/auth/oidc/backchannel-logout", data={})).status_code == 400
    two = "logout_token=a&logout_token=b"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert (await http.post("/auth/oidc/backchannel-logout", content=two, headers=headers)).status_code == 400
    big = "logout_token=" + "x" * 70_000
    response = await http.post("/auth/oidc/backchannel-logout", content=big, headers=headers)
    assert response.status_code == 413
    assert response.headers["cache-control"] == "no-store"
    assert await oidc_hmi.rt.audit.query(action="user.signed_out") == []

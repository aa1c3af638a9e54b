"""A lead signs in through the plant's identity provider on a desktop browser and signs a handover: the real
provider (oidc-provider, tests/oidc_provider.py), `hmi demo` with an `access.oidc` section, and Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hmi import assets
from tests.browser.conftest import Demo, running_demo
from tests.oidc_provider import ACCOUNTS, OidcProvider, running_provider
from tests.opcua_server import free_port


def with_oidc(provider: OidcProvider, secret_file: Path) -> str:
    """The shipped demo plant with an `access.oidc` section for the test provider (its client secret in a file)."""
    secret_file.write_text(provider.client_secret, encoding="utf-8")
    secret_file.chmod(0o600)
    roles = "\n".join(
        f"      {claim}: {role}" for claim, role in {"HMI-Operators": "operator", "HMI-Leads": "lead"}.items()
    )
    section = f"""
access:
  oidc:
    issuer: {provider.issuer}
    label: Plant login
    client_id: factory-hmi
    client_secret: {{file: {secret_file}}}
    redirect_uri: {provider.redirect_uri}
    scopes: [openid, profile]
    role_claim: hmi_roles
    role_map:
{roles}
"""
    return str(assets.read_text(assets.DEMO_PLANT)).rstrip("\n") + "\n" + section


@pytest.fixture(scope="module")
def oidc_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, OidcProvider]]:
    """`hmi demo` whose people may sign in at a running oidc-provider registered for the demo's address."""
    folder = tmp_path_factory.mktemp("oidc-demo")
    port = free_port()
    with contextmanager(running_provider)(folder, rp_port=port) as provider:
        data = folder / "data"
        data.mkdir()
        with running_demo(data, with_oidc(provider, folder / "client-secret"), port=port) as demo:
            yield demo, provider


def sign_in_at_provider(page: Page, login: str) -> None:
    """Fill in the provider's own login page (user id and password) and submit it."""
    expect(page.locator("input[name=password]")).to_be_visible()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(ACCOUNTS[login][0])
    page.locator("button[type=submit]").click()


@pytest.mark.req("AUTH-209", "AUTH-211", "AUTH-212", "AUTH-213")
def test_a_lead_signs_in_at_the_provider_and_signs_a_handover(
    browser: Browser, oidc_demo: tuple[Demo, OidcProvider]
) -> None:
    demo, provider = oidc_demo
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(40_000)
    try:
        page.goto(f"{demo.url}/login?next=/handover")
        page.get_by_test_id("oidc-sign-in").click()
        # At the provider: its page, not the HMI's, takes the password.
        expect(page).to_have_url(re.compile(r"/interaction/"))
        sign_in_at_provider(page, "lena")
        expect(page).to_have_url(re.compile(r"/handover$"))
        expect(page.get_by_test_id("user")).to_have_text("Lena Lead · lead")

        page.get_by_test_id("handover-draft").click()
        # The signature asks for a fresh sign-in at the provider, in a tab of its own: the report stays as it is.
        with context.expect_page() as opened:
            page.get_by_test_id("sign-confirm-identity").click()
        confirm = opened.value
        # prompt=login: the provider asks for the password again although its session is live.
        sign_in_at_provider(confirm, "lena")
        expect(confirm.get_by_test_id("oidc-confirmed")).to_be_visible()
        confirm.close()

        page.get_by_test_id("handover-sign").click()
        expect(page.get_by_test_id("handover-status")).to_have_text("Handed over and signed.")
        expect(page.get_by_test_id("signature").first).to_contain_text("Lena Lead")

        # Logout ends the HMI session and the provider's: the next sign-in there asks for the password again.
        page.goto(f"{demo.url}/logout")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login"))
        page.get_by_test_id("oidc-sign-in").click()
        sign_in_at_provider(page, "lena")
        expect(page.get_by_test_id("user")).to_have_text("Lena Lead · lead")

        # Signed out at the provider from another application: the provider tells the HMI (back-channel logout),
        # whose session ends at once; its open page goes to the login page.
        elsewhere = context.new_page()
        elsewhere.goto(f"{provider.issuer}/session/end?client_id=other-app")
        elsewhere.get_by_role("button", name="Sign out").click()
        expect(elsewhere.get_by_text("Signed out.")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/login"))
    finally:
        context.close()

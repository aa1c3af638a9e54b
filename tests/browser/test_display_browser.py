"""The demo's custom display in a real browser against `hmi demo`: the drawing arrives whole through the browser's
sanitiser, with live values, and a touch on a bound element opens its faceplate."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, Demo, login

pytestmark = pytest.mark.browser


@pytest.mark.req("DSP-005", "DSP-006")
def test_the_filler_display_in_a_browser(page: Page, demo: Demo) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    login(page, demo, "operator")
    # On a 1024 px panel the screens are in the menu.
    page.get_by_test_id("menu").click()
    page.get_by_test_id("menu-displays").click()
    page.get_by_test_id("display-link-Line1-Filler").click()
    picture = page.get_by_test_id("display-svg")
    temperature = picture.locator("#hmi-d-temp-value")
    expect(temperature).to_have_text(re.compile(r"^-?\d+\.\d °C$"))
    expect(picture.locator("#hmi-d-speed-value")).to_have_text(re.compile(r"^\d+ bottles/min$"))
    # What DOMPurify (NiceGUI's browser-side net) keeps of the server's SVG: the palette's patterns and the ids.
    assert picture.locator("svg pattern#hmi-p-q_stale").count() == 1
    assert picture.locator("svg #hmi-d-volume-bar").get_attribute("width") not in (None, "498")
    assert picture.locator("script").count() == 0
    expect(page.get_by_test_id("display-line")).to_have_text("Line Line1")
    page.screenshot(path=str(SCREENSHOTS / "display.png"), full_page=True)
    temperature.click()
    expect(page.get_by_test_id("faceplate-tag-Line1.Filler.Temperature")).to_be_visible()

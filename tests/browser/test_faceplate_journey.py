"""An operator changes a setpoint from its faceplate on a 1024 x 600 panel, in a real browser against `hmi demo`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Demo, login, settled

pytestmark = pytest.mark.browser

PANEL = {"width": 1024, "height": 600}


@pytest.fixture
def panel(browser: Browser) -> Iterator[Page]:
    """A page the size of a small operator panel."""
    context = browser.new_context(viewport=PANEL)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.mark.req("CTL-048", "CTL-049")
def test_operator_changes_the_line_speed_setpoint_from_its_faceplate(panel: Page, demo: Demo, tmp_path: Path) -> None:
    page = panel
    shots = tmp_path
    login(page, demo, "operator")
    page.goto(f"{demo.url}/line/Line1")
    tile = page.get_by_test_id("tile-Line1.SpeedSP")
    expect(tile).to_be_visible()
    tile.click()
    expect(page.get_by_test_id("faceplate-tag-Line1.SpeedSP")).to_be_visible()
    expect(page.get_by_test_id("write-now")).not_to_have_text("now — bottles/min")
    # Keys for gloves: at least 64 x 64 CSS px, measured once the dialog has scaled in.
    settled(page)
    for key in ("key-3", "key-back", "key-dot", "step-up"):
        box = page.get_by_test_id(key).bounding_box()
        assert box is not None
        assert box["width"] >= 64, (key, box)
        assert box["height"] >= 64, (key, box)
    # The value now differs from what is entered: 305 and 310 are both on the 5-step grid within 100-360.
    now = page.get_by_test_id("write-now").inner_text()
    target = "310" if "305" in now else "305"
    for digit in target:
        page.get_by_test_id(f"key-{digit}").click()
    expect(page.get_by_test_id("entry")).to_have_text(target)
    page.get_by_test_id("write-next").click()
    expect(page.get_by_test_id("confirm-new")).to_have_text(f"{target} bottles/min")
    page.get_by_test_id("write-reason").fill("speed trial")
    page.screenshot(path=str(shots / "faceplate-confirm.png"))
    page.get_by_test_id("write-send").click()
    expect(page.get_by_test_id("write-outcome")).to_contain_text("confirmed at", timeout=30_000)
    page.screenshot(path=str(shots / "faceplate.png"))
    # The attempt is in the faceplate's last changes.
    expect(page.get_by_test_id("fp-changes")).to_contain_text("operator", timeout=20_000)

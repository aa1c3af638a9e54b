"""The level 1 overview's capacity: `hmi demo` running a plant of 12 lines (the demo plant with nine more lines like
Line2) on a 1920 x 1080 wall screen, in a real browser. Every line's tile is on the screen without scrolling, each with
its state, its speed indicator, its OEE and its alarm counts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from hmi import assets  # type: ignore[attr-defined]  # see hmi/config.py
from tests.browser.conftest import SCREENSHOTS, Demo, login, running_demo, settled

pytestmark = pytest.mark.browser

LINES = tuple(f"Line{n}" for n in range(1, 13))
# Nothing of a tile may reach past the screen: the page is not scrolled, and nothing is hidden below the fold.
SCROLLS = "() => [document.documentElement.scrollHeight - window.innerHeight, document.documentElement.scrollWidth"
SCROLLS += " - window.innerWidth]"


def twelve_lines() -> str:
    """The shipped demo plant with Line4 to Line12 added to its area, each a copy of Line2 under its own name (the
    simulator runs any line by its tags' names)."""
    text: str = assets.read_text(assets.DEMO_PLANT)
    rows = text.splitlines(keepends=True)
    start = next(i for i, r in enumerate(rows) if r.strip() == "- name: Line2")
    end = next(i for i, r in enumerate(rows) if r.strip() == "- name: Line3")
    after = next(i for i, r in enumerate(rows) if re.match(r"^[a-z_]+:", r) and i > end)
    line2 = "".join(rows[start:end])
    extra = "".join(line2.replace("Line2", f"Line{n}") for n in range(4, 13))
    return "".join(rows[:after]) + extra + "".join(rows[after:])


@pytest.fixture(scope="module")
def plant_of_twelve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("twelve-lines"), twelve_lines()) as demo:
        yield demo


@pytest.mark.req("OVW-010")
def test_twelve_lines_fit_one_wall_screen(browser: Browser, plant_of_twelve: Demo) -> None:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, plant_of_twelve, "operator")
        page.goto(f"{plant_of_twelve.url}/")
        for name in LINES:
            tile = page.get_by_test_id(f"line-card-{name}")
            expect(tile).to_be_in_viewport(ratio=1.0)
            # State, the speed indicator with its value, the shift's OEE and the alarm counts, all with live values.
            expect(tile.get_by_test_id(f"state-{name}")).not_to_have_text("")
            expect(tile.get_by_test_id(f"speed-{name}")).to_be_visible()
            expect(tile.get_by_test_id(f"speed-value-{name}")).not_to_have_text("—")
            expect(tile.get_by_test_id(f"oee-{name}")).to_be_visible()
            expect(tile.get_by_test_id("alarm-counts")).to_be_visible()
        settled(page)
        for name in LINES:
            tile = page.get_by_test_id(f"line-card-{name}")
            for part in (f"state-{name}", f"speed-{name}", f"oee-{name}", "alarm-counts"):
                expect(tile.get_by_test_id(part)).to_be_in_viewport(ratio=1.0)
        assert page.evaluate(SCROLLS) == [0, 0], "the overview of 12 lines scrolls"
        page.screenshot(path=str(SCREENSHOTS / "overview-12-lines-1920x1080.png"), animations="disabled")
    finally:
        context.close()

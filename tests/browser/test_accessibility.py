"""axe-core (the axe-playwright-python package, which bundles it) on every main screen of `hmi demo`, in the day
and the night theme: no serious or critical violation, colour contrast included (WCAG 2.1 SC 1.4.3, 4.5:1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Demo, login, settled
from tests.browser.test_journey import inject_fault

# BANNER as the address: the alarm waiting (a jam at Line1's capper), opened from the alarm banner.
BANNER = "banner"
SCREENS = (
    ("overview", "/"),
    ("line", "/line/Line1"),
    ("alarms", "/alarms"),
    ("trends", "/trends?tags=Line1.Speed,Line1.Filler.Temperature"),
    ("oee", "/oee"),
    ("notes", "/notes"),
    ("handover", "/handover"),
    ("recipes", "/recipes"),
    ("journal", "/journal"),
    ("kpi", "/kpi"),
    ("audit", "/audit"),
    ("users", "/users"),
    ("preferences", "/preferences"),
    ("displays", "/displays"),
    ("display", "/display/Line1-Filler"),
    ("faceplate", "/faceplate/machine/Line1/Filler"),
    ("alarm-detail", BANNER),
    ("notifications", "/notifications"),
)
# What axe calls serious or critical fails the test; moderate and minor findings are reported in the message only.
FAILING = ("serious", "critical")


@pytest.fixture(scope="module")
def admin_page(browser: Browser, demo: Demo) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    login(page, demo, "admin")
    inject_fault(demo.opcua_url, "Line1", "Capper")
    yield page
    context.close()


def choose_theme(page: Page, demo: Demo, theme: str) -> None:
    """Choose `theme` for the signed-in person on the preferences page, as a person would; the night theme in
    German (a control room in a German plant), the day theme in English."""
    page.goto(f"{demo.url}/preferences")
    # The choices in their order on the page (whatever language the page is in now): inherit, day, night / en, de.
    night = theme == "night"
    page.get_by_test_id("my-language").locator(".q-radio").nth(2 if night else 1).click()
    page.get_by_test_id("my-theme").locator(".q-radio").nth(2 if night else 1).click()
    with page.expect_navigation():  # the page reloads in the chosen theme
        page.get_by_test_id("save-my-appearance").click()
    page.wait_for_function("dark => document.body.classList.contains('body--dark') === dark", arg=theme == "night")


def findings(page: Page) -> tuple[list[str], list[str]]:
    """(failing, other) axe violations on the page as it is now, one line per rule with an example target."""
    result = Axe().run(page)
    failing: list[str] = []
    other: list[str] = []
    for violation in result.response["violations"]:
        # The first few offending elements with axe's own explanation (e.g. the two colours and their ratio).
        nodes = [f"{node['html'][:120]} -> {node.get('failureSummary', '')[:200]}" for node in violation["nodes"][:3]]
        line = f"{violation['impact']}: {violation['id']} ({violation['help']}) on {len(violation['nodes'])}: {nodes}"
        (failing if violation["impact"] in FAILING else other).append(line)
    return failing, other


@pytest.mark.req("SCR-012")
@pytest.mark.parametrize("theme", ["day", "night"])
def test_every_main_screen_passes_axe(admin_page: Page, demo: Demo, theme: str) -> None:
    choose_theme(admin_page, demo, theme)
    report: dict[str, list[str]] = {}
    for name, path in SCREENS:
        if path == BANNER:
            admin_page.goto(f"{demo.url}/")
            admin_page.get_by_test_id("alarm-banner-open").click()
            admin_page.wait_for_url("**/alarm/**")
        else:
            admin_page.goto(f"{demo.url}{path}")
        # Values and tables arrive over the websocket after the page: the clock is set by the first refresh.
        admin_page.wait_for_function("document.querySelector('[data-testid=clock]')?.textContent.length > 0")
        settled(admin_page)
        failing, _ = findings(admin_page)
        if failing:
            report[name] = failing
    assert not report, "\n".join(f"{name}: {line}" for name, lines in report.items() for line in lines)

"""Every main screen at the five panel sizes the HMI is used on, in a real browser against `hmi demo`: a phone
(390 x 844), the two touch panels (800 x 480, 1024 x 600), a desktop (1280 x 800) and a wall screen (1920 x 1080).

Per size one browser context and one sign-in (the engineer, who sees every screen but Users; the administrator
takes over the panel through the menu's Switch user for that one). On every screen: nothing scrolls sideways, the
navigation is reachable (inline from 1920 px, the menu below), every header control (menu, person, clock,
connection state) lies inside the screen, the alarm banner is shown while an alarm waits, the frame's touch targets
are at least 48 px; on the table screens the tables fit. A screenshot of each (the viewport only, once the live
values have arrived) is kept in docs/screenshots/viewports/<screen>-<w>x<h>.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import SCREENSHOTS, Demo, login, settled
from tests.browser.test_journey import inject_fault, lets_run
from tests.waiting import until_sync

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS / "viewports"
VIEWPORTS = ((390, 844), (800, 480), (1024, 600), (1280, 800), (1920, 1080))
INLINE_NAV_PX = 1920  # screens/frame.py: from this width on the navigation stays in the header
# Screen name (for the screenshot), address, and the test id of what shows the screen has been built; a `*` marks a
# label that is empty until the screen's data has been read. BANNER as the address: the alarm waiting, opened from
# the alarm banner (its detail page has the alarm's id in its address).
BANNER = "banner"
ENGINEER_SCREENS = (
    ("overview", "/", "line-card-Line1"),
    ("line", "/line/Line1", "machine-Filler"),
    ("alarms", "/alarms", "alarm-table"),
    ("trends", "/trends", "trend-window*"),
    ("oee", "/oee", "oee-span*"),
    ("shift-log", "/notes", "note-list"),
    ("handover", "/handover", "handover-scope"),
    ("recipes", "/recipes", "recipe-list"),
    ("journal", "/journal", "journal-count*"),
    ("kpis", "/kpi", "kpi-summary*"),
    ("audit", "/audit", "audit-count*"),
    ("displays", "/displays", "display-link-Line1-Filler"),
    ("display", "/display/Line1-Filler", "display-svg"),
    ("faceplate", "/faceplate/machine/Line1/Filler", "faceplate-machine-Line1-Filler"),
    ("alarm-detail", BANNER, "alarm-state*"),
    ("preferences", "/preferences", "my-appearance"),
)
ADMIN_SCREENS = (("users", "/users", "user-list"), ("notifications", "/notifications", "notifications-table"))
# The screens whose whole content is laid out for every width here: their tables must fit too, and every touch
# target on them is checked, not only the frame's (on the others the frame and the page width).
FITTED = {
    "overview",
    "line",
    "trends",
    "alarms",
    "oee",
    "journal",
    "audit",
    "users",
    "kpis",
    "recipes",
    "shift-log",
    "handover",
}

# The page's width beyond the screen's, and the first elements reaching past it; none when it fits.
OVERFLOW = """() => document.documentElement.scrollWidth <= window.innerWidth ? [] : [
  'scrollWidth ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth,
  ...[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 3).map(e => e.tagName + '.' + e.className.toString().split(' ').slice(0, 3).join('.'))]"""
# Header controls (test id) reaching outside the screen, or hidden where they must show; the person shows from 600 px.
HEADER_CONTROLS = ("menu", "user", "clock", "conn-state")
PERSON_FROM_PX = 600
OUTSIDE = """(ids) => ids.flatMap(id => {
  const e = document.querySelector('.q-header [data-testid="' + id + '"]');
  if (!e) return [id + ' missing'];
  if (e.offsetParent === null) return [id + ' hidden'];
  const r = e.getBoundingClientRect();
  return r.left < 0 || r.top < 0 || r.right > window.innerWidth + 0.5 || r.bottom > window.innerHeight
    ? [id + ' at ' + Math.round(r.left) + '..' + Math.round(r.right) + ' of ' + window.innerWidth] : [];
})"""
# Live values still showing their placeholder "—" (the value boxes of tags, the faceplate's value): a screenshot
# taken then would show no plant data.
PLACEHOLDERS = """() => [...document.querySelectorAll('[data-tag], [data-testid=fp-value]')]
  .filter(e => e.offsetParent !== null || e instanceof SVGElement)
  .flatMap(e => [e, ...e.querySelectorAll('*')])
  .filter(e => e.children.length === 0 && e.textContent.trim() === '\u2014')
  .map(e => e.closest('[data-tag]')?.dataset.tag || e.dataset.testid || e.tagName).slice(0, 5)"""
# Tables wider than their box would scroll sideways inside the page.
WIDE_TABLES = """() => [...document.querySelectorAll('.q-table__middle')]
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.closest('[data-testid]')?.dataset.testid + ': ' + e.scrollWidth + ' > ' + e.clientWidth)"""
# Touch targets under 48 CSS px (WCAG 2.1 SC 2.5.5 asks 44): `scope` is the selector of the part checked. The pens'
# remove icons belong to the trend chart's tools (issue 11 §1 "chart tool buttons", done with the trends work).
SMALL_TARGETS = """(scope) => [...document.querySelectorAll(scope)].flatMap(root => [...root.querySelectorAll(
    '.q-btn, .q-tab, .q-checkbox, th.sortable, [role=link], .q-item--clickable, .q-toggle, .q-radio')])
  .filter(e => e.offsetParent !== null)
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.width < 47.5 || r.height < 47.5); })
  .map(e => (e.dataset.testid || e.className.toString().split(' ')[0]) + ' "' + e.innerText.trim().slice(0, 20)
    + '" ' + Math.round(e.getBoundingClientRect().width) + 'x' + Math.round(e.getBoundingClientRect().height))"""


@pytest.fixture(scope="module")
def alarm_waiting(demo: Demo) -> Demo:
    """A jam at Line1's capper: its alarm waits unacknowledged for the whole module (nobody here acknowledges)."""
    inject_fault(demo.opcua_url, "Line1", "Capper")
    return demo


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.mark.parametrize("size", VIEWPORTS, ids=size_id)
@pytest.mark.req("UI-101", "UI-102", "UI-103", "UI-104", "UI-105")
def test_every_screen_fits_the_panel(browser: Browser, alarm_waiting: Demo, size: tuple[int, int]) -> None:
    demo = alarm_waiting
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        login(page, demo, "engineer")
        reaches_the_screens(page, width)
        for name, path, content in ENGINEER_SCREENS:
            visit(page, demo, name, path, content, size)
        # The administrator takes over this panel for the Users screen, through the menu.
        page.get_by_test_id("menu").click()
        page.get_by_test_id("switch-user").click()
        page.get_by_test_id("switch-username").fill("admin")
        page.get_by_test_id("switch-password").fill("demo")
        page.get_by_test_id("switch-confirm").click()
        expect(page.get_by_test_id("user")).to_contain_text("admin")
        for name, path, content in ADMIN_SCREENS:
            visit(page, demo, name, path, content, size)
    finally:
        context.close()


def reaches_the_screens(page: Page, width: int) -> None:
    """The navigation: inline in the header on wide screens; everywhere the menu opens the drawer with every
    screen of the role, and one touch there opens the screen."""
    expect(page.get_by_test_id("menu")).to_be_visible()
    inline = page.get_by_test_id("nav-inline")
    if width >= INLINE_NAV_PX:
        expect(inline).to_be_visible()
        expect(inline.get_by_role("button", name="Alarms")).to_be_visible()
    else:
        expect(inline).to_be_hidden()
    page.get_by_test_id("menu").click()
    entry = page.get_by_test_id("menu-alarms")
    expect(entry).to_be_in_viewport()
    expect(page.get_by_test_id("switch-user")).to_be_in_viewport()
    expect(page.get_by_test_id("log-out")).to_be_visible()
    entry.click()
    expect(page.get_by_test_id("alarm-table")).to_be_visible()
    expect(page.get_by_test_id("menu-drawer")).not_to_be_in_viewport()


def settles(page: Page, problems: str, what: str) -> None:
    """Wait until the script `problems` finds none (an empty list), or fail naming what it found last."""
    found: list[object] = []

    def none() -> bool:
        found[:] = [page.evaluate(problems)]
        return not found[0]

    try:
        until_sync(none, 10, what, interval=0.2, sleep=lets_run(page))
    except AssertionError:
        pytest.fail(f"{what}: {found[0]}")


def visit(page: Page, demo: Demo, name: str, path: str, content: str, size: tuple[int, int]) -> None:
    width, height = size
    if path == BANNER:
        page.get_by_test_id("alarm-banner-open").click()
        page.wait_for_url("**/alarm/**")
    else:
        page.goto(f"{demo.url}{path}")
    built = page.get_by_test_id(content.rstrip("*")).first
    if content.endswith("*"):
        expect(built).not_to_have_text("")
    else:
        expect(built).to_be_visible()
    where = f"{name} at {width}x{height}"

    # Nothing scrolls sideways (charts and tables lay themselves out after their data came: wait for that).
    settles(page, OVERFLOW, f"{where}: the page is wider than the screen")
    if name in FITTED:
        settles(page, WIDE_TABLES, f"{where}: tables wider than the screen")

    # The navigation is reachable, the alarm waiting is in the banner, in view under the header.
    expect(page.get_by_test_id("menu")).to_be_in_viewport()
    if width >= INLINE_NAV_PX:
        expect(page.get_by_test_id("nav-inline")).to_be_visible()
    banner = page.get_by_test_id("alarm-banner")
    expect(banner).to_be_in_viewport()
    expect(page.get_by_test_id("alarm-banner-line")).to_be_visible()

    # Every header control inside the screen, for the person signed in (engineer, administrator).
    controls = [c for c in HEADER_CONTROLS if c != "user" or width >= PERSON_FROM_PX]
    settled(page)
    outside = page.evaluate(OUTSIDE, controls)
    assert not outside, f"header controls outside the screen on {where}: {outside}"

    # Touch targets of at least 48 px: the frame on every screen, the whole page on the screens laid out here.
    scope = "body" if name in FITTED else ".q-header, .q-drawer"
    small = page.evaluate(SMALL_TARGETS, scope)
    assert not small, f"touch targets under 48 px on {where}: {small}"

    if name == "overview" and height <= 480:
        # On the smallest panel the first line's tile shows plant data without scrolling.
        tile = page.get_by_test_id("line-card-Line1")
        expect(tile.locator("[data-tag]").first).to_be_in_viewport()
        box, first_value, header = (
            tile.bounding_box(),
            tile.locator("[data-tag]").first.bounding_box(),
            page.locator(".q-header").bounding_box(),
        )
        assert box is not None
        assert first_value is not None
        assert header is not None
        assert header["y"] + header["height"] <= box["y"], "the tile starts below the header and the banner"
        assert first_value["y"] + first_value["height"] <= height, "the tile's first value is above the fold"

    # The screenshot shows plant data: wait until the live values replaced their placeholders.
    settles(page, PLACEHOLDERS, f"{where}: values still show the placeholder")
    page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"), animations="disabled")

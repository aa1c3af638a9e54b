"""A shift lead's and an operator's day in a real browser against `hmi demo` (Playwright, system Chromium)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from asyncua import Client, ua
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, Demo, login
from tests.waiting import until_sync

pytestmark = pytest.mark.browser


def inject_fault(opcua_url: str, line: str, machine: str) -> None:
    """Ask the demo simulator (over OPC UA, like a trainer would) to jam a machine."""

    async def call() -> None:
        async with Client(opcua_url, timeout=5) as client:
            sim = client.get_node("ns=2;s=Simulator")
            method = ua.NodeId.from_string("ns=2;s=Simulator.InjectFault")
            result = await sim.call_method(
                method, ua.Variant(line, ua.VariantType.String), ua.Variant(machine, ua.VariantType.String)
            )
            assert result == "ok", result

    # Playwright's sync API owns this thread's event loop; the OPC UA call gets a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, call()).result(timeout=30)


def lets_run(page: Page) -> Callable[[float], None]:
    """A sleep for `until_sync` that lets the page run meanwhile (Playwright's own wait)."""
    return lambda seconds: page.wait_for_timeout(seconds * 1000)


def value_text(page: Page, tag: str) -> str:
    return page.locator(f'[data-tag="{tag}"] .hmi-value-sm').first.inner_text()


@pytest.mark.req("SCR-001", "SCR-002", "SCR-003", "SCR-004", "SCR-008", "SCR-010")
def test_operator_journey(page: Page, demo: Demo) -> None:
    login(page, demo, "operator")
    expect(page.get_by_test_id("line-card-Line1")).to_be_visible()
    expect(page.get_by_test_id("line-card-Line3")).to_be_visible()
    page.wait_for_timeout(1500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    # One touch from the overview to the line; watch a live value change.
    page.get_by_test_id("line-card-Line1").click()
    expect(page.get_by_test_id("machine-Filler")).to_be_visible()
    first = value_text(page, "Line1.GoodCount")
    until_sync(
        lambda: value_text(page, "Line1.GoodCount") != first,
        20,
        "the good counter of Line1 to change",
        interval=0.3,
        sleep=lets_run(page),
    )

    # A jam at the capper raises a priority 2 alarm; acknowledge it with a comment.
    inject_fault(demo.opcua_url, "Line1", "Capper")
    page.goto(f"{demo.url}/alarms?focus=Line1.Capper.Jam.Jammed")
    row = page.locator("tr", has_text="Capper jammed").first
    expect(row).to_be_visible()
    expect(page.get_by_test_id("alarm-banner").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "alarms.png"), full_page=True)
    # A priority 2 alarm sounds until acknowledged: the panel asks once to allow sound, then plays it.
    allow = page.get_by_test_id("allow-sound")
    expect(allow).to_be_visible()
    allow.click()
    expect(allow).to_be_hidden()
    assert page.evaluate("hmiAnnunciator.enabled()") is True
    expect(page.get_by_test_id("silence")).to_be_visible()
    expect(row.get_by_role("checkbox")).to_be_checked()
    page.get_by_test_id("ack-selected").click()
    page.get_by_test_id("ack-comment").fill("Cleared bottle cap jam at infeed")
    page.get_by_test_id("ack-confirm").click()
    expect(page.get_by_test_id("ack-status")).to_contain_text("acknowledged and stored")

    # A note for the shift.
    page.goto(f"{demo.url}/notes")
    page.get_by_test_id("note-text").fill("Capper infeed guide worn; maintenance informed")
    page.get_by_test_id("note-save").click()
    expect(page.get_by_test_id("note-status")).to_have_text("Note saved.")

    # Both are still there after a reload: they were stored, not just shown.
    page.reload()
    expect(page.get_by_test_id("note-list")).to_contain_text("Capper infeed guide worn; maintenance informed")
    expect(page.get_by_test_id("note-list")).to_contain_text("operator")
    page.goto(f"{demo.url}/alarms")
    page.reload()
    acked = page.locator("tr", has_text="Capper jammed").first
    expect(acked).to_contain_text("Cleared bottle cap jam at infeed")
    expect(acked).to_contain_text("acknowledged")


@pytest.mark.req("ALM-023")
def test_manager_sees_alarms_but_cannot_acknowledge(page: Page, demo: Demo) -> None:
    login(page, demo, "manager")
    page.goto(f"{demo.url}/alarms")
    expect(page.get_by_text("may view alarms but not acknowledge them")).to_be_visible()
    expect(page.get_by_test_id("ack-selected")).to_have_count(0)


@pytest.mark.req("SCR-010")
def test_login_page_says_demo_and_refuses_a_wrong_password(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.url}/login")
    expect(page.get_by_test_id("demo-notice")).to_contain_text("DEMO MODE")
    expect(page.get_by_test_id("demo-notice")).to_contain_text("lead (lead)")
    page.get_by_test_id("username").fill("lead")
    page.get_by_test_id("password").fill("wrong")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("Wrong user name or password")


@pytest.mark.req("HIS-008", "HIS-009", "TRD-001", "TRD-002", "TRD-007", "TRD-008")
def test_engineer_trends_cursor_and_zoom(page: Page, demo: Demo) -> None:
    login(page, demo, "engineer")
    page.goto(f"{demo.url}/trends?tags=Line1.Speed,Line1.Filler.Temperature")
    plot = page.get_by_test_id("trend")
    # The plotly bundle (4.5 MB) loads before the first chart: slow on a busy machine, so the fence waits longer.
    expect(plot.locator(".main-svg").first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("trend-window")).to_contain_text("LIVE")
    # Fence instead of a few seconds' sleep: live values arrive and are drawn (the newest point of the two pens'
    # traces moves on; the times are local 'YYYY-MM-DD HH:MM:SS...' strings, so they compare as text).
    newest = "el => el.data.slice(0, 2).map(t => t.x.length ? t.x[t.x.length - 1] : '').sort().pop()"
    before = plot.evaluate(newest)
    until_sync(lambda: plot.evaluate(newest) > before, 20, "a live value drawn", interval=0.3, sleep=lets_run(page))
    box = plot.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    # A touch on the chart places the cursor, which reads every pen at that time. The live chart is redrawn every
    # second and plotly drops a click whose press and release straddle a redraw (seen on a loaded machine): tap again,
    # as a person does.
    readout = page.get_by_test_id("trend-cursor")

    def cursor_placed() -> bool:
        page.mouse.click(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2)
        page.wait_for_timeout(1500)
        return "Cursor" in readout.inner_text()

    until_sync(cursor_placed, 40, "the cursor placed by a touch", interval=0.5, sleep=lets_run(page))
    expect(page.get_by_test_id("cursor-Line1.Speed")).to_be_visible()
    # The chart's tools are 48 px buttons; plotly's small mode bar is not there (TRD-008).
    expect(plot.locator(".modebar-btn")).to_have_count(0)
    for tool in ("trend-reset", "trend-live", "trend-picture", "trend-export"):
        tool_box = page.get_by_test_id(tool).bounding_box()
        assert tool_box is not None
        assert tool_box["height"] >= 48
        assert tool_box["width"] >= 48
    # Each pen's limits are labelled, and no two labels overlap (TRD-001, TRD-002).
    labels = [b for b in (a.bounding_box() for a in plot.locator(".annotation").all()) if b is not None]
    assert labels
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            apart = a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5
            assert apart or a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "trends.png"), full_page=True)
    # Dragging across the chart zooms in: the screen reads that window again from the historian.
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    expect(page.get_by_test_id("trend-window")).to_contain_text("HISTORY")
    # The range buttons say so: Custom is chosen, and LIVE has become Back to live (TRD-007).
    expect(page.get_by_test_id("trend-range").get_by_role("button", name="Custom")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_test_id("trend-live")).to_contain_text("Back to live")


@pytest.mark.req("OEE-007", "OEE-009", "SEC-006")
def test_manager_overview_and_a_stop_reason(page: Page, demo: Demo) -> None:
    # Line3 is scheduled round the clock without breaks, so its stop counts whenever this test runs.
    inject_fault(demo.opcua_url, "Line3", "Filler")
    login(page, demo, "operator")
    page.goto(f"{demo.url}/line/Line3")
    expect(page.get_by_test_id("line-timeline")).to_be_visible()
    expect(page.get_by_test_id("line-oee")).to_contain_text("OEE")

    # The fault stops the line; the stop appears (the list refreshes every 30 s; a reload reads it now).
    def stop_listed() -> bool:
        if page.get_by_test_id("line-stops").get_by_role("button", name="Reason").count():
            return True
        page.reload()
        return False

    until_sync(stop_listed, 60, "a stop of Line3 to be recorded", interval=2, sleep=lets_run(page))
    page.get_by_test_id("line-stops").get_by_role("button", name="Reason").first.click()
    page.get_by_test_id("reason-select").click()
    page.get_by_role("option", name="Jam / mechanical fault").click()
    page.get_by_test_id("reason-comment").fill("Filler valve <stuck>")
    page.get_by_test_id("reason-assign").click()
    expect(page.get_by_test_id("line-stops")).to_contain_text("Jam / mechanical fault — operator: Filler valve <stuck>")

    page.context.clear_cookies()  # the manager signs in on another desk
    login(page, demo, "manager")
    page.goto(f"{demo.url}/oee")
    table = page.get_by_test_id("oee-table")
    for line in ("Line1", "Line2", "Line3"):
        expect(table).to_contain_text(line)
    expect(page.get_by_test_id("oee-pareto")).to_contain_text("Jam / mechanical fault")
    expect(page.get_by_test_id("oee-by-shift").locator(".main-svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "oee.png"), full_page=True)


@pytest.mark.req("API-008")
def test_api_documentation_renders_without_internet(page: Page, demo: Demo) -> None:
    # The test browser has no route to the internet: Swagger UI must come from the HMI itself.
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(demo.url) else external.append(r.url))
    page.goto(f"{demo.url}/api/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("factory-hmi REST API")
    expect(page.get_by_text("/v1/tags/{name}/write").first).to_be_visible()
    assert external == []

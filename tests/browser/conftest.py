"""Real-browser journeys: `hmi demo` in its own process, driven by Playwright on the system Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from screens.cli import DEMO_PLANT_FILE
from tests.opcua_server import free_port
from tests.waiting import answering, ended

CHROMIUM = os.environ.get("HMI_TEST_CHROMIUM", "/usr/bin/chromium")
# Assertions wait as long as actions (page.set_default_timeout): with two test workers, the demo and Chromium on two
# cores, a touch's answer or a plotly chart can take longer than Playwright's default 5 s. These journeys check what
# the screens do, not how fast (bench/ measures speed).
expect.set_options(timeout=20_000)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Flags that keep Chromium from reaching out to the network this machine does not have.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Demo:
    """A running `hmi demo`: its web URL and the simulator's OPC UA URL."""

    url: str
    opcua_url: str
    process: subprocess.Popen[str]
    log: Path | None = None  # its stderr: shown with a failed test's report


@contextmanager
def running_demo(data_dir: Path, plant: str | None = None, port: int | None = None) -> Iterator[Demo]:
    """`hmi demo` on its own port (`port`, default a free one) with its data in `data_dir`; `plant` (a plant file's
    text) replaces the shipped demo plant (the demo takes up a plant file already in its data directory)."""
    port = port or free_port()
    if plant is not None:
        (data_dir / DEMO_PLANT_FILE).write_text(plant, encoding="utf-8")
        (data_dir / DEMO_PLANT_FILE).chmod(0o600)  # as the demo writes its own copy
    # The demo is a production process: NiceGUI must not think it runs inside pytest.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HMI_DB_URL", None)
    env.pop("HMI_DEMO_PASSWORD", None)
    log = (data_dir / "demo.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hmi", "demo", "--port", str(port), "--data-dir", str(data_dir), "--seed", "7"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    opcua_url = ""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not opcua_url:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"hmi demo exited early; see {data_dir / 'demo.log'}")
            if m := re.search(r"simulator: (opc\.tcp://\S+)", line):
                opcua_url = m.group(1)
        url = f"http://127.0.0.1:{port}"
        answering(f"{url}/login", proc, data_dir / "demo.log", deadline - time.monotonic())
        yield Demo(url, opcua_url, proc, data_dir / "demo.log")
    finally:
        ended(proc, 15)
        log.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed journey's report also says where the page was, what its alerts said and how the demo's log ends: a
    sign-in refused for a busy database and a page that took too long to build look the same from the test."""
    report: pytest.TestReport = yield
    if report.when != "call" or not report.failed:
        return report
    fixtures = getattr(item, "funcargs", {})
    page = fixtures.get("page")
    if isinstance(page, Page) and not page.is_closed():
        try:
            alerts = [text for text in page.get_by_role("alert").all_inner_texts() if text.strip()]
            report.sections.append(("page at failure", f"url {page.url}\nalerts {alerts}"))
        except Exception as exc:  # the page may be mid-navigation or its browser gone
            report.sections.append(("page at failure", f"not readable: {exc}"))
    demo = fixtures.get("demo")
    if isinstance(demo, Demo) and demo.log is not None and demo.log.exists():
        tail = demo.log.read_text(encoding="utf-8", errors="replace").splitlines()[-60:]
        report.sections.append(("end of the demo's log", "\n".join(tail)))
    return report


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("demo-data")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20_000)
    yield p
    context.close()


def login(page: Page, demo: Demo, username: str, password: str = "demo") -> None:
    """Sign in through the login page."""
    page.goto(f"{demo.url}/login")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("sign-in").click()
    # A sign-in (argon2, its session and audit rows) and then the first screen's build (up to screens.app's 20 s on
    # a busy server) come one after the other: on two loaded cores together they can take longer than one action.
    page.get_by_test_id("clock").wait_for(timeout=40_000)


def settled(page: Page) -> None:
    """Wait until no CSS transition or animation runs: Quasar scales a dialog in and fades colours after the night
    theme's class lands, and a box or a colour read mid-way is neither the start nor the end (a keypad key measured
    at 93 % of its size, a tab label at 4.1:1 on its way to its final contrast)."""
    # An unacknowledged alarm's indicator flashes for as long as it waits (an infinite animation): not a transition.
    page.wait_for_function(
        "document.getAnimations().every(a => a.playState !== 'running'"
        " || a.effect?.getComputedTiming().iterations === Infinity)"
    )

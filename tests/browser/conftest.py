"""Real-browser journeys: `hmi demo` in its own process, driven by Playwright on the system Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("demo-data")
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
        yield Demo(url, opcua_url, proc)
    finally:
        ended(proc, 15)
        log.close()


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
    page.get_by_test_id("clock").wait_for()

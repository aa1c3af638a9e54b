"""Issue 11 §6, done when: a reload adds a tag to a running demo and the panel shows it without a restart. A real
Chromium stays on the line page of `hmi demo` while the demo plant file is edited and `hmi reload` runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hmi.cli import main
from tests.browser.conftest import Demo, login
from tests.opcua_server import free_port
from tests.waiting import answering, ended, until_sync

NEW_TAG = (
    '          - {name: Line1.FillerTemp, endpoint: plant, node_id: "ns=2;s=Line1.Filler.Temperature", '
    "unit: °C, description: Filler temperature on the line panel}\n"
)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, Path]]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("reload-journey")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HMI_DB_URL", None)
    env.pop("HMI_DEMO_PASSWORD", None)
    log = data_dir / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "hmi", "demo", "--port", str(port)),
                "--data-dir",
                str(data_dir),
                "--history-hours",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            answering(f"{url}/login", proc, log, 90)
            until_sync(lambda: (data_dir / "hmi.pid").exists(), 60, "the pid file")
            yield Demo(url, "", proc, log), data_dir
        finally:
            ended(proc, 15)


@pytest.mark.req("RLD-001", "RLD-008")
def test_the_line_panel_shows_a_tag_added_by_hmi_reload(demo_dir: tuple[Demo, Path], page: Page) -> None:
    demo, data_dir = demo_dir
    login(page, demo, "engineer")
    page.goto(f"{demo.url}/line/Line1")
    page.get_by_test_id("machine-Filler").wait_for()
    expect(page.get_by_test_id("tile-Line1.FillerTemp")).to_have_count(0)

    plant_file = data_dir / "demo-plant.yaml"
    head, tail = plant_file.read_text(encoding="utf-8").split("        tags:\n", 1)
    plant_file.write_text(head + "        tags:\n" + NEW_TAG + tail, encoding="utf-8")
    assert main(["reload", "--data-dir", str(data_dir)]) == 0

    # Nobody touches the page: it says the plant changed, then rebuilds with the new tag and its live value.
    expect(page.get_by_test_id("plant-changed")).to_be_visible(timeout=20_000)
    tile = page.get_by_test_id("tile-Line1.FillerTemp")
    expect(tile).to_be_visible(timeout=60_000)
    expect(tile).to_contain_text("°C")
    expect(tile.locator(".hmi-value-sm")).to_have_text(re.compile(r"\d"), timeout=30_000)
    # Still signed in: the reload kept the session.
    expect(page.get_by_test_id("user")).to_contain_text("engineer")

"""Custom displays on screen: the small test plant with a drawing of its own, on a real runtime, OPC UA server and
SQLite, through NiceGUI's simulated user."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nicegui import Client

from hmi.config import PlantConfig, parse_config
from tests.plant_fixture import INITIAL, PLANT_YAML
from tests.screens.conftest import Harness, element, harness_on

# A drawing as it might arrive: Inkscape's own data, and things that must never reach a page.
DRAWING = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" viewBox="0 0 300 120" onload="alert('load')">
  <script>alert('script')</script>
  <g inkscape:label="Machine" id="machine" onclick="alert('click')">
    <rect id="m1-body" x="10" y="10" width="120" height="80" style="fill:#e8e8e8;stroke:#1a1a1a"
          onmouseover="alert(1)"/>
    <text id="m1-temp" x="20" y="50" style="font-size:16px"><tspan id="m1-temp-line">--</tspan></text>
    <rect id="m1-level" x="150" y="10" width="20" height="100" fill="#8c8c8c"/>
    <g id="m1-jam"><path d="M 200,90 L 220,60 L 240,90 Z" fill="#f28c00"/></g>
  </g>
  <a xlink:href="javascript:alert('link')"><text x="10" y="115">help</text></a>
  <foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">html</div></foreignObject>
  <image href="https://tracker.example/pixel.png" width="1" height="1"/>
</svg>"""
DISPLAYS = """
displays:
  - name: L1-M1
    title: Machine M1 <drawing>
    svg: drawings/m1.svg
    line: L1
    bindings:
      - {id: m1-temp, tag: L1.M1.Temp, type: text}
      - {id: m1-body, tag: L1.State, type: fill_state, states: {Execute: light, Held: dark}}
      - {id: m1-level, tag: L1.M1.Level, type: level, min: 0, max: 100}
      - {id: m1-jam, tag: L1.M1.Jam, type: visible, when: {equals: true}}
"""


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    (tmp_path / "drawings").mkdir()
    (tmp_path / "drawings" / "m1.svg").write_text(DRAWING, encoding="utf-8")

    def plant(url: str) -> PlantConfig:
        return parse_config(PLANT_YAML.format(url=url) + DISPLAYS, "display-plant.yaml", base_dir=tmp_path)

    async with harness_on(tmp_path, plant, INITIAL) as harness:
        yield harness


def picture(hmi: Harness) -> str:
    """The SVG the page holds now (what is sent to the browser)."""
    return str(element(hmi, "display-svg").content)


def assert_inert(svg: str) -> None:
    low = svg.lower()
    assert "<script" not in low
    assert not re.search(r"\son[a-z]+\s*=", low), "no event handler"
    assert "javascript" not in low
    assert "foreignobject" not in low
    assert "tracker.example" not in low
    assert "alert(" not in low


@pytest.mark.req("DSP-005", "DSP-003")
async def test_a_bound_value_follows_the_server_and_nothing_runs(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/display/L1-M1")
    await hmi.user.should_see("Machine M1 <drawing>", retries=50)
    await hmi.user.should_see(marker="display-line")
    await hmi.until(lambda: "70.0 °C" in picture(hmi), what="the temperature in the drawing")
    first = picture(hmi)
    assert_inert(first)
    assert 'aria-label="Machine M1 &lt;drawing&gt;"' in first
    assert 'id="hmi-d-m1-jam" display="none"' in first  # no jam: the marker is hidden
    await hmi.server.write("L1.M1.Temp", 71.5)
    await hmi.server.write("L1.M1.Jam", True)
    await hmi.until(lambda: "71.5 °C" in picture(hmi), what="the new temperature in the drawing")
    await hmi.until(lambda: 'id="hmi-d-m1-jam" display="none"' not in picture(hmi), what="the jam marker shown")
    assert_inert(picture(hmi))
    assert element(hmi, "display-svg").props.get("sanitize") is True  # DOMPurify in the browser as a second net


@pytest.mark.req("DSP-005", "DSP-004")
async def test_values_turn_stale_when_the_connection_drops(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/display/L1-M1")
    await hmi.until(lambda: "70.0 °C" in picture(hmi), what="the temperature in the drawing")
    await hmi.server.stop()
    await hmi.until(lambda: ">STALE<" in picture(hmi), timeout=30, what="STALE in the drawing")
    svg = picture(hmi)
    assert "70.0" not in svg
    assert 'data-quality="stale"' in svg


@pytest.mark.req("DSP-005")
async def test_the_list_leads_to_the_display_and_touching_opens_the_faceplate(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/displays")
    await hmi.user.should_see("Machine M1 <drawing>", retries=50)
    hmi.user.find(marker="display-link-L1-M1").click()
    await hmi.user.should_see(marker="display-svg", retries=50)
    # The browser names the touched element and its ancestors; an id without a binding opens nothing.
    hmi.user.find(marker="display-svg").trigger("click", ["hmi-d-nothing", "c12", "hmi-d-machine"])
    await hmi.user.should_not_see(marker="faceplate-tag-L1.M1.Temp")
    hmi.user.find(marker="display-svg").trigger("click", ["hmi-d-m1-temp-line", "hmi-d-m1-temp", "hmi-d-machine"])
    await hmi.user.should_see(marker="faceplate-tag-L1.M1.Temp", retries=50)


@pytest.mark.req("DSP-005")
async def test_an_unknown_display_says_so(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/display/nope")
    await hmi.user.should_see("There is no display called 'nope'.", retries=50)


@pytest.mark.req("DSP-005")
async def test_a_display_needs_a_session_and_its_subscription_ends_with_the_page(hmi: Harness) -> None:
    await hmi.user.open("/display/L1-M1")
    await hmi.user.should_see(marker="sign-in")
    await hmi.user.should_not_see(marker="display-svg")
    before = hmi.rt.cache.listener_count
    await hmi.login("olga")
    await hmi.user.open("/display/L1-M1")
    await hmi.user.should_see(marker="display-svg", retries=50)
    assert hmi.rt.cache.listener_count > before
    for client in list(Client.instances.values()):
        client.delete()
    assert hmi.rt.cache.listener_count == before

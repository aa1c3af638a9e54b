"""The line picture on the line screen, breadcrumbs and previous/next line, with NiceGUI's simulated user on a real
runtime and a real OPC UA server (SmallServer) whose values the tests change."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hmi.config import PlantConfig, parse_config
from hmi.graphics.line_picture import DAY, NIGHT
from tests.screens.conftest import PASSWORD, Harness, element, harness_on

SVG = "{http://www.w3.org/2000/svg}"

PLANT = """
site: {{name: Picture Plant, timezone: Europe/Berlin}}
endpoints:
  - {{name: test, url: "{url}", publishing_interval_ms: 100}}
areas:
  - name: Packing
    lines:
      - name: L1
        state_tag: L1.State
        flow: [Wash, Fill, Cap]
        conveyors:
          - {{from: Wash, to: Fill, accumulation_tag: L1.Buf, state_tag: L1.Belt}}
        tags:
          - {{name: L1.State, endpoint: test, node_id: "ns=2;s=L1.State", data_type: string}}
          - {{name: L1.Buf, endpoint: test, node_id: "ns=2;s=L1.Buf", unit: "%", eng_range: [0, 100],
              normal_range: [5, 60]}}
          - {{name: L1.Belt, endpoint: test, node_id: "ns=2;s=L1.Belt", data_type: string}}
        machines:
          - name: Fill
            description: "<b>Filler</b> <script>alert(1)</script>"
            state_tag: L1.Fill.State
            tags:
              - {{name: L1.Fill.State, endpoint: test, node_id: "ns=2;s=L1.Fill.State", data_type: string}}
              - name: L1.Fill.Temp
                endpoint: test
                node_id: "ns=2;s=L1.Fill.Temp"
                unit: °C
                eng_range: [0, 120]
                normal_range: [60, 75]
                alarms:
                  - {{type: H, limit: 80, priority: 2, message: Fill temperature high}}
          - name: Cap
            state_tag: L1.Cap.State
            tags:
              - {{name: L1.Cap.State, endpoint: test, node_id: "ns=2;s=L1.Cap.State", data_type: string}}
          - name: Wash
            state_tag: L1.Wash.State
            tags:
              - {{name: L1.Wash.State, endpoint: test, node_id: "ns=2;s=L1.Wash.State", data_type: string}}
      - name: L2
        tags:
          - {{name: L2.Speed, endpoint: test, node_id: "ns=2;s=L2.Speed", unit: bpm}}
  - name: Wrapping
    lines:
      - name: L3
        tags:
          - {{name: L3.Speed, endpoint: test, node_id: "ns=2;s=L3.Speed", unit: bpm}}
translations:
  de: {{Wash: Waschen, "<b>Filler</b> <script>alert(1)</script>": "<b>Füller</b> <script>alert(2)</script>"}}
"""

INITIAL = {
    "L1.State": "Execute",
    "L1.Buf": 30.0,
    "L1.Belt": "Running",
    "L1.Fill.State": "Execute",
    "L1.Fill.Temp": 70.0,
    "L1.Cap.State": "Execute",
    "L1.Wash.State": "Idle",
    "L2.Speed": 100.0,
    "L3.Speed": 200.0,
}


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    def plant(url: str) -> PlantConfig:
        return parse_config(PLANT.format(url=url), "picture-plant.yaml")

    async with harness_on(tmp_path, plant, INITIAL) as harness:
        yield harness


def picture(hmi: Harness) -> ElementTree.Element:
    """The SVG the line screen shows now, parsed."""
    return ElementTree.fromstring(element(hmi, "line-picture-svg").content)


def machine_groups(root: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {g.get("data-machine", ""): g for g in root.iter(f"{SVG}g") if "data-machine" in g.attrib}


def words(group: ElementTree.Element) -> str:
    return " ".join("".join(t.itertext()) for t in group.iter(f"{SVG}text"))


def crumbs(hmi: Harness) -> list[tuple[str, str]]:
    """(text, address) of each breadcrumb on the page."""
    nav = element(hmi, "breadcrumbs")
    return [(link.text, link.props["href"]) for link in nav.descendants() if link.props.get("href") is not None]


async def open_line(hmi: Harness, line: str = "L1") -> None:
    await hmi.user.open(f"/line/{line}")
    await hmi.user.should_see(marker="breadcrumbs", retries=50)


@pytest.mark.req("LGX-002", "LGX-006")
async def test_the_line_screen_shows_the_picture_with_the_machines_in_flow_order(hmi: Harness) -> None:
    await hmi.login("olga")
    await open_line(hmi)
    await hmi.user.should_see(marker="line-picture")
    root = picture(hmi)
    assert list(machine_groups(root)) == ["Wash", "Fill", "Cap"]  # the flow, not the order of the file
    groups = machine_groups(root)
    assert "IDLE" in words(groups["Wash"])
    assert "RUNNING" in words(groups["Fill"])
    conveyor = next(g for g in root.iter(f"{SVG}g") if g.get("data-from") == "Wash")
    assert "RUNNING" in words(conveyor)
    assert "30.0 %" in words(conveyor)
    # The description from the plant file is text in the picture, never markup.
    content = element(hmi, "line-picture-svg").content
    assert "<script" not in content
    assert "&lt;b&gt;Filler&lt;/b&gt;" in content
    # The values of every machine stay reachable under the picture, in flow order too.
    await hmi.user.should_see(marker="machine-values")
    await hmi.user.should_see(marker="tile-L1.Fill.Temp")


@pytest.mark.req("LGX-007", "LGX-003", "LGX-005", "LGX-004")
async def test_the_picture_follows_the_server(hmi: Harness) -> None:
    await hmi.login("olga")
    await open_line(hmi)
    await hmi.server.write("L1.Fill.State", "Held")
    await hmi.until(lambda: machine_groups(picture(hmi))["Fill"].get("data-state") == "down", what="Fill DOWN")
    assert "DOWN · Held" in words(machine_groups(picture(hmi))["Fill"])
    # A value beyond its H limit: marked HIGH on the picture, and the alarm's marker with its priority and count.
    await hmi.server.write("L1.Fill.Temp", 85.0)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.Fill.Temp.H") is not None, what="the H alarm")
    await hmi.until(lambda: "1 alarm" in words(machine_groups(picture(hmi))["Fill"]), what="the alarm on the picture")
    fill = machine_groups(picture(hmi))["Fill"]
    marker = next(g for g in fill.iter(f"{SVG}g") if g.get("data-priority") == "2")
    assert marker.get("data-shape") == "triangle"
    assert "▲ HIGH" in words(fill)
    # A conveyor state from the PLC, shown as its word.
    await hmi.server.write("L1.Belt", "Blocked")
    await hmi.until(
        lambda: "BLOCKED" in words(next(g for g in picture(hmi).iter(f"{SVG}g") if g.get("data-from") == "Wash")),
        what="the conveyor BLOCKED",
    )


@pytest.mark.req("LGX-002", "LGX-007")
async def test_on_a_phone_the_machines_stack_one_to_a_row(hmi: Harness) -> None:
    hmi.user.javascript_rules[re.compile(r"window\.innerWidth")] = lambda _: 390
    await hmi.login("olga")
    await open_line(hmi)

    def xs() -> list[float]:
        groups = machine_groups(picture(hmi)).values()
        return [
            float(next(r for r in g.iter(f"{SVG}rect") if r.get("class") == "lp-box").get("x", "0")) for g in groups
        ]

    await hmi.until(lambda: len(set(xs())) == 1, what="one machine to a row")
    assert list(machine_groups(picture(hmi))) == ["Wash", "Fill", "Cap"]
    # The buttons over the machines moved with them: one below the other, each still at least 48 px.
    tops = [float(element(hmi, f"picture-machine-{m}").style["top"].rstrip("%")) for m in ("Wash", "Fill", "Cap")]
    assert tops == sorted(tops)
    assert len(set(tops)) == 3
    hmi.user.find(marker="picture-machine-Fill").click()
    await hmi.user.should_see(marker="faceplate-machine-L1-Fill", retries=50)


@pytest.mark.req("LGX-007")
async def test_touching_a_machine_on_the_picture_opens_its_faceplate(hmi: Harness) -> None:
    await hmi.login("olga")
    await open_line(hmi)
    button = element(hmi, "picture-machine-Cap")
    assert button.style.get("min-width") == "48px"
    assert button.style.get("min-height") == "48px"
    hmi.user.find(marker="picture-machine-Cap").click()
    await hmi.user.should_see(marker="faceplate-machine-L1-Cap", retries=50)
    hmi.user.find(marker="fp-close").click()
    await hmi.user.should_not_see(marker="faceplate-machine-L1-Cap", retries=50)
    hmi.user.find(marker="picture-machine-Wash").click()
    await hmi.user.should_see(marker="faceplate-machine-L1-Wash", retries=50)


@pytest.mark.req("LGX-008")
async def test_previous_and_next_line_in_plant_order_wrapping(hmi: Harness) -> None:
    await hmi.login("olga")
    await open_line(hmi)
    assert element(hmi, "line-prev").text == "◀ L3"  # L1 is the first line: previous wraps to the last
    assert element(hmi, "line-next").text == "L2 ▶"
    hmi.user.find(marker="line-next").click()
    await hmi.user.should_see(marker="crumb-line", content="L2", retries=50)
    hmi.user.find(marker="line-next").click()
    await hmi.user.should_see(marker="crumb-line", content="L3", retries=50)
    assert crumbs(hmi) == [("Picture Plant", "/"), ("Wrapping", "/"), ("L3", "/line/L3")]
    hmi.user.find(marker="line-next").click()  # the last line: next wraps to the first
    await hmi.user.should_see(marker="crumb-line", content="L1", retries=50)
    await hmi.user.should_see(marker="line-picture")


@pytest.mark.req("LGX-008")
async def test_breadcrumbs_on_the_line_screen_and_the_faceplate_pages(hmi: Harness) -> None:
    await hmi.login("olga")
    await open_line(hmi)
    assert crumbs(hmi) == [("Picture Plant", "/"), ("Packing", "/"), ("L1", "/line/L1")]
    assert element(hmi, "crumb-line").props.get("aria-current") == "page"
    await hmi.user.open("/faceplate/machine/L1/Fill")
    await hmi.user.should_see(marker="faceplate-machine-L1-Fill", retries=50)
    assert crumbs(hmi) == [
        ("Picture Plant", "/"),
        ("Packing", "/"),
        ("L1", "/line/L1"),
        ("Fill", "/faceplate/machine/L1/Fill"),
    ]
    await hmi.user.open("/faceplate/tag/L1.Fill.Temp")
    await hmi.user.should_see(marker="faceplate-tag-L1.Fill.Temp", retries=50)
    assert [text for text, _ in crumbs(hmi)] == ["Picture Plant", "Packing", "L1", "Fill", "L1.Fill.Temp"]
    # One touch up: the line crumb leads back to the line screen with its picture.
    await hmi.user.open(dict(crumbs(hmi))["L1"])
    await hmi.user.should_see(marker="line-picture", retries=50)


@pytest.mark.req("LGX-010", "LGX-011")
async def test_the_picture_speaks_the_persons_language_and_takes_the_night_theme(hmi: Harness) -> None:
    await hmi.login("olga")
    await open_line(hmi)
    day = picture(hmi)
    assert day.get("data-palette") == "day"
    assert "30.0 %" in words(next(g for g in day.iter(f"{SVG}g") if g.get("data-from") == "Wash"))
    # Olga chooses German and the night theme: the next page she opens is drawn in both.
    signed = (await hmi.rt.users.sign_in("olga", PASSWORD)).ctx
    assert signed is not None
    await hmi.rt.appearance.set_person(signed, theme="night", language="de")
    await hmi.server.write("L1.Fill.Temp", 1234.5)
    await open_line(hmi)
    await hmi.until(lambda: "1.234,5" in element(hmi, "line-picture-svg").content, what="the German number")
    root = picture(hmi)
    assert root.get("data-palette") == "night"
    assert next(r for r in root if r.tag == f"{SVG}rect").get("fill") == NIGHT.bg
    assert f'"{DAY.panel}"' not in element(hmi, "line-picture-svg").content
    assert root.get("aria-label") == "Linie L1: Maschinen in Flussrichtung"
    groups = machine_groups(root)
    assert "Waschen" in words(groups["Wash"])  # the plant file's translation of the machine's name
    assert "BEREIT" in words(groups["Wash"])
    assert "LÄUFT" in words(groups["Fill"])
    assert "▲ HOCH" in words(groups["Fill"])
    assert "1.234,5°C" in words(groups["Fill"])
    assert "&lt;b&gt;Füller&lt;/b&gt;" in element(hmi, "line-picture-svg").content
    assert "<script" not in element(hmi, "line-picture-svg").content
    conveyor = next(g for g in root.iter(f"{SVG}g") if g.get("data-from") == "Wash")
    assert "LÄUFT" in words(conveyor)
    assert "30,0 %" in words(conveyor)
    assert element(hmi, "picture-machine-Wash").props["aria-label"] == "Waschen: Bedienbild öffnen"

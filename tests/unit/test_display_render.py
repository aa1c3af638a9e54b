"""A display's SVG for given tag states: values, fills from the palette, levels, rotation and visibility applied on
the server, everything escaped, and a value that is not good never shown as if it were."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest

from hmi.config import PlantConfig, parse_config
from hmi.graphics.display_render import ID_PREFIX, PALETTE, DisplayRenderer
from hmi.tags import Quality, TagState

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100">
  <defs><linearGradient id="g1"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <text id="temp" x="1" y="10"><tspan id="temp-line" x="1" y="10">0.0</tspan><tspan
    x="1" y="20">second line</tspan></text>
  <text id="state" x="1" y="30">?</text>
  <g id="body"><rect width="10" height="10" style="fill:url(#g1);stroke:#000"/><circle r="2" fill="#ccc"/>
    <text id="body-label" fill="#1a1a1a">M1</text></g>
  <rect id="level" x="10" y="20" width="20" height="50" fill="#8c8c8c"/>
  <path id="needle" d="M 0,0 L 1,1" transform="translate(5,5)"/>
  <g id="jam"><rect width="5" height="5"/></g>
  <circle id="sensor" cx="50" cy="50" r="5" fill="#bdbdbd"/>
  <rect id="backdrop" width="1" height="1" fill="url(#g1)"/>
</svg>"""
PLANT = """
site: {{name: P}}
endpoints: [{{name: e, url: "opc.tcp://127.0.0.1:4840"}}]
areas:
  - name: A
    lines:
      - name: L1
        tags:
          - {{name: Temp, endpoint: e, node_id: "ns=2;s=T", unit: °C, eng_range: [0, 100]}}
          - {{name: State, endpoint: e, node_id: "ns=2;s=S", data_type: string}}
          - {{name: Jam, endpoint: e, node_id: "ns=2;s=J", data_type: bool}}
          - {{name: Count, endpoint: e, node_id: "ns=2;s=C", data_type: int, unit: pcs}}
displays:
  - name: d
    title: 'Tank <b>&amp; "co"</b>'
    svg: {svg}
    bindings:
      - {{id: temp, tag: Temp, type: text, decimals: 2}}
      - {{id: state, tag: State, type: text}}
      - {{id: body, tag: State, type: fill_state, states: {{Execute: light, Held: hatch_dark}}, otherwise: dots}}
      - {{id: level, tag: Temp, type: level}}
      - {{id: needle, tag: Temp, type: rotate, min: 0, max: 100, angles: [-90, 90], center: [0, 0]}}
      - {{id: jam, tag: Jam, type: visible, when: {{equals: true}}}}
      - {{id: sensor, tag: Temp, type: fill_quality}}
"""


@pytest.fixture
def plant(tmp_path: Any) -> PlantConfig:
    (tmp_path / "d.svg").write_text(SVG, encoding="utf-8")
    return parse_config(PLANT.format(svg="d.svg"), "p.yaml", base_dir=tmp_path)


def renderer(plant: PlantConfig) -> DisplayRenderer:
    (display,) = plant.displays
    svg = plant.display_svg(display.name)
    assert svg is not None
    return DisplayRenderer(display, svg, {n: ref.tag for n, ref in plant.tags.items()})


def state(name: str, value: object, quality: Quality = Quality.GOOD) -> TagState:
    return TagState(name, value, 0 if quality is Quality.GOOD else 0x80000000, quality, NOW, NOW, NOW)


def good(**values: object) -> dict[str, TagState | None]:
    return {n: state(n, v) for n, v in values.items()}


def shape_fills(group: ElementTree.Element) -> set[str | None]:
    return {c.get("fill") for c in group if not c.tag.endswith("text")}


def parsed(text: str) -> dict[str, ElementTree.Element]:
    root = ElementTree.fromstring(text)
    return {el.get("id", "").removeprefix(ID_PREFIX): el for el in root.iter() if el.get("id")}


@pytest.mark.req("DSP-004")
def test_good_values_are_applied(plant: PlantConfig) -> None:
    text = renderer(plant).render(good(Temp=42.346, State="Execute", Jam=False))
    els = parsed(text)
    tspans = els["temp"].findall("{http://www.w3.org/2000/svg}tspan")
    assert [t.text for t in tspans] == ["42.35 °C"]  # the first line holds the value, the rest goes
    assert els["state"].text == "Execute"
    assert shape_fills(els["body"]) == {PALETTE["light"]}
    assert els["body-label"].get("fill") == "#1a1a1a"  # the label in the group keeps its own fill
    assert "fill:url" not in (els["body"][0].get("style") or "")
    assert els["level"].get("height") == "21.173"
    assert els["level"].get("y") == "48.827"
    assert els["needle"].get("transform") == "translate(5,5) rotate(-13.78 0 0)"
    assert els["jam"].get("display") == "none"
    assert els["sensor"].get("fill") == "#bdbdbd"  # the drawing's own while good
    assert "data-quality" not in text


@pytest.mark.req("DSP-004")
def test_values_and_titles_are_escaped_and_ids_prefixed(plant: PlantConfig) -> None:
    text = renderer(plant).render(good(Temp=1.0, State='<img src=x onerror="alert(1)">&', Jam=True))
    assert "<img" not in text
    assert "<b>" not in text
    root = ElementTree.fromstring(text)  # well-formed, and the texts read back as they were given
    assert root.get("aria-label") == 'Tank <b>&amp; "co"</b>'
    els = parsed(text)
    assert els["state"].text == '<img src=x onerror="alert(1)">&'
    assert f'id="{ID_PREFIX}body"' in text
    assert els["backdrop"].get("fill") == f"url(#{ID_PREFIX}g1)"  # references follow the prefixed ids
    assert els["jam"].get("display") is None


@pytest.mark.req("DSP-004")
def test_other_states_use_otherwise_and_levels_clamp(plant: PlantConfig) -> None:
    els = parsed(renderer(plant).render(good(Temp=150.0, State="Suspended", Jam=True)))
    assert shape_fills(els["body"]) == {PALETTE["dots"]}
    assert (els["level"].get("y"), els["level"].get("height")) == ("20.000", "50.000")


@pytest.mark.parametrize(("quality", "word"), [(Quality.BAD, "BAD"), (Quality.STALE, "STALE")])
@pytest.mark.req("DSP-004")
def test_a_value_that_is_not_good_never_looks_live(plant: PlantConfig, quality: Quality, word: str) -> None:
    states = {n: state(n, v, quality) for n, v in (("Temp", 42.0), ("State", "Execute"), ("Jam", False))}
    els = parsed(renderer(plant).render(states))
    tspan = els["temp"].find("{http://www.w3.org/2000/svg}tspan")
    assert tspan is not None
    assert tspan.text == word
    assert "42" not in ElementTree.tostring(els["temp"], encoding="unicode")
    assert "font-style:italic" in (els["temp"].get("style") or "")
    assert els["temp"].get("data-quality") == quality.value
    pattern = PALETTE["q_bad" if quality is Quality.BAD else "q_stale"]
    for key in ("body", "level", "needle", "jam", "sensor"):
        el = els[key]
        fills = {el.get("fill")} if el.tag.endswith(("rect", "path", "circle")) else shape_fills(el)
        assert fills == {pattern}, key
        assert el.get("data-quality") == quality.value
    assert els["level"].get("height") == "50"  # the whole extent, hatched: not a level
    assert els["jam"].get("display") is None  # shown, hatched: an unknown is never hidden
    assert els["needle"].get("transform") == "translate(5,5)"


@pytest.mark.req("DSP-004")
def test_uncertain_keeps_the_value_marked_and_no_value_says_so(plant: PlantConfig) -> None:
    r = renderer(plant)
    els = parsed(r.render({"Temp": state("Temp", 42.0, Quality.UNCERTAIN)}))
    tspan = els["temp"].find("{http://www.w3.org/2000/svg}tspan")
    assert tspan is not None
    assert tspan.text == "42.00 °C ?"
    assert els["state"].text == "NO DATA"
    assert els["state"].get("data-quality") == "none"


@pytest.mark.req("DSP-004")
def test_unchanged_parts_are_reused_and_touches_map_to_tags(plant: PlantConfig) -> None:
    r = renderer(plant)
    first = r.render(good(Temp=1.0, State="Execute", Jam=False))
    assert r.render(good(Temp=1.0, State="Execute", Jam=False)) == first
    assert r.tag_of(f"{ID_PREFIX}jam") == "Jam"
    assert r.tag_of(f"{ID_PREFIX}temp") == "Temp"
    assert r.tag_of("jam") is None
    assert r.tag_of(f"{ID_PREFIX}temp-line") is None
    assert r.tag_of(f"{ID_PREFIX}nope") is None

"""The line picture (hmi.graphics.line_picture): parsed back as XML, its structure says what an operator sees."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest

from hmi.config import PlantConfig, parse_config
from hmi.graphics.line_picture import (
    DAY,
    NIGHT,
    WORDS,
    AlarmMark,
    Palette,
    Wording,
    layout,
    line_picture,
    picture_tags,
)
from hmi.tags import Quality, TagState

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

PLANT = """
site: {name: Picture Plant}
endpoints: [{name: plc, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: Hall
    lines:
      - name: L1
        flow: [C, A, B]
        conveyors:
          - {from: C, to: A, accumulation_tag: L1.Buf1, state_tag: L1.Conv1}
          - {from: A, to: B, state_tag: L1.Conv2}
          - {from: C, to: B, accumulation_tag: L1.Buf1}
        tags:
          - {name: L1.Buf1, endpoint: plc, node_id: "ns=2;s=B1", unit: "%", eng_range: [0, 100], normal_range: [10, 80]}
          - {name: L1.Conv1, endpoint: plc, node_id: "ns=2;s=C1", data_type: string}
          - {name: L1.Conv2, endpoint: plc, node_id: "ns=2;s=C2", data_type: bool}
        machines:
          - name: A
            description: "Filler <script>alert('x')</script> & co"
            state_tag: L1.A.State
            tags:
              - {name: L1.A.State, endpoint: plc, node_id: "ns=2;s=A.S", data_type: string}
              - name: L1.A.Temp
                endpoint: plc
                node_id: "ns=2;s=A.T"
                unit: "°C"
                eng_range: [0, 40]
                normal_range: [4, 8]
              - {name: L1.A.Speed, endpoint: plc, node_id: "ns=2;s=A.V", unit: bpm, eng_range: [0, 400]}
              - {name: L1.A.Jam, endpoint: plc, node_id: "ns=2;s=A.J", data_type: bool}
          - name: B
            state_tag: L1.B.State
            tags:
              - {name: L1.B.State, endpoint: plc, node_id: "ns=2;s=B.S", data_type: string}
          - name: C
            state_tag: L1.C.State
            tags:
              - {name: L1.C.State, endpoint: plc, node_id: "ns=2;s=C.S", data_type: string}
"""


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return parse_config(PLANT, "picture.yaml")


def state(name: str, value: Any, quality: Quality = Quality.GOOD, status: int = 0) -> TagState:
    return TagState(name, value, status, quality, NOW, NOW, NOW)


def states(**values: Any) -> dict[str, TagState | None]:
    """Tag states by tag name; keyword names use '_' for '.'."""
    return {k.replace("_", "."): state(k.replace("_", "."), v) for k, v in values.items()}


def draw(
    plant: PlantConfig, values: dict[str, TagState | None], alarms: dict[str, list[AlarmMark]] | None = None
) -> ElementTree.Element:
    found = plant.line("L1")
    assert found is not None
    svg = line_picture(found[1], values, alarms)
    return ElementTree.fromstring(svg)


def machines(root: ElementTree.Element) -> list[ElementTree.Element]:
    return [g for g in root.iter(f"{SVG}g") if "data-machine" in g.attrib]


def machine(root: ElementTree.Element, name: str) -> ElementTree.Element:
    return next(g for g in machines(root) if g.get("data-machine") == name)


def texts(element: ElementTree.Element) -> list[str]:
    return ["".join(t.itertext()) for t in element.iter(f"{SVG}text")]


def band_fill(group: ElementTree.Element) -> str:
    band = next(r for r in group.iter(f"{SVG}rect") if r.get("class") == "lp-state-band")
    return band.get("fill", "")


def box(group: ElementTree.Element) -> ElementTree.Element:
    return next(r for r in group.iter(f"{SVG}rect") if r.get("class") == "lp-box")


@pytest.mark.req("LGX-002")
def test_machines_are_drawn_in_flow_order_left_to_right_with_a_viewbox(plant: PlantConfig) -> None:
    root = draw(plant, {})
    assert root.tag == f"{SVG}svg"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox", ""))
    assert "height" not in root.attrib  # sized by its container: crisp at any size
    groups = machines(root)
    assert [g.get("data-machine") for g in groups] == ["C", "A", "B"]
    assert [g.get("data-machine-index") for g in groups] == ["0", "1", "2"]
    xs = [float(box(g).get("x", "0")) for g in groups]
    assert xs == sorted(xs)
    assert len({g.get("id") for g in groups}) == 3


@pytest.mark.req("LGX-002")
def test_without_flow_the_machine_order_is_the_flow_and_many_machines_wrap_into_rows(plant: PlantConfig) -> None:
    line = plant.line("L1")[1]  # type: ignore[index]
    plain = line.model_copy(update={"flow": ()})
    assert [m.name for m in plain.machines_in_flow()] == ["A", "B", "C"]
    lay = layout(plain, per_row=2)
    assert [b.y for b in lay.boxes][:2] == [lay.boxes[0].y] * 2
    assert lay.boxes[2].y > lay.boxes[0].y
    assert lay.boxes[2].x == lay.boxes[0].x
    root = ElementTree.fromstring(line_picture(plain, {}, per_row=2))
    assert root.find(f".//{SVG}path") is not None  # the flow goes on from the end of one row to the next


@pytest.mark.req("LGX-002")
def test_conveyors_between_neighbours_show_level_and_state_and_others_a_row_of_their_own(plant: PlantConfig) -> None:
    root = draw(plant, states(L1_Buf1=92.0, L1_Conv1="Blocked", L1_Conv2=True))
    conveyors = [g for g in root.iter(f"{SVG}g") if "lp-conveyor" in g.get("class", "")]
    ends = [(g.get("data-from"), g.get("data-to"), "lp-strip" in g.get("class", "")) for g in conveyors]
    assert ends == [("C", "A", False), ("A", "B", False), ("C", "B", True)]
    first = texts(conveyors[0])
    assert "BLOCKED" in first
    assert any("HIGH" in t and "92.0 %" in t for t in first)  # 92 % is above the normal 10-80 %
    level = next(r for r in conveyors[0].iter(f"{SVG}rect") if r.get("class") == "lp-level")
    assert float(level.get("width", "0")) > 0
    assert "RUNNING" in texts(conveyors[1])  # a bool state: true is running
    flows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "lp-flow"]
    assert flows == []  # every neighbour pair here has a conveyor


@pytest.mark.req("LGX-003")
@pytest.mark.parametrize(
    ("packml", "look", "word", "fill"),
    [
        ("Execute", "running", "RUNNING", "#f2f2f2"),
        ("Stopped", "stopped", "STOPPED", "hatch"),
        ("Held", "down", "DOWN", "crosshatch"),
        ("Aborted", "down", "DOWN", "crosshatch"),
        ("Idle", "idle", "IDLE", "#bdbdbd"),
        ("Suspended", "waiting", "STARVED/BLOCKED", "dots"),
        ("Starting", "changing", "CHANGING", "#bdbdbd"),
    ],
)
def test_each_state_has_its_pattern_and_word(plant: PlantConfig, packml: str, look: str, word: str, fill: str) -> None:
    group = machine(draw(plant, states(L1_A_State=packml)), "A")
    assert group.get("data-state") == look
    assert fill in band_fill(group)
    assert f"{word} · {packml}" in texts(group)
    assert word in group.get("aria-label", "")


@pytest.mark.req("LGX-003")
def test_held_and_aborted_have_a_thicker_border_than_running(plant: PlantConfig) -> None:
    running = box(machine(draw(plant, states(L1_A_State="Execute")), "A"))
    held = box(machine(draw(plant, states(L1_A_State="Held")), "A"))
    idle = box(machine(draw(plant, states(L1_A_State="Idle")), "A"))
    assert (
        float(held.get("stroke-width", "0"))
        > float(running.get("stroke-width", "0"))
        > float(idle.get("stroke-width", "0"))
    )
    assert running.get("stroke") == "#1a1a1a"
    assert "stroke-dasharray" not in running.attrib


@pytest.mark.req("LGX-003")
def test_greyscale_readable_every_state_differs_by_word_and_pattern_not_by_hue(plant: PlantConfig) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for packml in ("Execute", "Stopped", "Held", "Idle", "Suspended", "Starting"):
        group = machine(draw(plant, states(L1_A_State=packml)), "A")
        word = next(t for t in texts(group) if "·" in t)
        seen[packml] = (word.split(" · ")[0], band_fill(group) + box(group).get("stroke-dasharray", ""))
    # Each state has its own word, and no two states share word and drawing.
    assert len({w for w, _ in seen.values()}) == 6
    assert len(set(seen.values())) == 6
    # Equipment is grey: no colour anywhere while every value is normal and no alarm stands.
    svg = line_picture(plant.line("L1")[1], states(L1_A_State="Execute", L1_A_Temp=6.0))  # type: ignore[index]
    colours = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', svg))
    assert all(_grey(c) for c in colours), colours


def _grey(colour: str) -> bool:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return max(r, g, b) - min(r, g, b) <= 8


@pytest.mark.req("LGX-003")
def test_unknown_and_bad_states_say_so(plant: PlantConfig) -> None:
    root = draw(plant, {"L1.A.State": state("L1.A.State", "Execute", Quality.STALE)})
    assert machine(root, "A").get("data-state") == "unknown"
    assert "UNKNOWN · STALE" in texts(machine(root, "A"))
    assert "UNKNOWN · NO DATA" in texts(machine(root, "B"))


@pytest.mark.req("LGX-004")
def test_key_values_with_unit_indicator_and_abnormal_marking(plant: PlantConfig) -> None:
    group = machine(draw(plant, states(L1_A_State="Execute", L1_A_Temp=12.4, L1_A_Speed=300.0)), "A")
    values = {v.get("data-tag"): v for v in group.iter(f"{SVG}g") if v.get("data-tag")}
    assert list(values) == ["L1.A.Temp", "L1.A.Speed"]  # numeric tags with an eng_range; the bool is left out
    temp = values["L1.A.Temp"]
    assert "lp-abnormal" in temp.get("class", "")
    assert "▲ HIGH" in texts(temp)
    assert "12.4°C" in texts(temp)
    pointer = next(r for r in temp.iter(f"{SVG}rect") if r.get("class") == "lp-pointer")
    normal = next(r for r in temp.iter(f"{SVG}rect") if r.get("class") == "lp-normal")
    assert float(pointer.get("x", "0")) > float(normal.get("x", "0")) + float(normal.get("width", "0"))
    assert pointer.get("fill") != "#1a1a1a"  # colour only for the abnormal value ...
    speed = values["L1.A.Speed"]
    assert "lp-abnormal" not in speed.get("class", "")  # ... a value without a normal range is never abnormal
    assert next(r for r in speed.iter(f"{SVG}rect") if r.get("class") == "lp-pointer").get("fill") == "#1a1a1a"


@pytest.mark.req("LGX-004")
@pytest.mark.parametrize(
    ("quality", "word"), [(Quality.BAD, "BAD"), (Quality.STALE, "STALE"), (Quality.UNCERTAIN, "UNCERTAIN")]
)
def test_values_not_good_are_greyed_struck_and_named(plant: PlantConfig, quality: Quality, word: str) -> None:
    values = {"L1.A.Temp": state("L1.A.Temp", 12.4, quality, 0x80000000)}
    group = machine(draw(plant, values), "A")
    temp = next(v for v in group.iter(f"{SVG}g") if v.get("data-tag") == "L1.A.Temp")
    assert word in texts(temp)
    assert "HIGH" not in " ".join(texts(temp))  # a value that is not good is not judged against its range
    number = next(t for t in temp.iter(f"{SVG}tspan") if t.text == "12.4")
    assert number.get("text-decoration") == "line-through"
    assert temp.find(f"{SVG}line") is not None
    pointer = next(r for r in temp.iter(f"{SVG}rect") if r.get("class") == "lp-pointer")
    assert pointer.get("fill") == "#ffffff"  # hollow
    missing = next(v for v in machine(draw(plant, {}), "A").iter(f"{SVG}g") if v.get("data-tag") == "L1.A.Temp")
    assert "NO DATA" in texts(missing)
    assert not [r for r in missing.iter(f"{SVG}rect") if r.get("class") == "lp-pointer"]


@pytest.mark.req("LGX-005")
def test_alarm_markers_have_priority_shape_colour_number_and_count(plant: PlantConfig) -> None:
    marks = [AlarmMark(2, True), AlarmMark(1, False), AlarmMark(2, False), AlarmMark(4, True), AlarmMark(3)]
    root = draw(plant, {}, {"A": marks})
    group = machine(root, "A")
    found = [g for g in group.iter(f"{SVG}g") if "lp-alarm " in g.get("class", "") + " "]
    shapes = {g.get("data-priority"): g for g in found}
    assert list(shapes) == ["1", "2", "3", "4"]  # highest priority first
    assert shapes["1"].find(f"{SVG}rect").get("fill") == "#d0021b"  # type: ignore[union-attr]
    assert shapes["2"].find(f"{SVG}polygon").get("points", "").count(",") == 3  # type: ignore[union-attr]
    assert shapes["2"].find(f"{SVG}polygon").get("fill") == "#f28c00"  # type: ignore[union-attr]
    assert shapes["3"].find(f"{SVG}polygon").get("points", "").count(",") == 4  # type: ignore[union-attr]
    assert shapes["4"].find(f"{SVG}circle").get("fill") == "#8a5cd1"  # type: ignore[union-attr]
    for p, g in shapes.items():
        assert texts(g) == [p]
    assert "5 alarms, 2 unack." in texts(group)
    assert "no alarms" in texts(machine(root, "B"))


@pytest.mark.req("LGX-006")
def test_text_from_the_plant_file_and_the_plc_is_escaped(plant: PlantConfig) -> None:
    found = plant.line("L1")
    assert found is not None
    svg = line_picture(found[1], states(L1_Conv1="<img src=x onerror=alert(1)>"))
    assert "<script" not in svg
    assert "<img" not in svg
    assert "&lt;script&gt;" in svg
    root = ElementTree.fromstring(svg)  # well-formed: nothing the text held broke the markup
    assert not list(root.iter(f"{SVG}script"))
    title = machine(root, "A").find(f"{SVG}title")
    assert title is not None
    assert "<script>alert('x')</script> & co" in (title.text or "")


@pytest.mark.req("LGX-007")
def test_the_picture_names_every_tag_it_shows(plant: PlantConfig) -> None:
    found = plant.line("L1")
    assert found is not None
    assert picture_tags(found[1]) == [
        "L1.A.State",
        "L1.A.Temp",
        "L1.A.Speed",
        "L1.B.State",
        "L1.C.State",
        "L1.Buf1",
        "L1.Conv1",
        "L1.Conv2",
    ]


# ------------------------------------------------------------------------------------- language and theme (LGX-010/011)
PLANT_DE = {"A": "Abfüller", "Filler <script>alert('x')</script> & co": "Füller <b>&</b> Co"}
GERMAN = Wording(
    words={
        "RUNNING": "LÄUFT",
        "IDLE": "BEREIT",
        "HIGH": "HOCH",
        "LOW": "NIEDRIG",
        "no alarms": "keine Alarme",
        "{count} alarms": "{count} Alarme",
        "{text}, {unack} unack.": "{text}, {unack} unquitt.",
        "Line {name}: machines in flow order": "Linie {name}: Maschinen in Flussrichtung",
        "STALE": "VERALTET",
        "UNKNOWN": "UNBEKANNT",
    },
    number=lambda value, decimals: f"{value:,.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", "."),
    plant=lambda text: PLANT_DE.get(text, text),
)


def draw_in(plant: PlantConfig, values: dict[str, TagState | None], **how: Any) -> tuple[str, ElementTree.Element]:
    found = plant.line("L1")
    assert found is not None
    svg = line_picture(found[1], values, {"A": [AlarmMark(2, True), AlarmMark(3)]}, **how)
    return svg, ElementTree.fromstring(svg)


@pytest.mark.req("LGX-010")
def test_the_picture_speaks_the_wording_it_is_given_and_english_by_default(plant: PlantConfig) -> None:
    values = states(L1_A_State="Execute", L1_B_State="Idle", L1_A_Temp=1234.5, L1_A_Speed=300, L1_Buf1=45.5)
    values["L1.C.State"] = state("L1.C.State", "Execute", Quality.STALE)
    svg, root = draw_in(plant, values, wording=GERMAN)
    a, b = machine(root, "A"), machine(root, "B")
    assert root.get("aria-label") == "Linie L1: Maschinen in Flussrichtung"
    assert a.get("data-machine") == "A"  # the name a screen maps touches by stays as written
    assert "Abfüller" in texts(a)
    assert "Füller <b>&</b> Co" in texts(a)
    assert a.get("aria-label", "").startswith("Abfüller: LÄUFT")
    assert "LÄUFT · Execute" in texts(a)  # PackML state names stay as the standard writes them
    assert "1.234,5°C" in texts(a)  # the locale's number format
    assert "300bpm" in texts(a)
    assert "▲ HOCH" in texts(a)
    assert "2 Alarme, 1 unquitt." in texts(a)
    assert "BEREIT" in "".join(texts(b))
    assert "keine Alarme" in texts(b)
    assert "UNBEKANNT · VERALTET" in texts(machine(root, "C"))
    conveyor = next(g for g in root.iter(f"{SVG}g") if g.get("data-from") == "C" and g.get("data-to") == "A")
    assert "45,5 %" in texts(conveyor)
    assert "<script>" not in svg
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in svg
    # Every English word the picture draws is one a screen can translate.
    english = " ".join(texts(draw_in(plant, values)[1]))
    for word in ("RUNNING", "IDLE", "HIGH", "no alarms", "1,234.5°C", "2 alarms, 1 unack.", "UNKNOWN · STALE"):
        assert word in english
    assert not {"HIGH", "no alarms", "1,234.5°C", "RUNNING"} & set(texts(root))


@pytest.mark.req("LGX-010")
def test_every_word_of_the_picture_is_marked_for_the_catalogue() -> None:
    from screens.picture_words import PICTURE_WORDS

    assert set(PICTURE_WORDS) == set(WORDS)
    assert len(PICTURE_WORDS) == len(WORDS)


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG 2.1 contrast ratio of two colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css_variables(theme_selector: str) -> dict[str, str]:
    """The --hmi-* colours of one rule of assets/hmi.css (":root" or "body.body--dark")."""
    from hmi import assets

    css = assets.path("hmi.css").read_text(encoding="utf-8")
    body = css[css.index(theme_selector + " {") :]
    body = body[: body.index("}")]
    return dict(re.findall(r"--hmi-([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", body))


@pytest.mark.req("LGX-011")
@pytest.mark.parametrize(("palette", "selector"), [(DAY, ":root"), (NIGHT, "body.body--dark")])
def test_each_palette_is_its_themes_greys_with_readable_text(palette: Palette, selector: str) -> None:
    css = css_variables(selector)
    # The neutral greys are the theme's own (assets/hmi.css), so the picture matches the page around it.
    assert (palette.bg, palette.panel, palette.text, palette.muted, palette.line) == (
        css["bg"],
        css["panel"],
        css["text"],
        css["muted"],
        css["line"],
    )
    assert (palette.band, palette.paper, palette.raised) == (css["idle"], css["paper"], css["raised"])
    neutrals = (palette.bg, palette.panel, palette.text, palette.muted, palette.line, palette.band, palette.paper)
    assert all(_grey(c) for c in neutrals)
    # WCAG 2.1 SC 1.4.3: every text colour on every surface text is drawn on.
    for ink in (palette.text, palette.muted, palette.abnormal):
        for ground in (palette.bg, palette.panel, palette.paper, palette.raised):
            assert contrast(ink, ground) >= 4.5, (palette.name, ink, ground)
    # The abnormal colour is not a grey, so an abnormal value stands out (ISA-101: colour only for abnormal).
    assert not _grey(palette.abnormal)


@pytest.mark.req("LGX-011")
def test_the_night_picture_uses_only_night_greys_and_keeps_colour_for_the_abnormal(plant: PlantConfig) -> None:
    values = states(L1_A_State="Execute", L1_B_State="Held", L1_C_State="Idle", L1_A_Temp=6.0, L1_Buf1=30.0)
    _day_svg, day = draw_in(plant, values)
    night_svg, night = draw_in(plant, values, palette=NIGHT)
    assert day.get("data-palette") == "day"
    assert night.get("data-palette") == "night"
    background = next(r for r in night if r.tag == f"{SVG}rect")  # the first shape of the picture itself
    assert background.get("fill") == NIGHT.bg
    used = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', night_svg))
    day_only = {DAY.bg, DAY.panel, DAY.text, DAY.muted, DAY.line, DAY.band, DAY.paper, DAY.raised} - used
    assert not {DAY.bg, DAY.panel, DAY.paper, DAY.raised, DAY.band} & used, used  # no light box on the dark page
    assert day_only  # (the day palette really is different)
    # Greyscale: with every value normal, the only colours are the alarm markers' (the same in both themes).
    markers = {"#f28c00", "#f5d800"}
    assert all(_grey(c) for c in used - markers), used
    # The same structure and words in both themes: only colours change.
    assert texts(day) == texts(night)
    abnormal = line_picture(plant.line("L1")[1], states(L1_A_Temp=12.0), palette=NIGHT)  # type: ignore[index]
    assert NIGHT.abnormal in abnormal
    assert DAY.abnormal not in abnormal

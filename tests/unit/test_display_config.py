"""The plant file's displays: loading, and what `hmi check` says about drawings and bindings (each message names
the display, the binding's element id and the fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi import config
from hmi.cli import main
from hmi.config import ConfigError, load_config
from hmi.graphics import display_config

SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <text id="temp-text" x="1" y="1">0</text>
  <rect id="tank-level" x="0" y="0" width="10" height="50"/>
  <path id="needle" d="M0,0 L1,1"/>
  <circle id="dial" cx="5" cy="5" r="5"/>
  <g id="valve"><rect width="1" height="1"/></g>
</svg>"""
PLANT = """\
site: {{name: P}}
endpoints: [{{name: e, url: "opc.tcp://127.0.0.1:4840"}}]
areas:
  - name: A
    lines:
      - name: L1
        tags:
          - {{name: Temp, endpoint: e, node_id: "ns=2;s=T", unit: °C, eng_range: [0, 100]}}
          - {{name: Flow, endpoint: e, node_id: "ns=2;s=F"}}
          - {{name: State, endpoint: e, node_id: "ns=2;s=S", data_type: string}}
          - {{name: Open, endpoint: e, node_id: "ns=2;s=O", data_type: bool}}
displays:
  - name: tank
    title: Tank
    svg: {svg}
    line: L1
    bindings:
{bindings}
"""
GOOD_BINDINGS = """\
      - {id: temp-text, tag: Temp, type: text}
      - {id: tank-level, tag: Temp, type: level}
      - {id: dial, tag: Temp, type: rotate}
      - {id: valve, tag: Open, type: fill_state, states: {true: light, false: dark}}
      - {id: valve, tag: Open, type: visible, when: {not_equals: false}}
      - {id: needle, tag: Flow, type: rotate, degrees_per_unit: 3.6, center: [0, 0]}
      - {id: temp-text, tag: State, type: fill_quality, good: grey}"""


def write(tmp_path: Path, bindings: str = GOOD_BINDINGS, svg: str = "drawings/tank.svg", drawing: str = SVG) -> Path:
    (tmp_path / "drawings").mkdir(exist_ok=True)
    (tmp_path / "drawings" / "tank.svg").write_text(drawing, encoding="utf-8")
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT.format(svg=svg, bindings=bindings), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return [f"{i.path}: {i.message}" for i in exc.value.issues]


def test_the_name_rule_is_the_plant_files() -> None:
    assert display_config._NAME_PATTERN == config.NAME_PATTERN


@pytest.mark.req("DSP-001")
def test_a_display_loads_with_its_drawing_from_the_plant_files_folder(tmp_path: Path) -> None:
    plant = load_config(write(tmp_path))
    (display,) = plant.displays
    assert (display.name, display.title, display.line) == ("tank", "Tank", "L1")
    assert [b.type for b in display.bindings] == [
        "text",
        "level",
        "rotate",
        "fill_state",
        "visible",
        "rotate",
        "fill_quality",
    ]
    assert display.tags() == ["Temp", "Open", "Flow", "State"]
    svg = plant.display_svg("tank")
    assert svg is not None
    assert {"temp-text", "tank-level", "needle", "dial", "valve"} <= set(svg.ids)
    assert plant.warnings == []


@pytest.mark.req("DSP-001")
def test_a_plant_built_again_from_its_models_still_finds_the_drawing(tmp_path: Path) -> None:
    plant = load_config(write(tmp_path))
    (display,) = plant.displays
    assert display.svg == tmp_path / "drawings" / "tank.svg"
    again = config.PlantConfig.model_validate({name: getattr(plant, name) for name in config.PlantConfig.model_fields})
    svg = again.display_svg("tank")
    assert svg is not None
    assert "needle" in svg.ids
    assert again.display_svg("nope") is None


@pytest.mark.req("DSP-001")
def test_an_absolute_path_is_taken_as_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, svg=str(tmp_path / "drawings" / "tank.svg"))
    assert load_config(path).display_svg("tank") is not None


@pytest.mark.req("DSP-002")
def test_a_missing_drawing_names_the_folder(tmp_path: Path) -> None:
    (issue,) = problems(write(tmp_path, svg="drawings/nope.svg"))
    assert issue.startswith("displays[0].svg: display 'tank': drawing ")
    assert "nope.svg' not found (a relative path is read from the plant file's folder" in issue


@pytest.mark.req("DSP-002", "DSP-003")
def test_an_entity_bomb_is_an_error(tmp_path: Path) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>' + SVG.replace(">0<", ">&b;<")
    (issue,) = problems(write(tmp_path, drawing=bomb))
    assert "cannot be used: the file declares XML entities" in issue


@pytest.mark.req("DSP-002", "DSP-003")
def test_what_the_sanitiser_removed_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nasty = SVG.replace("<g id", '<script>alert(1)</script><g onclick="alert(1)" id')
    path = write(tmp_path, drawing=nasty)
    plant = load_config(path)
    warnings = [f"{w.path}: {w.message}" for w in plant.warnings]
    assert warnings == [
        "displays[0].svg: display 'tank': removed from the drawing tank.svg: <script> removed: scripts run code",
        "displays[0].svg: display 'tank': removed from the drawing tank.svg: event handler onclick removed: "
        "handlers run code",
    ]
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("OK")
    assert "warning:" in err
    assert "<script> removed" in err


@pytest.mark.req("DSP-002")
def test_every_binding_problem_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bindings = """\
      - {id: temp-txt, tag: Temp, type: text}
      - {id: dial, tag: Tmep, type: text}
      - {id: tank-level, tag: State, type: level}
      - {id: needle, tag: Temp, type: rotate}
      - {id: dial, tag: Flow, type: level}
      - {id: valve, tag: Open, type: fill_state, states: {Open: light}}
      - {id: valve, tag: Open, type: fill_quality}
      - {id: valve, tag: State, type: visible, when: {equals: 1}}
      - {id: temp-text, tag: State, type: text, decimals: 2}
      - {id: valve, tag: Temp, type: spin}
      - {id: valve, tag: Temp, type: fill_state, states: {1: red}}"""
    path = write(tmp_path, bindings=bindings)
    found = problems(path)
    b = "displays[0].bindings"
    expected = [
        f"{b}[0].id: display 'tank', binding of 'temp-txt': the drawing has no element with id 'temp-txt' (did you "
        "mean 'temp-text'?); give the element this id (Inkscape: Object Properties > ID, then Set; draw.io: Edit "
        "Data > ID) or correct it here",
        f"{b}[1].tag: display 'tank', binding of 'dial': unknown tag 'Tmep'; it must name a tag defined in this file",
        f"{b}[2].type: display 'tank', binding of 'tank-level': a level binding needs a numeric tag; 'State' is string",
        f"{b}[2].max: display 'tank', binding of 'tank-level': give min and max, or the tag 'State' an eng_range: the "
        "level needs a scale",
        f"{b}[3].center: display 'tank', binding of 'needle': give center: [x, y], the pivot of 'needle' (a <path>) "
        "in its coordinates",
        f"{b}[4].max: display 'tank', binding of 'dial': give min and max, or the tag 'Flow' an eng_range: the level "
        "needs a scale",
        f"{b}[4].id: display 'tank', binding of 'dial': a level binding needs a <rect> with plain numbers for x, y, "
        "width and height; 'dial' is a <circle>: draw the level's full extent as a rectangle",
        f"{b}[5].states: display 'tank', binding of 'valve': state 'Open' can never equal a value of the bool tag "
        "'Open'",
        f"{b}[6].type: display 'tank', binding of 'valve': the element already has a fill binding; keep one",
        f"{b}[7].when: display 'tank', binding of 'valve': 1 can never equal a value of the string tag 'State'",
        f"{b}[8].decimals: display 'tank', binding of 'temp-text': decimals applies to numbers; 'State' is string",
    ]
    # The two schema errors come first (pydantic), then the checks above.
    assert found[0].startswith(f"{b}[9]: ")
    assert "'text', 'fill_state', 'fill_quality', 'visible', 'level', 'rotate'" in found[0]
    assert found[1].startswith(f"{b}[10].fill_state.states[1]: Input should be ")
    assert "'alarm_p1'" in found[1]
    assert main(["check", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    # Without the schema errors every semantic problem shows at once.
    bindings = "\n".join(bindings.splitlines()[:9])
    assert problems(write(tmp_path, bindings=bindings)) == expected


@pytest.mark.req("DSP-002")
def test_text_on_a_shape_duplicate_names_and_unknown_lines(tmp_path: Path) -> None:
    path = write(tmp_path, bindings="      - {id: dial, tag: Temp, type: text}")
    text = path.read_text(encoding="utf-8").replace("line: L1", "line: L9")
    text += "  - {name: tank, title: Again, svg: drawings/tank.svg}\n"
    path.write_text(text, encoding="utf-8")
    assert problems(path) == [
        "displays[0].line: display 'tank': unknown line 'L9'; known: L1",
        "displays[0].bindings[0].id: display 'tank', binding of 'dial': a text binding needs a <text> element; 'dial' "
        "is a <circle>",
        "displays[1].name: display name 'tank' is used twice; names must be unique",
    ]

"""The demo plant file: it loads, has the documented shape, and every alarm makes sense."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from hmi.config import LIMIT_TYPES, PlantConfig, load_config
from hmi.simulator import demo_config_path, simulated_endpoint

MACHINES = ["Filler", "Capper", "Labeler", "CasePacker"]


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


@pytest.mark.req("OPS-002")
def test_the_demo_file_is_found_and_loads(plant: PlantConfig) -> None:
    assert demo_config_path().name == "demo-plant.yaml"
    assert plant.site.name == "Demo Bottling Plant"
    assert plant.site.timezone == "Europe/Berlin"
    assert [(s.name, s.start.strftime("%H:%M"), s.end.strftime("%H:%M")) for s in plant.site.shifts] == [
        ("Early", "06:00", "14:00"),
        ("Late", "14:00", "22:00"),
        ("Night", "22:00", "06:00"),
    ]
    (endpoint,) = plant.endpoints
    assert (endpoint.name, endpoint.url, endpoint.publishing_interval_ms) == ("plant", "opc.tcp://127.0.0.1:4840", 250)
    assert simulated_endpoint(plant) is endpoint


@pytest.mark.req("OPS-002", "LGX-002")
def test_three_lines_of_four_machines(plant: PlantConfig) -> None:
    (area,) = plant.areas
    assert area.name == "Bottling"
    assert [line.name for line in area.lines] == ["Line1", "Line2", "Line3"]
    for line in area.lines:
        n = line.name
        assert [m.name for m in line.machines] == MACHINES
        assert (line.state_tag, line.speed_tag, line.good_count_tag, line.reject_count_tag) == (
            f"{n}.State",
            f"{n}.Speed",
            f"{n}.GoodCount",
            f"{n}.RejectCount",
        )
        assert [t.name for t in line.tags] == [
            f"{n}.State",
            f"{n}.Speed",
            f"{n}.GoodCount",
            f"{n}.RejectCount",
            f"{n}.SpeedSP",
            f"{n}.Mode",
            *(
                name
                for k in (1, 2, 3)
                for name in (f"{n}.Conv{k}.Accumulation", f"{n}.Conv{k}.State")
                if n == "Line1" or name.endswith("Accumulation")
            ),
        ]
        # The line picture: machines in flow order, a conveyor with its accumulation between each pair.
        assert line.flow == tuple(MACHINES)
        assert [(c.from_machine, c.to_machine, c.accumulation_tag) for c in line.conveyors] == [
            (a, b, f"{n}.Conv{k}.Accumulation") for k, (a, b) in enumerate(itertools.pairwise(MACHINES), 1)
        ]
        assert f"{n}.Speed" in line.trend_tags
        for machine in line.machines:
            assert machine.state_tag == f"{n}.{machine.name}.State"
            names = {t.name.removeprefix(f"{n}.{machine.name}.") for t in machine.tags}
            assert {"State", "Speed"} <= names


@pytest.mark.req("OPS-002")
def test_tags_are_typed_and_addressed_consistently(plant: PlantConfig) -> None:
    types = {name: ref.tag.data_type for name, ref in plant.tags.items()}
    for name, ref in plant.tags.items():
        tag = ref.tag
        assert tag.endpoint == "plant"
        assert tag.node_id == f"ns=2;s={name}"
        if name.endswith(".State"):
            assert tag.data_type == "string"
        if name.endswith("Count"):
            assert tag.data_type == "int"
        if name.endswith(".Jam"):
            assert tag.data_type == "bool"
        if tag.data_type == "float":
            assert tag.unit, f"{name} has no unit"
            assert tag.eng_range is not None
            assert tag.normal_range is not None
            lo, hi = tag.eng_range
            assert lo <= tag.normal_range[0] < tag.normal_range[1] <= hi, name
    assert Counter(types.values()) == {"float": 52, "string": 21, "int": 6, "bool": 8}


@pytest.mark.req("OPS-002")
def test_every_alarm_is_sensible(plant: PlantConfig) -> None:
    assert plant.alarms
    for alarm_id, ref in plant.alarms.items():
        alarm, tag = ref.alarm, ref.tag
        assert alarm.message, alarm_id
        assert 1 <= alarm.priority <= 4
        if alarm.type == "discrete":
            assert tag.data_type == "bool"
            assert alarm.value is True
            assert alarm.priority in (1, 2), "a jam stops the line"
            continue
        if alarm.type in ("bad_quality", "rate"):
            assert alarm.action, f"{alarm_id}: tell the operator what to do"
            continue
        assert alarm.type in LIMIT_TYPES
        assert alarm.limit is not None
        assert tag.eng_range is not None
        assert tag.normal_range is not None
        # A limit sits inside the instrument's span and outside the normal band, on the right side of it.
        assert tag.eng_range[0] < alarm.limit < tag.eng_range[1], alarm_id
        # The deadband is real, and the alarm clears before the value is back in its normal band.
        assert alarm.deadband > 0, alarm_id
        if alarm.type in ("H", "HH"):
            assert alarm.limit - alarm.deadband > tag.normal_range[1], alarm_id
        else:
            assert alarm.limit + alarm.deadband < tag.normal_range[0], alarm_id


@pytest.mark.req("OPS-002")
def test_alarm_coverage_per_line(plant: PlantConfig) -> None:
    kinds = {alarm_id.removeprefix("Line1.") for alarm_id in plant.alarms if alarm_id.startswith("Line1.")}
    assert kinds == {
        "Filler.Temperature.H",
        "Filler.Temperature.HH",
        "Filler.Pressure.LL",
        "Filler.Pressure.L",
        "Filler.Pressure.H",
        "Filler.FillLevel.L",
        "Filler.FillLevel.H",
        "Capper.Torque.H",
        "Capper.Jam.Jammed",
        "Labeler.GlueTemperature.L",
        "Labeler.GlueTemperature.H",
        "Labeler.LabelStock.L",
        "CasePacker.Jam.Jammed",
        # Line1 also documents the other alarm types and suppression by design.
        "Speed.L",
        "Filler.Temperature.SensorFault",
        "Filler.Pressure.Surge",
    }
    priorities = Counter(ref.alarm.priority for ref in plant.alarms.values())
    assert set(priorities) == {1, 2, 3, 4}
    assert priorities[1] < priorities[3]  # the highest priority stays rare


@pytest.mark.req("CTL-020")
def test_the_demo_shows_every_control_path(plant: PlantConfig) -> None:
    """Setpoints (one signed), a mode per line, Start/Stop/Reset method calls gated by modes, an interlocked
    command, a pulse write, and a node the server refuses."""
    for _area, line in plant.lines():
        n = line.name
        assert line.mode is not None
        assert line.mode.tag == f"{n}.Mode"
        assert list(line.mode.labels) == ["Auto", "Manual"]
        assert plant.write_limits(f"{n}.SpeedSP") is not None
        assert plant.write_limits(f"{n}.Filler.TemperatureSP") == (2, 12)
        for name in ("Start", "Stop", "Reset"):
            command = plant.commands[f"{n}.{name}"].command
            assert command.call is not None
            assert (command.call.object_id, command.call.method_id) == (f"ns=2;s={n}", f"ns=2;s={n}.{name}")
            assert command.modes
        assert plant.commands[f"{n}.Start"].command.interlock is not None
    temperature = plant.tags["Line1.Filler.TemperatureSP"].tag.write
    assert temperature is not None
    assert temperature.signature
    assert temperature.reason == "required"
    start = plant.commands["Line1.Start"].command.interlock
    assert start is not None
    assert start.condition.tags() == ["Line1.State", "Line1.Filler.GuardClosed"]
    pulse = plant.commands["Line1.Capper.ClearJam"].command.write
    assert pulse is not None
    assert (pulse.tag, pulse.value, pulse.pulse_s, pulse.reset) == ("Line1.Capper.JamReset", True, 1, False)
    assert plant.tags["Line1.Capper.TorqueSP"].tag.write is not None


@pytest.mark.req("CTL-036")
def test_the_demo_recipes_fit_the_demo_plant() -> None:
    from pathlib import Path

    from hmi.control.recipe_values import parse_recipes, validate_parameters

    root = Path(__file__).resolve().parents[2] / "assets"
    plant = load_config(root / "demo-plant.yaml")
    for recipe in parse_recipes((root / "demo-recipes.yaml").read_text(encoding="utf-8")):
        validate_parameters(plant, recipe.line, recipe.machine, recipe.parameters)


@pytest.mark.req("DSP-006")
def test_the_demo_filler_display_is_shipped_and_clean(plant: PlantConfig) -> None:
    from hmi import assets  # type: ignore[attr-defined]

    (display,) = plant.displays
    assert (display.name, display.line) == ("Line1-Filler", "Line1")
    assert display.svg == assets.path("displays/filler-bowl.svg")  # beside the plant file, shipped with it
    assert display.svg.is_file()
    assert plant.warnings == []  # nothing for the sanitiser to remove: the demo drawing is clean
    assert {b.type for b in display.bindings} == {"text", "fill_state", "fill_quality", "visible", "level", "rotate"}
    assert set(display.tags()) <= {t for t in plant.tags if t.startswith("Line1.Filler.")}
    svg = plant.display_svg(display.name)
    assert svg is not None
    assert {b.id for b in display.bindings} <= set(svg.ids)

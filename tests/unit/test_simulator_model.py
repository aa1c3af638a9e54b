"""The simulator's process model on its own: pure, seedable, and a believable bottling line."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from hmi.config import PlantConfig, load_config
from hmi.simulator import LoadModel, ModelParams, PlantModel, Sample, demo_config_path
from hmi.simulator.model import EXECUTE, SENSOR_FAILURE, SUSPENDED, InvalidStateError

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
QUIET = ModelParams(
    fault_mtbf_s=0, stop_mtbf_s=0, excursion_mtbf_s=0, sensor_failure_mtbf_s=0, start_share_executing=1.0
)
"""No random events at all, so a test can stage exactly the one it looks at."""
LIVELY = ModelParams(
    fault_mtbf_s=60,
    fault_duration_s=(5, 20),
    stop_mtbf_s=300,
    stop_duration_s=(10, 30),
    excursion_mtbf_s=60,
    sensor_failure_mtbf_s=60,
    stock_duration_s=120,
)
"""Everything happens often, so a few simulated minutes cover every kind of event."""


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


def run(model: PlantModel, seconds: float, step_s: float = 0.5) -> list[dict[str, Sample]]:
    """Step the model through `seconds` of plant time; returns every step's full output."""
    outputs = []
    now = model.now
    for _ in range(round(seconds / step_s)):
        now += timedelta(seconds=step_s)
        model.step(now)
        outputs.append(model.outputs())
    return outputs


@pytest.mark.req("OPS-008")
def test_the_same_seed_and_times_give_the_same_plant(plant: PlantConfig) -> None:
    a = PlantModel(plant, random.Random(7), T0, LIVELY)
    b = PlantModel(plant, random.Random(7), T0, LIVELY)
    assert a.outputs() == b.outputs()
    assert run(a, 300) == run(b, 300)

    other = PlantModel(plant, random.Random(8), T0, LIVELY)
    assert run(other, 300)[-1] != a.outputs()


@pytest.mark.req("OPS-008")
def test_step_reports_only_changes_and_ignores_time_going_backwards(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(1), T0, QUIET)
    before = model.outputs()
    changes = model.step(T0 + timedelta(seconds=1))
    after = model.outputs()
    assert changes == {k: v for k, v in after.items() if before[k] != v}
    assert "Line1.Filler.Temperature" in changes  # process values always move a little
    assert model.step(T0) == {}


@pytest.mark.req("OPS-008")
def test_every_tag_has_an_output_of_its_type(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(1), T0)
    out = model.outputs()
    assert set(out) == set(plant.tags)
    types = {"float": float, "int": int, "bool": bool, "string": str}
    for name, ref in plant.tags.items():
        assert type(out[name].value) is types[ref.tag.data_type], name
        assert out[name].status == "Good"


@pytest.mark.req("OPS-008")
def test_counters_only_grow_and_only_while_the_line_executes(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(3), T0, LIVELY)
    previous = model.outputs()
    counted_in = set()
    for out in run(model, 1200):
        for line in ("Line1", "Line2", "Line3"):
            good, reject = out[f"{line}.GoodCount"].value, out[f"{line}.RejectCount"].value
            old_good, old_reject = previous[f"{line}.GoodCount"].value, previous[f"{line}.RejectCount"].value
            assert isinstance(good, int)
            assert isinstance(reject, int)
            assert good >= old_good
            assert reject >= old_reject
            state = out[f"{line}.State"].value
            if state != EXECUTE:
                assert (good, reject) == (old_good, old_reject), f"{line} counted while {state}"
            counted_in.add(state if good > old_good else "-")
        previous = out
    assert EXECUTE in counted_in
    final = model.outputs()
    assert final["Line1.GoodCount"].value > 1000
    assert 0 < final["Line1.RejectCount"].value < final["Line1.GoodCount"].value * 0.2


@pytest.mark.req("OPS-008")
def test_a_fault_holds_the_machine_then_starves_and_blocks_its_neighbours(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(1), T0, QUIET)
    run(model, 10)
    model.fault("Line1", "Capper", kind="Held", duration_s=30)
    out = model.outputs()
    assert out["Line1.Capper.State"].value == "Holding"
    assert out["Line1.Capper.Jam"].value is True
    assert out["Line1.State"].value == "Holding"
    assert out["Line1.Filler.State"].value == EXECUTE  # the buffers still take up the difference

    run(model, 5)  # buffer_s is 4 s per machine in between
    filler, labeler, packer = (model.machine("Line1", m) for m in ("Filler", "Labeler", "CasePacker"))
    assert (filler.reported, filler.cause) == (SUSPENDED, "blocked")
    assert (labeler.reported, labeler.cause) == (SUSPENDED, "starved")
    assert packer.reported == EXECUTE  # two machines downstream: its buffer lasts twice as long
    run(model, 4)
    assert (packer.reported, packer.cause) == (SUSPENDED, "starved")
    out = model.outputs()
    assert out["Line1.Capper.State"].value == "Held"
    assert out["Line1.State"].value == "Held"
    assert out["Line1.Capper.Speed"].value == 0.0
    assert out["Line1.Filler.Speed"].value < 50  # ramping down since it was blocked
    assert out["Line2.State"].value == EXECUTE  # other lines run on

    run(model, 30)  # Held ends after 30 s, Unholding takes 2 s
    out = model.outputs()
    assert out["Line1.Capper.Jam"].value is False
    for machine in ("Filler", "Capper", "Labeler", "CasePacker"):
        assert out[f"Line1.{machine}.State"].value == EXECUTE
    assert out["Line1.State"].value == EXECUTE


@pytest.mark.req("OPS-008")
def test_an_abort_goes_through_clearing_and_restart(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(1), T0, QUIET)
    model.fault("Line2", "Filler", kind="Aborted", duration_s=10)
    states = [out["Line2.Filler.State"].value for out in run(model, 40)]
    seen = list(dict.fromkeys(states))
    assert seen == ["Aborting", "Aborted", "Clearing", "Stopped", "Resetting", "Idle", "Starting", EXECUTE]
    assert model.outputs()["Line2.Capper.Jam"].value is False  # an abort is no jam


@pytest.mark.req("OPS-008")
def test_values_stay_in_their_engineering_range(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(11), T0, LIVELY)
    outside_normal = set()
    for out in run(model, 1800, step_s=1.0):
        for name, sample in out.items():
            tag = plant.tags[name].tag
            if tag.numeric and tag.eng_range is not None:
                lo, hi = tag.eng_range
                assert lo <= sample.value <= hi, f"{name}={sample.value} outside {tag.eng_range}"
                if tag.normal_range and not tag.normal_range[0] <= sample.value <= tag.normal_range[1]:
                    outside_normal.add(name)
    # Excursions do happen: process values leave their normal range now and then.
    assert any(name.endswith(("Temperature", "Pressure", "FillLevel")) for name in outside_normal)


@pytest.mark.req("OPS-008")
def test_excursions_cross_alarm_limits(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(5), T0, LIVELY)
    crossed = set()
    for out in run(model, 1800, step_s=1.0):
        for alarm_id, ref in plant.alarms.items():
            sample, alarm = out[ref.tag.name], ref.alarm
            if sample.status != "Good":
                continue
            if alarm.type in ("rate", "deviation", "bad_quality"):
                continue  # not a level the model crosses; covered by the engine's own tests
            if alarm.type == "discrete":
                hit = sample.value == alarm.value
            elif alarm.type in ("H", "HH"):
                hit = sample.value >= alarm.limit  # type: ignore[operator]
            else:
                hit = sample.value <= alarm.limit  # type: ignore[operator]
            if hit:
                crossed.add(alarm_id)
    kinds = {alarm_id.rsplit(".", 1)[-1] for alarm_id in crossed}
    assert {"H", "L", "Jammed"} <= kinds


@pytest.mark.req("OPS-008")
def test_sensor_failures_freeze_the_value_with_a_bad_status(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(2), T0, LIVELY)
    bad: dict[str, list[Sample]] = {}
    for out in run(model, 600):
        for name, sample in out.items():
            if sample.status == SENSOR_FAILURE:
                bad.setdefault(name, []).append(sample)
    assert bad, "no sensor failed in 10 minutes with a 1-minute mean time between failures"
    for name, samples in bad.items():
        assert plant.tags[name].tag.data_type == "float"
        assert len({s.value for s in samples}) <= 2, name  # frozen (a second failure may freeze another value)


@pytest.mark.req("OPS-008")
def test_override_and_forced_status(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(1), T0, QUIET)
    assert model.override("Line1.Filler.Temperature", 12.5) == Sample(12.5, "Good")
    run(model, 1)
    assert abs(model.outputs()["Line1.Filler.Temperature"].value - 12.5) < 1.5  # continues from there

    frozen = model.outputs()["Line1.Filler.Pressure"].value
    assert model.force_status("Line1.Filler.Pressure", "BadSensorFailure") == Sample(frozen, "BadSensorFailure")
    run(model, 5)
    assert model.outputs()["Line1.Filler.Pressure"] == Sample(frozen, "BadSensorFailure")
    assert model.force_status("Line1.Filler.Pressure", "Good").status == "Good"
    run(model, 1)
    assert model.outputs()["Line1.Filler.Pressure"].status == "Good"


@pytest.mark.req("OPS-008")
def test_label_stock_runs_down_and_is_refilled(plant: PlantConfig) -> None:
    model = PlantModel(
        plant,
        random.Random(4),
        T0,
        ModelParams(
            fault_mtbf_s=0,
            stop_mtbf_s=0,
            excursion_mtbf_s=0,
            sensor_failure_mtbf_s=0,
            start_share_executing=1.0,
            stock_duration_s=60,
            refill_delay_s=(5, 5),
        ),
    )
    levels = [out["Line1.Labeler.LabelStock"].value for out in run(model, 120)]
    assert min(levels) <= 10  # ran down to the L alarm limit
    assert any(b > a for a, b in itertools.pairwise(levels))  # and was refilled


@pytest.mark.req("OPS-008")
def test_load_model_changes_values_round_robin() -> None:
    load = LoadModel(10, random.Random(1))
    first = load.next_changes(25)
    assert [i for i, _ in first] == [*range(10), *range(10), *range(5)]
    assert [i for i, _ in load.next_changes(5)] == [5, 6, 7, 8, 9]
    assert all(0.0 <= v <= 100.0 for _, v in first)
    assert LoadModel(0, random.Random(1)).next_changes(5) == []


@pytest.mark.req("CTL-021")
def test_setpoints_are_followed_and_never_overwritten_by_the_model(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(3), T0, QUIET)
    out = model.outputs()
    assert (out["Line1.SpeedSP"].value, out["Line1.Filler.TemperatureSP"].value) == (300.0, 6.0)
    assert out["Line1.Mode"].value == "Auto"
    assert out["Line1.Filler.GuardClosed"].value is True
    changed = model.write("Line1.SpeedSP", 250.0)
    assert changed["Line1.SpeedSP"] == Sample(250.0)
    model.write("Line1.Filler.TemperatureSP", 11.0)
    outputs = run(model, 120)
    # The line and its machines ramp to the new speed; the temperature settles near its new setpoint.
    assert all(240 < float(o["Line1.Speed"].value) < 260 for o in outputs[-10:])
    assert all(float(o["Line1.Filler.Speed"].value) < 265 for o in outputs[-10:])
    temperatures = [float(o["Line1.Filler.Temperature"].value) for o in outputs[-60:]]
    assert 10 < sum(temperatures) / len(temperatures) < 12
    with pytest.raises(KeyError, match="not a writable tag"):
        model.write("Line1.Speed", 1.0)

    lively = PlantModel(plant, random.Random(3), T0, LIVELY)
    lively.write("Line1.SpeedSP", 250.0)
    lively.write("Line1.Mode", "Manual")
    # Faults, stops, excursions and sensor failures: the model never moves what a client wrote.
    outputs = run(lively, 300)
    assert {o["Line1.SpeedSP"] for o in outputs} == {Sample(250.0)}
    assert {o["Line1.Mode"] for o in outputs} == {Sample("Manual")}


@pytest.mark.req("CTL-022")
def test_start_stop_reset_drive_the_packml_state(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(3), T0, QUIET)
    run(model, 2)
    with pytest.raises(InvalidStateError, match="Line1 is Execute"):
        model.start("Line1")
    with pytest.raises(InvalidStateError):
        model.reset("Line1")
    assert model.stop("Line1")["Line1.State"] == Sample("Stopping")
    run(model, 60)
    assert model.outputs()["Line1.State"].value == "Stopped"
    assert model.outputs()["Line2.State"].value == EXECUTE
    with pytest.raises(InvalidStateError):
        model.stop("Line1")
    model.reset("Line1")
    assert [o["Line1.State"].value for o in run(model, 30)][-1] == "Idle"
    model.start("Line1")
    states = [o["Line1.State"].value for o in run(model, 10)]
    assert states[0] == "Starting"
    assert states[-1] == EXECUTE


@pytest.mark.req("CTL-022")
def test_a_jam_reset_pulse_clears_the_jam(plant: PlantConfig) -> None:
    model = PlantModel(plant, random.Random(3), T0, QUIET)
    model.fault("Line1", "Capper", kind="Held", duration_s=600)
    run(model, 5)
    assert model.outputs()["Line1.Capper.Jam"].value is True
    model.write("Line1.Capper.JamReset", True)
    model.write("Line1.Capper.JamReset", False)
    run(model, 5)
    assert model.outputs()["Line1.Capper.Jam"].value is False
    assert model.machine("Line1", "Capper").phase == EXECUTE

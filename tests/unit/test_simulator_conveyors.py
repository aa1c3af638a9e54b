"""The simulator's conveyors: the accumulation between two machines follows their states, and the flow order of a
line is the material flow."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hmi.config import PlantConfig, load_config, parse_config
from hmi.simulator import ModelParams, PlantModel, demo_config_path
from hmi.simulator.model import EXECUTE, SUSPENDED

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
QUIET = ModelParams(
    fault_mtbf_s=0, stop_mtbf_s=0, excursion_mtbf_s=0, sensor_failure_mtbf_s=0, start_share_executing=1.0
)


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


def step(model: PlantModel, seconds: float, step_s: float = 0.5) -> None:
    now = model.now
    for _ in range(round(seconds / step_s)):
        now += timedelta(seconds=step_s)
        model.step(now)


def value(model: PlantModel, tag: str) -> object:
    return model.outputs()[tag].value


@pytest.mark.req("LGX-009")
def test_accumulation_rises_while_the_next_machine_is_stopped_and_falls_while_the_one_before_is(
    plant: PlantConfig,
) -> None:
    model = PlantModel(plant, random.Random(1), T0, QUIET)
    step(model, 60)
    rest = value(model, "Line1.Conv1.Accumulation")
    assert isinstance(rest, float)
    assert 5 <= rest <= 60  # at rest in its normal range while both ends run
    assert value(model, "Line1.Conv1.State") == "Running"
    # The capper stops: the conveyor from the filler fills up, the filler is blocked, the conveyor says so.
    model.fault("Line1", "Capper", kind="Held", duration_s=60)
    step(model, 20)
    assert value(model, "Line1.Conv1.Accumulation") == 100.0
    assert value(model, "Line1.Conv1.State") == "Blocked"
    assert model.machine("Line1", "Filler").reported == SUSPENDED
    # ... and the conveyor after the capper runs empty: the labeler is starved.
    assert value(model, "Line1.Conv2.Accumulation") == 0.0
    assert value(model, "Line1.Conv2.State") == "Starved"
    # The capper runs again: both conveyors settle back towards their resting point.
    step(model, 120)
    assert model.machine("Line1", "Capper").reported == EXECUTE
    assert value(model, "Line1.Conv1.State") == "Running"
    after = value(model, "Line1.Conv1.Accumulation")
    assert isinstance(after, float)
    assert abs(after - rest) < 5


FLOW = """
site: {name: Flow}
endpoints: [{name: plc, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: Hall
    lines:
      - name: L
        flow: [C, B, A]
        conveyors: [{from: C, to: B, state_tag: L.CB}]
        tags: [{name: L.CB, endpoint: plc, node_id: "ns=2;s=L.CB", data_type: bool}]
        machines:
          - {name: A, state_tag: L.A, tags: [{name: L.A, endpoint: plc, node_id: "ns=2;s=L.A", data_type: string}]}
          - {name: B, state_tag: L.B, tags: [{name: L.B, endpoint: plc, node_id: "ns=2;s=L.B", data_type: string}]}
          - {name: C, state_tag: L.C, tags: [{name: L.C, endpoint: plc, node_id: "ns=2;s=L.C", data_type: string}]}
"""


@pytest.mark.req("LGX-009")
def test_the_flow_order_is_the_material_flow_and_a_bool_state_says_whether_product_moves() -> None:
    model = PlantModel(parse_config(FLOW), random.Random(2), T0, QUIET)
    step(model, 5)
    assert value(model, "L.CB") is True
    model.fault("L", "B", kind="Held", duration_s=60)
    step(model, 15)
    # B stopped: C, before it in the flow, is blocked; A, after it, is starved.
    assert model.machine("L", "C").reported == SUSPENDED
    assert model.machine("L", "A").reported == SUSPENDED
    assert value(model, "L.CB") is False

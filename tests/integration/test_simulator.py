"""The simulator as an OPC UA server: real asyncua clients on loopback read, subscribe and reconnect."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from hmi.config import PlantConfig, load_config, parse_config
from hmi.simulator import PlantSimulator, demo_config_path
from tests.waiting import until

REPO = Path(__file__).resolve().parents[2]
VARIANTS = {
    "float": ua.VariantType.Double,
    "int": ua.VariantType.Int64,
    "bool": ua.VariantType.Boolean,
    "string": ua.VariantType.String,
}


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


@pytest.fixture
async def sim(plant: PlantConfig) -> AsyncIterator[PlantSimulator]:
    async with PlantSimulator(plant, port=0, seed=1, tick_s=0.2) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: PlantSimulator) -> AsyncIterator[Client]:
    async with Client(sim.url, timeout=5) as c:
        yield c


async def read(client: Client, tag: str) -> ua.DataValue:
    return await client.get_node(f"ns=2;s={tag}").read_data_value(raise_on_bad_status=False)


class Collector:
    """A subscription handler that keeps every DataValue it is sent."""

    def __init__(self) -> None:
        self.values: list[ua.DataValue] = []

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.values.append(data.monitored_item.Value)


@pytest.mark.req("OPS-008")
async def test_every_configured_tag_is_served_with_its_type_and_a_source_timestamp(
    plant: PlantConfig, sim: PlantSimulator, client: Client
) -> None:
    assert sim.url.startswith("opc.tcp://127.0.0.1:")
    assert sim.port != 0
    assert sorted(sim.tag_names) == sorted(plant.tags)
    assert await client.get_namespace_index("urn:factory-hmi:simulator:plant") == 2
    nodes = [client.get_node(ref.tag.node_id) for ref in plant.tags.values()]
    values = await client.read_attributes(nodes)
    data_types = await client.read_attributes(nodes, ua.AttributeIds.DataType)
    start = datetime.now(UTC) - timedelta(minutes=1)
    for (name, ref), dv, dt in zip(plant.tags.items(), values, data_types, strict=True):
        assert dv.StatusCode is not None
        assert not dv.StatusCode.is_bad() or dv.StatusCode.value == ua.StatusCodes.BadSensorFailure, name
        assert dv.Value is not None
        assert dv.Value.VariantType == VARIANTS[ref.tag.data_type], name
        assert dt.Value is not None
        assert dt.Value.Value == ua.NodeId(VARIANTS[ref.tag.data_type].value), name
        assert dv.SourceTimestamp is not None
        assert dv.SourceTimestamp > start, name
    # Organised by line and machine: Objects / Line1 / Filler / Temperature.
    temperature = await client.nodes.objects.get_child(["2:Line1", "2:Filler", "2:Temperature"])
    assert temperature.nodeid == ua.NodeId("Line1.Filler.Temperature", 2)
    assert await (await client.nodes.objects.get_child(["2:Line1", "2:State"])).read_value() in ("Execute", "Starting")


@pytest.mark.req("OPS-008")
async def test_values_change_and_reach_subscribers(sim: PlantSimulator, client: Client) -> None:
    handler = Collector()
    subscription = await client.create_subscription(100, handler)
    await subscription.subscribe_data_change(client.get_node("ns=2;s=Line1.Filler.Temperature"))
    await until(lambda: len({dv.SourceTimestamp for dv in handler.values}) >= 3)
    assert all(dv.SourceTimestamp.tzinfo is not None for dv in handler.values)
    await subscription.delete()


@pytest.mark.req("OPS-008")
async def test_pause_freezes_values_and_set_value_writes_good_values(sim: PlantSimulator, client: Client) -> None:
    sim.pause()
    assert sim.paused
    # Sleeps, not fences: no event marks the end of a tick that was under way (its writes), nor a tick that does
    # not happen. Each wait spans more than one tick (tick_s=0.2).
    await asyncio.sleep(0.3)
    before = await read(client, "Line1.Filler.Temperature")
    stepped = sim.model.now
    await asyncio.sleep(0.5)
    assert (await read(client, "Line1.Filler.Temperature")) == before
    assert sim.model.now == stepped, "the process did not step while paused"

    written_after = datetime.now(UTC) - timedelta(seconds=1)
    await sim.set_value("Line1.Filler.Temperature", 11.5)
    await sim.set_value("Line1.GoodCount", 1234)
    await sim.set_value("Line1.Capper.Jam", True)
    await sim.set_value("Line1.State", "Held")
    for tag, value in [
        ("Line1.Filler.Temperature", 11.5),
        ("Line1.GoodCount", 1234),
        ("Line1.Capper.Jam", True),
        ("Line1.State", "Held"),
    ]:
        dv = await read(client, tag)
        assert dv.Value.Value == value
        assert dv.StatusCode.is_good()
        assert dv.SourceTimestamp > written_after
    # A value of the wrong Python type is converted to the tag's type, not refused by the server.
    await sim.set_value("Line1.Filler.Pressure", 3)
    assert (await read(client, "Line1.Filler.Pressure")).Value.VariantType == ua.VariantType.Double

    await sim.fault("Line2", "Capper", kind="Held", duration_s=30)
    assert (await read(client, "Line2.Capper.State")).Value.Value == "Holding"
    assert (await read(client, "Line2.Capper.Jam")).Value.Value is True

    sim.resume()
    assert not sim.paused

    async def temperature_moved() -> bool:
        return (await read(client, "Line1.Filler.Temperature")).Value.Value != 11.5

    await until(temperature_moved, what="the process to run again and move the temperature")
    await until(lambda: sim.model.machine("Line2", "Capper").reported == "Held")


@pytest.mark.req("OPS-008")
async def test_set_status_reports_a_sensor_failure_and_keeps_the_value(sim: PlantSimulator, client: Client) -> None:
    sim.pause()
    await sim.set_value("Line2.Filler.Pressure", 3.5)
    handler = Collector()
    subscription = await client.create_subscription(100, handler)
    await subscription.subscribe_data_change(client.get_node("ns=2;s=Line2.Filler.Pressure"))
    await until(lambda: len(handler.values) >= 1)

    await sim.set_status("Line2.Filler.Pressure", "BadSensorFailure")
    dv = await read(client, "Line2.Filler.Pressure")
    assert dv.StatusCode.value == ua.StatusCodes.BadSensorFailure
    assert dv.Value.Value == 3.5
    await until(lambda: any(v.StatusCode.value == ua.StatusCodes.BadSensorFailure for v in handler.values))

    sim.resume()  # a failed sensor stays failed while the process runs on
    # Fence: two process steps after the resume, so the first one's writes are done.
    for _ in range(2):
        stepped = sim.model.now
        await until(lambda at=stepped: sim.model.now > at, what="a process step")
    assert (await read(client, "Line2.Filler.Pressure")).StatusCode.value == ua.StatusCodes.BadSensorFailure

    await sim.set_status("Line2.Filler.Pressure", "Good")
    dv = await read(client, "Line2.Filler.Pressure")
    assert dv.StatusCode.is_good()
    await until(lambda: handler.values[-1].StatusCode.is_good())
    await subscription.delete()

    await sim.set_status("Line2.Filler.Temperature", "Bad_CommunicationError")  # the symbolic spelling works too
    assert (await read(client, "Line2.Filler.Temperature")).StatusCode.value == ua.StatusCodes.BadCommunicationError


@pytest.mark.req("OPS-008")
async def test_unknown_tags_and_statuses_are_refused(sim: PlantSimulator) -> None:
    with pytest.raises(KeyError, match="not a tag this simulator serves"):
        await sim.set_value("Line9.Nothing", 1.0)
    with pytest.raises(ValueError, match="unknown OPC UA status"):
        await sim.set_status("Line1.Filler.Temperature", "BadMood")


@pytest.mark.req("OPS-008")
async def test_stop_and_restart_on_the_same_port(plant: PlantConfig) -> None:
    first = PlantSimulator(plant, port=0, seed=1)
    await first.start()
    port = first.port
    client = Client(first.url, timeout=2)
    await client.connect()
    assert (await read(client, "Line3.State")).StatusCode.is_good()
    await first.stop()
    with pytest.raises((ConnectionError, ua.UaError, TimeoutError)):
        await read(client, "Line3.State")
    await asyncio.wait_for(client.disconnect(), 5)

    async with PlantSimulator(plant, port=port, seed=2) as second, Client(second.url, timeout=2) as again:
        assert second.url == f"opc.tcp://127.0.0.1:{port}"
        assert (await read(again, "Line3.State")).StatusCode.is_good()


@pytest.mark.req("OPS-008")
async def test_extra_tags_change_at_the_requested_rate(plant: PlantConfig) -> None:
    async with (
        PlantSimulator(plant, port=0, seed=3, extra_tags=50, change_rate=500) as sim,
        Client(sim.url, timeout=5) as client,
    ):
        folder = await client.nodes.objects.get_child(["2:Load"])
        children = await folder.get_children()
        assert len(children) == 50
        assert {c.nodeid for c in children} == {ua.NodeId(f"Load.Tag{i:05d}", 2) for i in range(1, 51)}
        nodes = [client.get_node(f"ns=2;s=Load.Tag{i:05d}") for i in (1, 50)]
        first = await client.read_attributes(nodes)
        assert all(dv.Value.VariantType == ua.VariantType.Double for dv in first)
        start, started = sim.load_changes, time.monotonic()
        # 500 changes/s spread over 50 tags: every tag changes about ten times a second. Wait for a second's worth
        # and measure how long they took.
        changes = await until(
            lambda: n if (n := sim.load_changes - start) >= 500 else 0, timeout=5, what="500 load changes"
        )
        assert 300 <= changes / (time.monotonic() - started) <= 700
        later = await client.read_attributes(nodes)
        assert all(a.Value.Value != b.Value.Value for a, b in zip(first, later, strict=True))
        with pytest.raises(ua.UaStatusCodeError):
            await client.get_node("ns=2;s=Load.Tag00051").read_value()


async def test_latency_probes_carry_the_time_they_were_written_and_change_every_second(plant: PlantConfig) -> None:
    # bench/panels.py reads a probe's text in the browser and subtracts its value from the browser's clock.
    async with (
        PlantSimulator(plant, port=0, seed=3, probes=4) as sim,
        Client(sim.url, timeout=5) as client,
    ):
        folder = await client.nodes.objects.get_child(["2:Probe"])
        assert {c.nodeid for c in await folder.get_children()} == {ua.NodeId(f"Probe.P0{i}", 2) for i in range(1, 5)}
        node = client.get_node("ns=2;s=Probe.P01")
        first = await node.read_data_value()
        assert first.Value.VariantType == ua.VariantType.Int64
        assert first.SourceTimestamp is not None
        assert first.Value.Value == round(first.SourceTimestamp.replace(tzinfo=UTC).timestamp() * 1000)
        later = await until(lambda: _changed(node, first), timeout=5, what="Probe.P01 to change (once a second)")
        assert later.Value.Value == round(later.SourceTimestamp.replace(tzinfo=UTC).timestamp() * 1000)
        assert later.Value.Value > first.Value.Value


async def _changed(node: Any, before: ua.DataValue) -> ua.DataValue | None:
    now = await node.read_data_value()
    return now if now.Value.Value != before.Value.Value else None


@pytest.mark.req("OPS-008")
async def test_only_tags_of_the_simulated_endpoint_are_served() -> None:
    plant = parse_config("""
site: {name: Two Servers}
endpoints:
  - {name: other, url: "opc.tcp://127.0.0.1:4841"}
  - {name: plant, url: "opc.tcp://127.0.0.1:4840"}
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: L.Here, endpoint: plant, node_id: "ns=3;i=17", data_type: int}
          - {name: L.Elsewhere, endpoint: other, node_id: "ns=2;s=L.Elsewhere"}
""")
    async with PlantSimulator(plant, port=0) as sim, Client(sim.url, timeout=5) as client:
        assert sim.tag_names == ["L.Here"]
        dv = await client.get_node("ns=3;i=17").read_data_value()
        assert dv.Value.VariantType == ua.VariantType.Int64
        with pytest.raises(ua.UaStatusCodeError):
            await client.get_node("ns=2;s=L.Elsewhere").read_value()


@pytest.mark.req("OPS-008")
async def test_hmi_simulate_prints_its_url_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hmi",
        "simulate",
        "--port",
        "0",
        "--seed",
        "5",
        "--tags",
        "10",
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("Simulator listening on opc.tcp://127.0.0.1:")
        url = line.split()[-1]
        async with Client(url, timeout=5) as client:
            assert (await read(client, "Line1.State")).StatusCode.is_good()
            assert (await read(client, "Load.Tag00010")).StatusCode.is_good()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert proc.stderr is not None
        assert b"Traceback" not in await proc.stderr.read()
        assert await proc.stdout.read() == b""  # exactly one line
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.req("OPS-008")
async def test_trainer_can_inject_a_fault_over_opcua(client: Client) -> None:
    """The Simulator.InjectFault method jams a machine; its Jam tag goes true and its state to Held."""
    result = await client.get_node("ns=2;s=Simulator").call_method(
        ua.NodeId.from_string("ns=2;s=Simulator.InjectFault"),
        ua.Variant("Line2", ua.VariantType.String),
        ua.Variant("Capper", ua.VariantType.String),
    )
    assert result == "ok"
    assert await client.get_node("ns=2;s=Line2.Capper.Jam").read_value() is True
    assert await client.get_node("ns=2;s=Line2.Capper.State").read_value() in ("Holding", "Held")


@pytest.mark.req("OPS-008")
async def test_set_load_moves_every_load_tag_at_once(plant: PlantConfig) -> None:
    async with (
        PlantSimulator(plant, port=0, seed=2, extra_tags=20, change_rate=0) as sim,
        Client(sim.url, timeout=5) as client,
    ):
        written = await client.get_node("ns=2;s=Simulator").call_method(
            ua.NodeId.from_string("ns=2;s=Simulator.SetLoad"), ua.Variant(123.5, ua.VariantType.Double)
        )
        assert written == 20
        values = [await client.get_node(f"ns=2;s=Load.Tag{i:05d}").read_value() for i in (1, 20)]
        assert values == [123.5, 123.5]

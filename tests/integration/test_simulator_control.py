"""Writes and method calls against the real simulator over OPC UA: setpoints reach the process model, a locked
node is refused by the server, and Start / Stop / Reset drive the line's PackML state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asyncua import Client, Node, ua

from hmi.config import PlantConfig, load_config
from hmi.simulator import ModelParams, PlantSimulator, demo_config_path
from tests.waiting import until

QUIET = ModelParams(
    fault_mtbf_s=0, stop_mtbf_s=0, excursion_mtbf_s=0, sensor_failure_mtbf_s=0, start_share_executing=1.0
)


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


@pytest.fixture
async def sim(plant: PlantConfig) -> AsyncIterator[PlantSimulator]:
    async with PlantSimulator(plant, port=0, seed=1, tick_s=0.2, params=QUIET) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: PlantSimulator) -> AsyncIterator[Client]:
    async with Client(sim.url, timeout=5) as c:
        yield c


def node(client: Client, tag: str) -> Node:
    return client.get_node(f"ns=2;s={tag}")


async def value(client: Client, tag: str) -> object:
    return await node(client, tag).read_value()


async def write(client: Client, tag: str, variant: ua.Variant) -> ua.StatusCode:
    """A plain OPC UA Write of one value; the status the server answered."""
    params = ua.WriteParameters()
    params.NodesToWrite = [
        ua.WriteValue(NodeId=node(client, tag).nodeid, AttributeId=ua.AttributeIds.Value, Value=ua.DataValue(variant))
    ]
    (status,) = await client.uaclient.write(params)
    return status


async def call(client: Client, line: str, method: str) -> ua.StatusCode:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId.from_string(f"ns=2;s={line}")
    request.MethodId = ua.NodeId.from_string(f"ns=2;s={line}.{method}")
    (result,) = await client.uaclient.call([request])
    return result.StatusCode


async def access(client: Client, tag: str) -> tuple[int, int]:
    """The node's (AccessLevel, UserAccessLevel)."""
    (level,) = await client.read_attributes([node(client, tag)], ua.AttributeIds.AccessLevel)
    (user_level,) = await client.read_attributes([node(client, tag)], ua.AttributeIds.UserAccessLevel)
    assert level.Value is not None
    assert user_level.Value is not None
    return int(level.Value.Value), int(user_level.Value.Value)


WRITE = ua.AccessLevel.CurrentWrite.mask


@pytest.mark.req("CTL-021")
async def test_a_written_setpoint_is_accepted_and_the_line_follows_it(sim: PlantSimulator, client: Client) -> None:
    assert [level & WRITE for level in await access(client, "Line1.SpeedSP")] == [WRITE, WRITE]
    assert [level & WRITE for level in await access(client, "Line1.Speed")] == [0, 0]
    assert await value(client, "Line1.SpeedSP") == 300.0
    status = await write(client, "Line1.SpeedSP", ua.Variant(250.0, ua.VariantType.Double))
    assert status.is_good(), status
    written = await node(client, "Line1.SpeedSP").read_data_value()
    assert written.Value is not None
    assert written.Value.Value == 250.0
    assert written.SourceTimestamp is not None  # stamped by the server when the client sent none
    # The line ramps down to the new speed, and the model keeps the setpoint as written.
    await until(lambda: _near(client, "Line1.Speed", 250.0, 6.0), timeout=15, what="Line1.Speed near 250")
    assert await value(client, "Line1.SpeedSP") == 250.0
    assert sim.model.outputs()["Line1.SpeedSP"].value == 250.0

    assert (await write(client, "Line1.Filler.TemperatureSP", ua.Variant(11.0, ua.VariantType.Double))).is_good()
    await until(lambda: _near(client, "Line1.Filler.Temperature", 11.0, 1.5), timeout=40, what="temperature near 11")

    assert (await write(client, "Line1.Mode", ua.Variant("Manual", ua.VariantType.String))).is_good()
    assert await value(client, "Line1.Mode") == "Manual"
    # A read-only process value stays read-only.
    refused = await write(client, "Line1.Speed", ua.Variant(1.0, ua.VariantType.Double))
    assert refused.value == ua.StatusCodes.BadUserAccessDenied


@pytest.mark.req("CTL-023")
async def test_the_locked_setpoint_is_refused_by_the_server(sim: PlantSimulator, client: Client) -> None:
    level, user_level = await access(client, "Line1.Capper.TorqueSP")
    assert (level & WRITE, user_level & WRITE) == (WRITE, 0)  # advertised writable, but not for this user
    before = await value(client, "Line1.Capper.TorqueSP")
    status = await write(client, "Line1.Capper.TorqueSP", ua.Variant(210.0, ua.VariantType.Double))
    assert status.value == ua.StatusCodes.BadUserAccessDenied
    assert status.name == "BadUserAccessDenied"
    assert await value(client, "Line1.Capper.TorqueSP") == before
    # Even a client calling itself admin cannot pass the access levels.
    admin = Client(sim.url, timeout=5)
    admin.set_user("admin")
    admin.set_password("admin")
    async with admin:
        again = await write(admin, "Line1.Capper.TorqueSP", ua.Variant(210.0, ua.VariantType.Double))
        assert again.value == ua.StatusCodes.BadUserAccessDenied


@pytest.mark.req("CTL-022")
async def test_start_stop_and_reset_drive_the_line_and_a_wrong_state_is_refused(client: Client) -> None:
    await until(lambda: _is(client, "Line1.State", "Execute"), what="Line1 executing")
    bad = await call(client, "Line1", "Start")
    assert bad.value == ua.StatusCodes.BadInvalidState
    assert (await call(client, "Line1", "Stop")).is_good()
    await until(lambda: _is(client, "Line1.State", "Stopped"), what="Line1 stopped")
    assert await value(client, "Line2.State") == "Execute"
    assert (await call(client, "Line1", "Stop")).value == ua.StatusCodes.BadInvalidState
    assert (await call(client, "Line1", "Reset")).is_good()
    await until(lambda: _is(client, "Line1.State", "Idle"), what="Line1 idle")
    assert (await call(client, "Line1", "Reset")).value == ua.StatusCodes.BadInvalidState
    assert (await call(client, "Line1", "Start")).is_good()
    await until(lambda: _is(client, "Line1.State", "Execute"), what="Line1 executing again")
    # A method is called on its own line's object only.
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId.from_string("ns=2;s=Line2")
    request.MethodId = ua.NodeId.from_string("ns=2;s=Line1.Stop")
    (result,) = await client.uaclient.call([request])
    assert result.StatusCode.value == ua.StatusCodes.BadMethodInvalid


@pytest.mark.req("CTL-022")
async def test_a_jam_reset_pulse_clears_the_capper_jam(sim: PlantSimulator, client: Client) -> None:
    await sim.fault("Line1", "Capper", kind="Held", duration_s=600)
    await until(lambda: _is(client, "Line1.Capper.Jam", True), what="capper jammed")
    assert (await write(client, "Line1.Capper.JamReset", ua.Variant(True, ua.VariantType.Boolean))).is_good()
    assert (await write(client, "Line1.Capper.JamReset", ua.Variant(False, ua.VariantType.Boolean))).is_good()
    await until(lambda: _is(client, "Line1.Capper.Jam", False), what="jam cleared")
    await until(lambda: _is(client, "Line1.Capper.State", "Execute"), what="capper running")


async def _near(client: Client, tag: str, target: float, tolerance: float) -> bool:
    return abs(float(await value(client, tag)) - target) <= tolerance  # type: ignore[arg-type]


async def _is(client: Client, tag: str, expected: object) -> bool:
    return await value(client, tag) == expected

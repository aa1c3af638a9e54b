"""`hmi browse` against the running simulator: the YAML it writes is a valid starting configuration."""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from asyncua import Server, ua

from hmi.browse import BrowseError, browse_server, render_yaml, sanitize
from hmi.cli import browse as browse_cli
from hmi.config import NAME_PATTERN, PlantConfig, load_config, parse_config
from hmi.simulator import PlantSimulator, demo_config_path
from tests.opcua_server import free_port

EXTRA = 5


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


@pytest.fixture
async def sim(plant: PlantConfig) -> AsyncIterator[PlantSimulator]:
    async with PlantSimulator(plant, port=0, seed=1, extra_tags=EXTRA) as simulator:
        yield simulator


@pytest.mark.req("OPC-012")
async def test_browsing_the_simulator_gives_a_valid_configuration(plant: PlantConfig, sim: PlantSimulator) -> None:
    result = await browse_server(sim.url)
    assert result.server_name == "Demo Bottling Plant"
    assert result.tag_count == len(plant.tags) + EXTRA
    assert result.skipped == 0
    assert not result.truncated

    browsed = parse_config(render_yaml(result), "browsed.yaml")
    assert browsed.site.name == "Demo Bottling Plant"
    (endpoint,) = browsed.endpoints
    assert (endpoint.name, endpoint.url) == ("127.0.0.1", sim.url)
    assert len(list(browsed.lines())) == 1
    # String node ids become the tag names, so the demo's names come back unchanged, with their types.
    load = {f"Load.Tag{i:05d}" for i in range(1, EXTRA + 1)}
    assert set(browsed.tags) == set(plant.tags) | load
    for name, ref in plant.tags.items():
        tag = browsed.tags[name].tag
        assert (tag.node_id, tag.data_type, tag.endpoint) == (ref.tag.node_id, ref.tag.data_type, "127.0.0.1")
    assert browsed.tags["Line1.Filler.Temperature"].tag.description == "Product temperature at the filler bowl"
    machines = {m.name: m for _, line in browsed.lines() for m in line.machines}
    assert set(machines) == {"Line1", "Line2", "Line3", "Load"} | {
        f"Line{n}.{m}" for n in (1, 2, 3) for m in ("Filler", "Capper", "Labeler", "CasePacker")
    }
    assert machines["Line2.Capper"].state_tag == "Line2.Capper.State"
    assert len(machines["Load"].tags) == EXTRA


@pytest.mark.req("CTL-024")
async def test_browse_offers_write_and_command_candidates_with_units_and_ranges(
    plant: PlantConfig, sim: PlantSimulator
) -> None:
    result = await browse_server(sim.url)
    tags = {t.name: t for m in result.machines for t in m.tags}
    assert {name for name, t in tags.items() if t.writable} == {
        name for name, ref in plant.tags.items() if ref.tag.write is not None
    } | {"Line1.Capper.JamReset"}
    # Units and ranges come from EngineeringUnits and EURange, for every tag that has them in the demo.
    for name, ref in plant.tags.items():
        if ref.tag.numeric:
            assert (tags[name].unit, tags[name].eng_range) == (ref.tag.unit, ref.tag.eng_range), name
    machines = {m.name: m for m in result.machines}
    assert [(c.name, c.object_id, c.method_id) for c in machines["Line1"].methods] == [
        (name, "ns=2;s=Line1", f"ns=2;s=Line1.{name}") for name in ("Start", "Stop", "Reset")
    ]
    assert "writable" in result.summary()

    text = render_yaml(result)
    browsed = parse_config(text, "browsed.yaml")
    # Candidates are comments: nothing is writable or commanded until a person says so.
    assert not browsed.commands
    assert all(ref.tag.write is None for ref in browsed.tags.values())
    assert browsed.tags["Line1.Filler.Temperature"].tag.unit == "°C"
    assert browsed.tags["Line1.Filler.Temperature"].tag.eng_range == (-5.0, 40.0)
    lines = text.splitlines()
    speed_sp = lines.index("      - name: Line1.SpeedSP")
    block = lines[speed_sp : speed_sp + 12]
    assert any(line.strip().startswith("# write: {roles: [lead, engineer]}") for line in block), block
    assert (
        "# - {name: Start, call: {endpoint: 127.0.0.1, object_id: ns=2;s=Line1, method_id: ns=2;s=Line1.Start}}" in text
    )

    # Uncommented, the candidates are a valid configuration too.
    enabled = re.sub(r"(?m)^( *)# (write:|commands:|- \{name)", r"\1\2", text)
    chosen = parse_config(enabled, "enabled.yaml")
    # browse writes one line holding every machine, so the ids are Line1.<machine>.<command>
    assert set(chosen.commands) == {f"Line1.Line{n}.{c}" for n in (1, 2, 3) for c in ("Start", "Stop", "Reset")}
    assert chosen.write_limits("Line1.SpeedSP") == (0.0, 400.0)


@pytest.mark.req("CTL-025")
async def test_alarm_conditions_are_not_machines() -> None:
    """A server that puts its conditions in the hierarchy (HasComponent under the tank): browse leaves them out."""
    server = Server()
    await server.init()
    port = free_port()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    ns = await server.register_namespace("urn:test:tank")
    tank = await server.nodes.objects.add_object(ua.NodeId("Tank", ns), "Tank")
    await tank.add_variable(ua.NodeId("Tank.Level", ns), "Level", 1.5)
    await tank.add_object(ua.NodeId("Tank.HighLevel", ns), "HighLevel", objecttype=ua.ObjectIds.AlarmConditionType)
    async with server:
        result = await browse_server(f"opc.tcp://127.0.0.1:{port}")
    assert [(m.name, [t.name for t in m.tags]) for m in result.machines] == [("Tank", ["Tank.Level"])]
    assert result.conditions == 1
    assert "1 alarm condition(s) left out" in result.summary()
    parse_config(render_yaml(result), "tank.yaml")


@pytest.mark.req("OPC-012")
async def test_hmi_browse_writes_the_file_and_a_summary(
    sim: PlantSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plant.yaml"
    args = argparse.Namespace(url=sim.url, out=out, force=False, timeout=5.0)
    code = await _in_thread(browse_cli.handle, args)
    assert code == 0
    assert len(load_config(out).tags) == len(sim.tag_names) + EXTRA
    err = capsys.readouterr().err
    assert "Demo Bottling Plant" in err
    assert f"{len(sim.tag_names) + EXTRA} tag(s)" in err

    assert await _in_thread(browse_cli.handle, args) == 1  # the file exists now
    assert "--force" in capsys.readouterr().err


@pytest.mark.req("OPC-012")
async def test_an_unreachable_server_is_a_clear_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BrowseError, match="cannot connect"):
        await browse_server("opc.tcp://127.0.0.1:1", timeout_s=2)
    args = argparse.Namespace(url="opc.tcp://127.0.0.1:1", out=None, force=False, timeout=2.0)
    assert await _in_thread(browse_cli.handle, args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: cannot connect to opc.tcp://127.0.0.1:1")
    assert "Traceback" not in captured.err
    args = argparse.Namespace(url="http://127.0.0.1:1", out=None, force=False, timeout=2.0)
    assert await _in_thread(browse_cli.handle, args) == 1
    assert "opc.tcp://" in capsys.readouterr().err


@pytest.mark.req("OPC-012")
def test_sanitize_makes_valid_names() -> None:
    for raw in ['"DB1"."Motor 3".Speed', "_hidden", "ä/ö", "..", "a" * 300]:
        name = sanitize(raw, "Tag")
        assert re.match(NAME_PATTERN, name), (raw, name)
        assert len(name) <= 120
    assert sanitize("..", "Tag") == "Tag"


async def _in_thread(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command handler the way the shell does: in a thread of its own, with its own event loop."""
    return await asyncio.to_thread(handler, args)

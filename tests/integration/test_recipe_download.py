"""A recipe download through the real write service to a real asyncua server, one parameter refused by the
server: the report is partial, the download is one audit event, each parameter has its own audit row."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.control.recipe_report import PARTIAL
from hmi.records.signatures import SignatureRequest
from hmi.runtime import Runtime
from hmi.store.database import Database
from tests.opcua_server import SmallServer, free_port
from tests.screens.test_recipes_screen import RECIPE_INITIAL, recipe_plant
from tests.waiting import until

PASSWORD = "correct-horse-7"


@pytest.fixture
async def plant(tmp_path: Path) -> AsyncIterator[tuple[Runtime, SmallServer]]:
    server = SmallServer(free_port(), dict(RECIPE_INITIAL))
    await server.start()
    rt = Runtime(recipe_plant(server.url), Database(f"sqlite:///{tmp_path / 'hmi.db'}"))
    try:
        await rt.start()
        await until(lambda: rt.cache.get("L1.SpeedSP") is not None and rt.cache.get("L1.M1.TempSP") is not None)
        yield rt, server
    finally:
        await rt.stop()
        await server.stop()


async def person(rt: Runtime, name: str, role: Role) -> ActionContext:
    await rt.users.create_user(name, PASSWORD, role, full_name=name.title())
    ctx = (await rt.users.sign_in(name, PASSWORD, station="panel-1")).ctx
    assert ctx is not None
    return ctx


@pytest.mark.req("CTL-039", "CTL-034")
async def test_download_to_a_real_server_with_one_refused_parameter_is_partial(
    plant: tuple[Runtime, SmallServer],
) -> None:
    rt, server = plant
    erin = await person(rt, "erin", Role.ENGINEER)
    max_ = await person(rt, "max", Role.MANAGER)
    lena = await person(rt, "lena", Role.LEAD)
    await rt.recipes.create(erin, "Cola", "L1")
    v = await rt.recipes.new_version(erin, "Cola", {"L1.SpeedSP": 300, "L1.M1.TempSP": 64.5})
    assert v.id is not None
    await rt.recipes.approve(max_, v.id, SignatureRequest(PASSWORD, "max"))
    # The server takes the speed but refuses the temperature setpoint (its node is not writable).
    await server.nodes["L1.M1.TempSP"].set_writable(False)
    report = await rt.recipes.download(
        lena, "Cola", 1, reason="changeover", signature=SignatureRequest(PASSWORD, "lena")
    )
    assert report.result == PARTIAL
    assert not report.success
    parts = {p.tag: p for p in report.parts}
    assert parts["L1.SpeedSP"].result == "confirmed"
    assert parts["L1.SpeedSP"].message.startswith("confirmed at ")
    assert parts["L1.M1.TempSP"].result == "server_refused"
    assert parts["L1.M1.TempSP"].message.startswith("the server refused: Bad")
    assert await server.nodes["L1.SpeedSP"].read_value() == 300.0
    assert await server.nodes["L1.M1.TempSP"].read_value() == 60.0
    # One download event with its parts, and one row per parameter from the write service, sharing the action id.
    [event] = await rt.audit.query(action="recipe.download")
    recorded = json.loads(event.new_value or "")
    assert recorded["result"] == PARTIAL
    assert {p["tag"]: p["result"] for p in recorded["parts"]} == {
        "L1.SpeedSP": "confirmed",
        "L1.M1.TempSP": "server_refused",
    }
    assert recorded["signature_id"] is not None
    [written] = await rt.audit.query(action="tag.write", object_id="L1.SpeedSP")
    [refused] = await rt.audit.query(action="tag.write.server_refused", object_id="L1.M1.TempSP")
    for row in (written, refused):
        assert row.action_id == event.action_id
        assert "part of recipe Cola version 1" in (row.detail or "")
        assert row.reason == "changeover"
    assert await rt.audit.verify() is None

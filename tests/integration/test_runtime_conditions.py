"""Server-side alarms (OPC UA Alarms & Conditions) and local alarms in one list, one journal, one banner:
the whole runtime against the simulator, acknowledging a server condition on its server with the real operator
recorded locally (IEC 62541-9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.access.roles import Role
from hmi.alarms.engine import server_alarm_id
from hmi.alarms.states import AlarmState
from hmi.config import PlantConfig, load_config
from hmi.records.signatures import SignatureRequest
from hmi.runtime import Runtime
from hmi.simulator import PlantSimulator, demo_config_path
from hmi.store.database import Database
from hmi.store.models import Acknowledgement, AlarmEvent
from tests.conftest import PERSON_PASSWORD, sign_in
from tests.waiting import until


@pytest.fixture
async def plant_and_sim() -> AsyncIterator[tuple[PlantConfig, PlantSimulator]]:
    base = load_config(demo_config_path())
    sim = PlantSimulator(base, port=0, seed=11)
    await sim.start()
    endpoints = tuple(e.model_copy(update={"url": sim.url}) for e in base.endpoints)
    plant = PlantConfig.model_validate({"site": base.site, "endpoints": endpoints, "areas": base.areas})
    yield plant, sim
    await sim.stop()


@pytest.mark.req("OPC-008", "OPC-010")
async def test_server_condition_is_listed_journaled_and_acknowledged_on_its_server(
    plant_and_sim: tuple[PlantConfig, PlantSimulator], tmp_path: Path
) -> None:
    plant, sim = plant_and_sim
    rt = Runtime(plant, Database(f"sqlite:///{tmp_path / 'hmi.db'}"))
    await rt.start()
    try:
        olga = await sign_in(rt.users, "olga", Role.OPERATOR)
        await until(lambda: all(s.connected for s in rt.sources), timeout=15)
        await sim.set_condition("Line2.EmergencyStop", True)
        monitor = rt.conditions[plant.endpoints[0].name]
        condition_id = await until(
            lambda: next((c for c in monitor.conditions if c.endswith("Line2.EmergencyStop")), None), timeout=15
        )
        alarm_id = server_alarm_id(plant.endpoints[0].name, condition_id)
        alarm = await until(lambda: rt.alarms.get(alarm_id), timeout=15)
        assert (alarm.source, alarm.line, alarm.state, alarm.priority) == (
            "server",
            "Line2",
            AlarmState.ACTIVE_UNACK,
            1,
        )
        assert alarm in rt.alarms.active()

        # A priority 1 acknowledgement needs an electronic signature under the plant's default policy.
        signature = SignatureRequest(password=PERSON_PASSWORD, username="olga", meaning="Acknowledged")
        result = await rt.alarm_service.acknowledge(
            olga.for_action(), [alarm_id], "E-stop checked, area clear", signature=signature
        )
        assert [c.alarm.id for c in result.changes] == [alarm_id]
        await until(lambda: sim.condition("Line2.EmergencyStop").acked, timeout=15)
        assert sim.condition("Line2.EmergencyStop").comment == "E-stop checked, area clear"
        acked = rt.alarms.get(alarm_id)
        assert acked is not None
        assert (acked.state, acked.acked_by) == (AlarmState.ACTIVE_ACK, "olga")
        async with rt.db.session() as s:
            acks = list((await s.execute(sa.select(Acknowledgement))).scalars())
        assert [(a.alarm_id, a.username) for a in acks] == [(alarm_id, "olga")], "the real operator, kept locally"

        await sim.set_condition("Line2.EmergencyStop", False)
        await until(lambda: rt.alarms.get(alarm_id) is None, timeout=15)
        await rt.journal.flush()
        async with rt.db.session() as s:
            kinds = [
                k
                for (k,) in (
                    await s.execute(
                        sa.select(AlarmEvent.kind)
                        .where(AlarmEvent.alarm_id == alarm_id)
                        .order_by(AlarmEvent.source_time, AlarmEvent.id)
                    )
                ).all()
            ]
        assert kinds == ["activated", "acknowledged", "cleared"], "one journal, each transition once"
    finally:
        await rt.stop()

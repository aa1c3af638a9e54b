"""OPC UA Alarms & Conditions against the simulator: refresh, priorities, acknowledge, Retain, restart, stop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asyncua import Client, ua

from hmi.config import Endpoint, PlantConfig, load_config
from hmi.simulator import ModelParams, PlantSimulator, demo_config_path
from hmi.sources import StatusBoard
from hmi.sources.opcua import OpcUaSource
from hmi.sources.server_alarms import ConditionError, ConditionMonitor, ServerAlarm, SeverityMap
from hmi.tags import TagCache
from tests.waiting import until

ESTOP = "Line1.EmergencyStop"
ESTOP_ID = f"ns=2;s={ESTOP}"
OVERTEMP = "Line2.Filler.OverTemperature"
OVERTEMP_ID = f"ns=2;s={OVERTEMP}"
# A plant without random faults, stops, excursions or sensor failures: only the test raises conditions.
QUIET = ModelParams(fault_mtbf_s=0, stop_mtbf_s=0, excursion_mtbf_s=0, sensor_failure_mtbf_s=0)

Changes = list[list[tuple[ServerAlarm, bool]]]


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return load_config(demo_config_path())


@pytest.fixture
async def sim(plant: PlantConfig) -> AsyncIterator[PlantSimulator]:
    async with PlantSimulator(plant, port=0, seed=1, tick_s=0.2, params=QUIET) as simulator:
        yield simulator


def endpoint(url: str) -> Endpoint:
    return Endpoint(name="plant", url=url, publishing_interval_ms=100, stale_after_s=3)


class Connected:
    """A monitor wired to an OpcUaSource through its session hook, with every change batch it heard."""

    def __init__(self, url: str, *monitors: ConditionMonitor) -> None:
        self.monitors = monitors or (ConditionMonitor("plant", publishing_interval_ms=100),)
        self.monitor = self.monitors[0]
        self.changes: Changes = []
        self.monitor.subscribe(self.changes.append)
        self.source = OpcUaSource(
            endpoint(url), [], TagCache(), StatusBoard(), reconnect_max_delay=1.0, session_hooks=self.monitors
        )

    async def start(self) -> None:
        for monitor in self.monitors:
            await monitor.start()
        await self.source.start()

    async def stop(self) -> None:
        # Monitors first, so their subscriptions are deleted while the session is still up.
        for monitor in self.monitors:
            await monitor.stop()
        await self.source.stop()

    async def refreshed(self) -> None:
        await until(lambda: all(not m.stale for m in self.monitors))


@pytest.fixture
async def hmi(sim: PlantSimulator) -> AsyncIterator[Connected]:
    connected = Connected(sim.url)
    await connected.start()
    await connected.refreshed()
    yield connected
    await connected.stop()


@pytest.mark.req("OPC-008")
def test_severity_map_default_table_and_a_configured_one() -> None:
    default = SeverityMap()
    assert [default.priority(s) for s in (1000, 801, 800, 501, 500, 201, 200, 1)] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert default.priority(0) == 4, "servers sending 0 get the lowest priority, not an error"
    custom = SeverityMap(((900, 1), (600, 2), (1, 3)))
    assert [custom.priority(s) for s in (950, 900, 899, 600, 599)] == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="strictly decreasing"):
        SeverityMap(((500, 1), (800, 2), (1, 3)))
    with pytest.raises(ValueError, match="start at 1"):
        SeverityMap(((800, 1), (200, 2)))
    with pytest.raises(ValueError, match="priority 1-4"):
        SeverityMap(((800, 5), (1, 4)))


@pytest.mark.req("OPC-008")
async def test_conditions_arrive_with_priority_mapped_from_severity(sim: PlantSimulator) -> None:
    custom = ConditionMonitor("plant", publishing_interval_ms=100, severity_map=SeverityMap(((950, 1), (1, 4))))
    hmi = Connected(sim.url, ConditionMonitor("plant", publishing_interval_ms=100), custom)
    await hmi.start()
    try:
        await hmi.refreshed()
        assert hmi.monitor.conditions == {}
        await sim.set_condition(ESTOP, True)
        await sim.set_condition(OVERTEMP, True)
        await until(lambda: all({ESTOP_ID, OVERTEMP_ID} <= set(m.conditions) for m in hmi.monitors))

        estop, overtemp = hmi.monitor.conditions[ESTOP_ID], hmi.monitor.conditions[OVERTEMP_ID]
        assert (estop.severity, estop.priority) == (900, 1)
        assert (overtemp.severity, overtemp.priority) == (700, 2)
        assert (custom.conditions[ESTOP_ID].priority, custom.conditions[OVERTEMP_ID].priority) == (4, 4)
        assert (estop.active, estop.acked, estop.retain) == (True, False, True)
        assert (estop.endpoint, estop.source_name, estop.condition_name) == ("plant", "Line1", "EmergencyStop")
        assert estop.message == "Line1: emergency stop pressed"
        assert overtemp.source_name == "Line2.Filler"
        assert overtemp.source_node.startswith("ns=2;")
        assert overtemp.message == "Filler temperature above 10 °C"
        assert estop.event_id == sim.condition(ESTOP).event_id
        assert estop.time.tzinfo is not None
        assert estop.received_at.tzinfo is not None
        heard = {alarm.condition_id for batch in hmi.changes for alarm, removed in batch if not removed}
        assert heard == {ESTOP_ID, OVERTEMP_ID}
    finally:
        await hmi.stop()


@pytest.mark.req("OPC-009")
async def test_refresh_after_connect_lists_conditions_already_active(sim: PlantSimulator) -> None:
    await sim.set_condition(ESTOP, True)
    await sim.set_condition(OVERTEMP, True)
    await sim.set_condition(OVERTEMP, False)  # cleared before anyone acknowledged it: still retained
    hmi = Connected(sim.url)
    assert hmi.monitor.stale, "nothing is known before the first refresh"
    await hmi.start()
    try:
        await hmi.refreshed()
        assert hmi.monitor.refreshes >= 1
        assert hmi.monitor.stale_since is None
        assert set(hmi.monitor.conditions) == {ESTOP_ID, OVERTEMP_ID}
        overtemp = hmi.monitor.conditions[OVERTEMP_ID]
        assert (overtemp.active, overtemp.acked, overtemp.retain) == (False, False, True)
        assert hmi.monitor.conditions[ESTOP_ID].event_id == sim.condition(ESTOP).event_id
    finally:
        await hmi.stop()


@pytest.mark.req("OPC-010")
async def test_acknowledge_round_trip_stores_ack_and_comment_on_the_server(sim: PlantSimulator, hmi: Connected) -> None:
    await sim.set_condition(ESTOP, True)
    await until(lambda: ESTOP_ID in hmi.monitor.conditions)
    before = hmi.monitor.conditions[ESTOP_ID]

    await hmi.monitor.acknowledge(ESTOP_ID, "Guard door closed again, line checked")

    state = sim.condition(ESTOP)
    assert (state.active, state.acked, state.retain) == (True, True, True)
    assert state.comment == "Guard door closed again, line checked"
    await until(lambda: hmi.monitor.conditions[ESTOP_ID].acked)
    after = hmi.monitor.conditions[ESTOP_ID]
    assert after.comment == "Guard door closed again, line checked"
    assert after.active
    assert after.event_id != before.event_id, "every notification carries a fresh EventId"
    assert after.event_id == state.event_id


@pytest.mark.req("OPC-010")
async def test_acknowledge_with_a_stale_event_id_is_refused_not_retried(sim: PlantSimulator, hmi: Connected) -> None:
    await sim.set_condition(OVERTEMP, True)
    await until(lambda: OVERTEMP_ID in hmi.monitor.conditions)
    seen = hmi.monitor.conditions[OVERTEMP_ID]
    # The condition changes after the operator saw it (cleared, then raised again): a new EventId.
    await sim.set_condition(OVERTEMP, False)
    await sim.set_condition(OVERTEMP, True)
    await until(lambda: hmi.monitor.conditions[OVERTEMP_ID].event_id == sim.condition(OVERTEMP).event_id)

    with pytest.raises(ConditionError, match="BadEventIdUnknown") as refused:
        await hmi.monitor.acknowledge(OVERTEMP_ID, "ack what I saw", event_id=seen.event_id)
    assert refused.value.status == "BadEventIdUnknown"
    assert not sim.condition(OVERTEMP).acked

    await hmi.monitor.acknowledge(OVERTEMP_ID, "ack the current state")
    latest = sim.condition(OVERTEMP).event_id
    await until(lambda: hmi.monitor.conditions[OVERTEMP_ID].event_id == latest)
    with pytest.raises(ConditionError) as again:
        await hmi.monitor.acknowledge(OVERTEMP_ID, "twice")
    assert again.value.status == "BadConditionBranchAlreadyAcked"
    assert sim.condition(OVERTEMP).comment == "ack the current state"


@pytest.mark.req("OPC-010")
async def test_acknowledge_errors_for_unknown_conditions_and_a_lost_connection(
    sim: PlantSimulator, hmi: Connected
) -> None:
    with pytest.raises(ConditionError) as unknown:
        await hmi.monitor.acknowledge("ns=2;s=Line9.Nothing", "x")
    assert unknown.value.status == "BadNodeIdUnknown"

    await sim.set_condition(ESTOP, True)
    await until(lambda: ESTOP_ID in hmi.monitor.conditions)
    await sim.stop()
    await until(lambda: hmi.monitor.stale)
    with pytest.raises(ConditionError, match="not connected") as down:
        await hmi.monitor.acknowledge(ESTOP_ID, "x")
    assert down.value.status == "BadNotConnected"


@pytest.mark.req("OPC-008")
async def test_retain_false_removes_the_entry(sim: PlantSimulator, hmi: Connected) -> None:
    await sim.set_condition(ESTOP, True)
    await until(lambda: ESTOP_ID in hmi.monitor.conditions)
    # Cleared while unacknowledged: listed as returned to normal, still retained.
    await sim.set_condition(ESTOP, False)
    await until(lambda: not hmi.monitor.conditions[ESTOP_ID].active)
    assert hmi.monitor.conditions[ESTOP_ID].retain

    await hmi.monitor.acknowledge(ESTOP_ID, "reset done")
    await until(lambda: ESTOP_ID not in hmi.monitor.conditions)
    removed = [alarm for batch in hmi.changes for alarm, gone in batch if gone]
    assert [a.condition_id for a in removed] == [ESTOP_ID]
    assert (removed[0].retain, removed[0].acked, removed[0].comment) == (False, True, "reset done")
    assert not sim.condition(ESTOP).retain


@pytest.mark.req("OPC-009")
async def test_server_restart_refresh_repopulates_and_removes_unconfirmed_entries(
    plant: PlantConfig, sim: PlantSimulator
) -> None:
    await sim.set_condition(ESTOP, True)
    await sim.set_condition(OVERTEMP, True)
    hmi = Connected(sim.url)
    await hmi.start()
    try:
        await hmi.refreshed()
        await until(lambda: set(hmi.monitor.conditions) == {ESTOP_ID, OVERTEMP_ID})
        refreshes = hmi.monitor.refreshes

        port = sim.port
        heard = len(hmi.changes)
        await sim.stop()
        await until(lambda: hmi.monitor.stale and len(hmi.changes) > heard)
        assert hmi.monitor.stale_since is not None
        assert set(hmi.monitor.conditions) == {ESTOP_ID, OVERTEMP_ID}, "kept for display while stale"
        assert hmi.changes[heard:] == [[]], "listeners hear (an empty batch) that the list went stale"

        # The restarted server knows only the emergency stop (pressed again); the over-temperature is gone.
        async with PlantSimulator(plant, port=port, seed=2, tick_s=0.2, params=QUIET) as again:
            await again.set_condition(ESTOP, True)
            await until(lambda: not hmi.monitor.stale, timeout=8.0)
            assert hmi.monitor.refreshes > refreshes
            assert set(hmi.monitor.conditions) == {ESTOP_ID}
            assert hmi.monitor.conditions[ESTOP_ID].event_id == again.condition(ESTOP).event_id
            removed = [alarm.condition_id for batch in hmi.changes for alarm, gone in batch if gone]
            assert removed == [OVERTEMP_ID]
            # Acknowledge works on the new session with the refreshed EventId.
            await hmi.monitor.acknowledge(ESTOP_ID, "after restart")
            assert again.condition(ESTOP).acked
            await hmi.stop()
    finally:
        await hmi.stop()


@pytest.mark.req("OPS-006")
async def test_monitor_ends_its_subscription_on_stop(sim: PlantSimulator, hmi: Connected) -> None:
    subscription_id = hmi.monitor.subscription_id
    assert subscription_id is not None
    await hmi.monitor.stop()
    assert hmi.monitor.subscription_id is None
    assert hmi.monitor.stale
    assert hmi.source.connected, "stopping the monitor leaves the data source alone"
    # The server no longer knows the subscription: a refresh for it is refused.
    async with Client(sim.url, timeout=5) as client:
        condition_type = client.get_node(ua.ObjectIds.ConditionType)
        with pytest.raises(ua.UaStatusCodeError) as refused:
            await condition_type.call_method(
                ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
                ua.Variant(subscription_id, ua.VariantType.UInt32),
            )
    assert refused.value.code == ua.StatusCodes.BadSubscriptionIdInvalid


@pytest.mark.req("OPS-008")
async def test_simulator_raises_over_temperature_from_the_value_and_estop_from_inject_fault(
    sim: PlantSimulator,
) -> None:
    sim.pause()
    assert not sim.condition("Line1.Filler.OverTemperature").active
    await sim.set_value("Line1.Filler.Temperature", 10.2)  # H limit 10
    assert sim.condition("Line1.Filler.OverTemperature").active
    await sim.set_value("Line1.Filler.Temperature", 9.7)  # inside the 0.5 deadband: stays active
    assert sim.condition("Line1.Filler.OverTemperature").active
    await sim.set_value("Line1.Filler.Temperature", 9.4)
    state = sim.condition("Line1.Filler.OverTemperature")
    assert (state.active, state.retain) == (False, True), "cleared but not acknowledged: still retained"

    async with Client(sim.url, timeout=5) as client:
        controls = client.get_node("ns=2;s=Simulator")
        result = await controls.call_method(
            ua.NodeId.from_string("ns=2;s=Simulator.InjectFault"), "Line3", "EmergencyStop"
        )
    assert result == "ok"
    assert sim.condition("Line3.EmergencyStop").active
    assert sim.model.machine("Line3", "Filler").phase == "Aborting"
    with pytest.raises(KeyError, match="not a condition"):
        sim.condition("Line9.EmergencyStop")

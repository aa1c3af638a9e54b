"""Publishing the plant to the local Mosquitto in the unified-namespace JSON format: retained tag values with
quality and unit after a change on a real OPC UA server, alarm transitions, line state and OEE, and an outage that
keeps messages on disk and sends them in order once the broker is back (docs/mqtt.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hmi.alarms.engine import AlarmEngine
from hmi.config import PlantConfig
from hmi.mqtt.outbox import Outbox
from hmi.mqtt.publisher import MqttPublisher
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.tags import Quality, TagCache, TagState
from tests.mqtt_broker import BROKER_HOST, BROKER_PORT, BROKER_URL, clear_retained, subscriber, unique_root, with_mqtt
from tests.opcua_server import SmallServer, free_port
from tests.plant_fixture import INITIAL, small_plant
from tests.tcp_proxy import TcpProxy
from tests.waiting import until

SITE = "Test Plant"


@pytest.fixture
async def server() -> AsyncIterator[SmallServer]:
    srv = SmallServer(free_port(), dict(INITIAL))
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def runtime_for(tmp_path: Path) -> AsyncIterator[Any]:
    """Start a Runtime for a plant (stopped at the end of the test)."""
    started: list[Runtime] = []

    async def start(plant: PlantConfig) -> Runtime:
        rt = Runtime(plant, Database(f"sqlite:///{tmp_path / 'hmi.db'}"), data_dir=tmp_path)
        await rt.start()
        started.append(rt)
        return rt

    yield start
    for rt in started:
        if rt.started:
            await rt.stop()


def last_json(payloads: list[bytes]) -> dict[str, Any] | None:
    return json.loads(payloads[-1]) if payloads else None


@pytest.mark.req("MQT-002", "MQT-003", "MQT-004")
async def test_values_alarms_and_line_state_are_published_retained(server: SmallServer, runtime_for: Any) -> None:
    root = unique_root()
    rt = await runtime_for(with_mqtt(small_plant(server.url), url=BROKER_URL, topic_root=root))
    assert rt.mqtt is not None
    line = f"{root}/{SITE}/Packing/L1"
    temp = f"{line}/M1/L1.M1.Temp"
    await until(rt.mqtt.connected.is_set, timeout=15)
    await server.write("L1.M1.Temp", 85.5)
    await server.write("L1.State", "Held")
    await until(lambda: (a := rt.alarms.get("L1.M1.Temp.H")) is not None and a.value == 85.5, timeout=15)
    await until(lambda: rt.mqtt.status.published >= 1 and rt.mqtt.idle, timeout=15)

    # A subscriber that comes later still gets every retained last value.
    async with subscriber(f"{root}/#") as seen:
        value = await until(lambda: (p := last_json(seen.on(temp))) and p["value"] == 85.5 and p, timeout=15)
        assert value["quality"] == "good"
        assert value["status"] == "Good"
        assert value["unit"] == "°C"
        assert value["timestamp"].endswith("Z")
        retained = {t: r for t, _, r in seen.messages}
        assert retained[temp] is True
        speed = await until(lambda: last_json(seen.on(f"{line}/L1.Speed")), timeout=15)
        assert (speed["value"], speed["unit"]) == (300.0, "bpm"), "a line's own tag sits below the line"

        alarm = await until(lambda: last_json(seen.on(f"{line}/M1/_alarms/L1.M1.Temp.H")), timeout=15)
        assert (alarm["event"], alarm["state"], alarm["priority"]) == ("activated", "active_unack", 2)
        assert (alarm["tag"], alarm["value"]) == ("L1.M1.Temp", 85.5)
        state = await until(lambda: (p := last_json(seen.on(f"{line}/_state"))) and p["state"] == "Held" and p)
        assert state["quality"] == "good"
        oee = await until(lambda: last_json(seen.on(f"{line}/_oee")), timeout=15)
        assert oee["shift"] in ("Early", "Late", "Night")
        assert {"oee", "availability", "performance", "quality", "good", "rejects"} <= oee.keys()

        # The alarm's next transition replaces its retained state.
        await server.write("L1.M1.Temp", 70.0)
        cleared = await until(
            lambda: (p := last_json(seen.on(f"{line}/M1/_alarms/L1.M1.Temp.H"))) and p["event"] != "activated" and p,
            timeout=15,
        )
        assert cleared["state"] == "rtn_unack"
    await rt.stop()
    await clear_retained(root, seen)


@pytest.mark.req("MQT-005", "MQT-006")
async def test_an_outage_keeps_messages_on_disk_and_sends_them_in_order(
    server: SmallServer, runtime_for: Any, tmp_path: Path
) -> None:
    root = unique_root()
    proxy = TcpProxy(BROKER_HOST, BROKER_PORT)
    port = await proxy.start()
    try:
        plant = with_mqtt(small_plant(server.url), url=f"mqtt://127.0.0.1:{port}", topic_root=root, reconnect_s=0.2)
        rt = await runtime_for(plant)
        assert rt.mqtt is not None
        await until(rt.mqtt.connected.is_set, timeout=15)
        speed = f"{root}/{SITE}/Packing/L1/L1.Speed"
        async with subscriber(speed) as seen:
            await until(lambda: seen.on(speed), timeout=15)
            # Everything acknowledged first: a message whose acknowledgement the cut loses is sent again.
            await until(lambda: rt.mqtt.connected.is_set() and rt.mqtt.idle, timeout=15)
            await proxy.cut()
            status = await until(
                lambda: (s := rt.mqtt.status).state == "unreachable" and s, timeout=30, what="the outage noticed"
            )
            assert status.since is not None
            values = [301.0 + i for i in range(20)]
            for value in values:
                await server.write("L1.Speed", value)
                await until(lambda v=value: (s := rt.cache.get("L1.Speed")) is not None and s.value == v)
            # Every change waits on disk, none was dropped.
            await until(lambda: rt.mqtt.status.on_disk >= len(values), timeout=15, what="the changes on disk")
            assert rt.mqtt.status.dropped == 0
            assert (tmp_path / "mqtt-outbox" / "outbox.sqlite3").is_file()
            before = len(seen.on(speed))

            await proxy.restore()
            await until(lambda: rt.mqtt.status.state == "connected" and rt.mqtt.status.on_disk == 0, timeout=30)
            await until(lambda: len(seen.on(speed)) >= before + len(values), timeout=15)
            received = [json.loads(p)["value"] for p in seen.on(speed)[before:]]
            assert received == values, "replayed in the order the values changed"
        await rt.stop()
        await clear_retained(root, seen)
    finally:
        await proxy.close()


@pytest.mark.req("MQT-005")
async def test_the_outbox_is_bounded_drops_the_oldest_and_remembers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_events=3)
    await outbox.open()
    assert await outbox.append(["a", "b"]) == 0
    assert await outbox.append(["c", "d", "e"]) == 2
    assert [e for _, e in await outbox.oldest(10)] == ["c", "d", "e"]
    await outbox.close()

    again = Outbox(tmp_path / "outbox.sqlite3", max_events=3)
    await again.open()
    assert (again.count, again.dropped) == (3, 2), "what waits and what was dropped survive a restart"
    first = await again.oldest(2)
    await again.remove_through(first[-1][0])
    assert [e for _, e in await again.oldest(10)] == ["e"]
    assert again.count == 1
    await again.close()


@pytest.mark.req("MQT-005")
async def test_a_burst_beyond_the_queue_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    # The cache's listener only enqueues: a burst larger than the queue costs the oldest changes (counted), never
    # a wait inside the cache's update. Nothing listens on the broker port, so what stays goes to disk.
    closed = free_port()
    plant = with_mqtt(small_plant("opc.tcp://127.0.0.1:1"), url=f"mqtt://127.0.0.1:{closed}", queue_size=100)
    cache = TagCache()
    publisher = MqttPublisher(
        plant.mqtt,  # type: ignore[arg-type]
        plant,
        cache,
        AlarmEngine(plant, cache),
        None,
        tmp_path / "outbox",
    )
    await publisher.start()
    try:
        now = datetime.now(UTC)
        cache.update([TagState("L1.Speed", float(i), 0, Quality.GOOD, now, now, now) for i in range(150)])
        assert publisher.status.dropped == 50
        await until(lambda: publisher.status.on_disk == 100, timeout=15)
        kept = [json.loads(e)["value"] for _, e in await publisher.outbox.oldest(200)]
        assert kept == [float(i) for i in range(50, 150)], "the newest 100, in order"
    finally:
        await publisher.stop()

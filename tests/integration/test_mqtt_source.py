"""Tags from MQTT: an `mqtt` endpoint beside OPC UA reads a topic's JSON (a path per tag) or Sparkplug B metrics
from the local Mosquitto, with quality: silence past stale_after_s, a Sparkplug DDEATH or NDEATH and a lost broker
turn the tags STALE; alarms work on them unchanged (docs/mqtt.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pysparkplug as spb
import pytest

from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.runtime import Runtime
from hmi.sources.base import StatusBoard
from hmi.sources.mqtt import REBIRTH, REBIRTH_S, MqttSource
from hmi.store.database import Database
from hmi.tags import Quality, TagCache
from tests.mqtt_broker import BROKER_HOST, BROKER_PORT
from tests.tcp_proxy import TcpProxy
from tests.waiting import until

PLANT = """
site: {{name: MQTT Plant, timezone: UTC}}
endpoints:
  - {{name: broker, url: "mqtt://127.0.0.1:{port}", stale_after_s: {stale}}}
  - {{name: edge, url: "mqtt://127.0.0.1:{port}", payload: sparkplug, stale_after_s: 60}}
areas:
  - name: Packing
    lines:
      - name: L1
        tags:
          - {{name: L1.Speed, endpoint: broker, node_id: "{root}/L1/speed", unit: bpm}}
          - name: L1.Temp
            endpoint: broker
            node_id: "{root}/L1/filler"
            json_path: data.temp
            unit: °C
            alarms: [{{type: H, limit: 80, priority: 2, message: Filler hot}}]
          - {{name: L1.Level, endpoint: edge, node_id: "{group}/plc-7/Filler", metric: Tank/Level, unit: "%"}}
          - {{name: L1.Run, endpoint: edge, node_id: "{group}/plc-7", metric: Running, data_type: bool}}
"""


def plant(port: int, root: str, group: str, stale: float = 30) -> PlantConfig:
    return parse_config(PLANT.format(port=port, root=root, group=group, stale=stale), "mqtt-plant.yaml")


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    p = TcpProxy(BROKER_HOST, BROKER_PORT)
    await p.start()
    yield p
    await p.close()


async def publish(topic: str, payload: bytes, retain: bool = False) -> None:
    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


def ms(seconds: float) -> int:
    return int(seconds * 1000)


@pytest.mark.req("MQT-009", "MQT-010")
async def test_json_and_sparkplug_tags_with_quality(proxy: TcpProxy, tmp_path: Path) -> None:
    root = f"hmi-test/{uuid.uuid4().hex[:12]}"
    group = f"hmi-test-{uuid.uuid4().hex[:10]}"
    rt = Runtime(plant(proxy.port, root, group), Database(f"sqlite:///{tmp_path / 'hmi.db'}"), data_dir=tmp_path)
    await rt.start()
    try:
        await until(lambda: all(s.connected for s in rt.mqtt_sources), timeout=15)
        # JSON: the `value` key by default, a dotted path per tag, the message's timestamp as source time.
        await publish(f"{root}/L1/speed", json.dumps({"value": 301.5, "timestamp": "2026-12-03T10:00:00Z"}).encode())
        await publish(f"{root}/L1/filler", json.dumps({"data": {"temp": 85}}).encode())
        speed = await until(lambda: rt.cache.get("L1.Speed"), timeout=15)
        assert (speed.value, speed.quality) == (301.5, Quality.GOOD)
        assert speed.source_time is not None
        assert speed.source_time.isoformat() == "2026-12-03T10:00:00+00:00"
        temp = await until(lambda: rt.cache.get("L1.Temp"), timeout=15)
        assert (temp.value, temp.quality) == (85.0, Quality.GOOD)
        # Alarms work on MQTT tags as on OPC UA tags.
        await until(lambda: rt.alarms.get("L1.Temp.H"), timeout=15)
        # A value of the wrong type is BAD, kept for diagnosis.
        await publish(f"{root}/L1/speed", json.dumps({"value": "fast"}).encode())
        bad = await until(lambda: (s := rt.cache.get("L1.Speed")) is not None and s.value == "fast" and s)
        assert bad.quality is Quality.BAD

        # Sparkplug: births name the metrics, DDATA carries them (by alias here), deaths make them STALE.
        now = ms(1_780_000_000)
        nbirth = spb.NBirth(
            timestamp=now,
            seq=0,
            metrics=(
                spb.Metric(timestamp=now, name="bdSeq", datatype=spb.DataType.INT64, value=0),
                spb.Metric(timestamp=now, name="Running", datatype=spb.DataType.BOOLEAN, value=True),
            ),
        )
        dbirth = spb.DBirth(
            timestamp=now,
            seq=1,
            metrics=(spb.Metric(timestamp=now, name="Tank/Level", datatype=spb.DataType.DOUBLE, value=40.0, alias=7),),
        )
        await publish(f"spBv1.0/{group}/NBIRTH/plc-7", nbirth.encode())
        await publish(f"spBv1.0/{group}/DBIRTH/plc-7/Filler", dbirth.encode())
        level = await until(lambda: rt.cache.get("L1.Level"), timeout=15)
        assert (level.value, level.quality) == (40.0, Quality.GOOD)
        running = await until(lambda: rt.cache.get("L1.Run"), timeout=15)
        assert running.value is True
        ddata = spb.DData(
            timestamp=now + 1000,
            seq=2,
            metrics=(spb.Metric(timestamp=now + 1000, name=None, alias=7, datatype=spb.DataType.DOUBLE, value=42.5),),
        )
        await publish(f"spBv1.0/{group}/DDATA/plc-7/Filler", ddata.encode())
        await until(lambda: (s := rt.cache.get("L1.Level")) is not None and s.value == 42.5, timeout=15)
        await publish(f"spBv1.0/{group}/DDEATH/plc-7/Filler", spb.DDeath(timestamp=now + 2000, seq=3).encode())
        await until(lambda: rt.cache.get("L1.Level").quality is Quality.STALE, timeout=15)  # type: ignore[union-attr]
        assert rt.cache.get("L1.Run").quality is Quality.GOOD, "DDEATH ends only that device"  # type: ignore[union-attr]
        ndeath = spb.NDeath(
            timestamp=now + 3000,
            bd_seq_metric=spb.Metric(timestamp=None, name="bdSeq", datatype=spb.DataType.INT64, value=0),
        )
        await publish(f"spBv1.0/{group}/NDEATH/plc-7", ndeath.encode())
        await until(lambda: rt.cache.get("L1.Run").quality is Quality.STALE, timeout=15)  # type: ignore[union-attr]

        # The broker lost: every tag of the endpoint STALE, the endpoint down on the status board.
        await proxy.cut()
        await until(lambda: rt.cache.get("L1.Temp").quality is Quality.STALE, timeout=15)  # type: ignore[union-attr]
        status = await until(lambda: rt.board.get("broker"), timeout=15)
        assert not status.connected
        await proxy.restore()
        await until(lambda: all(s.connected for s in rt.mqtt_sources), timeout=15)
    finally:
        await rt.stop()


@pytest.mark.req("MQT-010")
async def test_a_silent_topic_turns_stale(proxy: TcpProxy, tmp_path: Path) -> None:
    root = f"hmi-test/{uuid.uuid4().hex[:12]}"
    rt = Runtime(
        plant(proxy.port, root, "unused", stale=0.5), Database(f"sqlite:///{tmp_path / 'hmi.db'}"), data_dir=tmp_path
    )
    await rt.start()
    try:
        await until(lambda: all(s.connected for s in rt.mqtt_sources), timeout=15)
        await publish(f"{root}/L1/speed", json.dumps({"value": 12.0}).encode())
        await until(lambda: rt.cache.get("L1.Speed"), timeout=15)
        # Nothing more is published: past stale_after_s the value is STALE, its last value kept.
        stale = await until(lambda: (s := rt.cache.get("L1.Speed")) is not None and s.quality is Quality.STALE and s)
        assert stale.value == 12.0
        await publish(f"{root}/L1/speed", json.dumps({"value": 13.0}).encode())
        await until(lambda: (s := rt.cache.get("L1.Speed")) is not None and s.quality is Quality.GOOD, timeout=15)
    finally:
        await rt.stop()


def births(now: int, bd_seq: int) -> tuple[bytes, bytes]:
    """An NBIRTH (bdSeq `bd_seq`, seq 0, Running) and the Filler's DBIRTH (seq 1, Tank/Level as alias 7)."""
    nbirth = spb.NBirth(
        timestamp=now,
        seq=0,
        metrics=(
            spb.Metric(timestamp=now, name="bdSeq", datatype=spb.DataType.INT64, value=bd_seq),
            spb.Metric(timestamp=now, name="Running", datatype=spb.DataType.BOOLEAN, value=True),
        ),
    )
    dbirth = spb.DBirth(
        timestamp=now,
        seq=1,
        metrics=(spb.Metric(timestamp=now, name="Tank/Level", datatype=spb.DataType.DOUBLE, value=40.0, alias=7),),
    )
    return nbirth.encode(), dbirth.encode()


def level_data(now: int, seq: int, value: float) -> bytes:
    """A DDATA of the Filler's Tank/Level by its alias only, as edge nodes send after their births."""
    metric = spb.Metric(timestamp=now, name=None, alias=7, datatype=spb.DataType.DOUBLE, value=value)
    return spb.DData(timestamp=now, seq=seq, metrics=(metric,)).encode()


def death(now: int, bd_seq: int) -> bytes:
    return spb.NDeath(
        timestamp=now, bd_seq_metric=spb.Metric(timestamp=None, name="bdSeq", datatype=spb.DataType.INT64, value=bd_seq)
    ).encode()


@pytest.mark.req("MQT-010")
async def test_a_late_host_asks_for_a_rebirth_and_ignores_an_earlier_will(proxy: TcpProxy, tmp_path: Path) -> None:
    group = f"hmi-test-{uuid.uuid4().hex[:10]}"
    rt = Runtime(plant(proxy.port, "unused", group), Database(f"sqlite:///{tmp_path / 'hmi.db'}"), data_dir=tmp_path)
    now = ms(1_780_000_000)
    # The edge node, on one connection, so the broker keeps its messages in order.
    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as edge:
        await edge.subscribe(f"spBv1.0/{group}/NCMD/plc-7", qos=1)
        await rt.start()
        try:
            await until(lambda: all(s.connected for s in rt.mqtt_sources), timeout=15)
            # The edge node ran before the HMI started: its data comes before any birth the HMI has seen.
            await edge.publish(f"spBv1.0/{group}/DDATA/plc-7/Filler", level_data(now, 9, 41.0), qos=1)
            async with asyncio.timeout(15):
                message = await anext(aiter(edge.messages))
            assert isinstance(message.payload, bytes)
            command = spb.NCmd.decode(message.payload)
            assert [(m.name, m.value) for m in command.metrics] == [(REBIRTH, True)]
            assert rt.cache.get("L1.Level") is None, "nothing is guessed from an alias without its birth"
            # It is born again (its connection's bdSeq is 4): the values arrive.
            nbirth, dbirth = births(now, bd_seq=4)
            await edge.publish(f"spBv1.0/{group}/NBIRTH/plc-7", nbirth, qos=1)
            await edge.publish(f"spBv1.0/{group}/DBIRTH/plc-7/Filler", dbirth, qos=1)
            await edge.publish(f"spBv1.0/{group}/DDATA/plc-7/Filler", level_data(now + 1000, 2, 42.5), qos=1)
            await until(lambda: (s := rt.cache.get("L1.Level")) is not None and s.value == 42.5, timeout=15)
            # The will of its earlier connection (bdSeq 3) arrives late: it does not end the current one.
            await edge.publish(f"spBv1.0/{group}/NDEATH/plc-7", death(now + 2000, bd_seq=3), qos=1)
            await edge.publish(f"spBv1.0/{group}/DDATA/plc-7/Filler", level_data(now + 3000, 3, 43.0), qos=1)
            level = await until(lambda: (s := rt.cache.get("L1.Level")) is not None and s.value == 43.0 and s)
            assert level.quality is Quality.GOOD
            assert rt.cache.get("L1.Run").quality is Quality.GOOD  # type: ignore[union-attr]
            # Its own will (bdSeq 4) ends it.
            await edge.publish(f"spBv1.0/{group}/NDEATH/plc-7", death(now + 4000, bd_seq=4), qos=1)
            await until(lambda: rt.cache.get("L1.Run").quality is Quality.STALE, timeout=15)  # type: ignore[union-attr]
            assert rt.cache.get("L1.Level").quality is Quality.STALE  # type: ignore[union-attr]
        finally:
            await rt.stop()


@pytest.mark.req("MQT-010")
def test_a_gap_in_the_sequence_asks_for_a_rebirth_at_most_every_few_seconds() -> None:
    config = plant(1883, "unused", "plant")
    edge = next(e for e in config.endpoints if e.name == "edge")
    tags = [ref.tag for ref in config.tags.values() if ref.tag.endpoint == "edge"]
    clock = ManualClock()
    cache = TagCache()
    source = MqttSource(edge, tags, cache, StatusBoard(), clock=clock)
    now = ms(1_780_000_000)
    nbirth, dbirth = births(now, bd_seq=0)
    source.receive("spBv1.0/plant/NBIRTH/plc-7", nbirth)
    source.receive("spBv1.0/plant/DBIRTH/plc-7/Filler", dbirth)
    source.receive("spBv1.0/plant/DDATA/plc-7/Filler", level_data(now, 2, 41.0))
    assert source.take_commands() == [], "births and data in sequence ask nothing"
    source.receive("spBv1.0/plant/DDATA/plc-7/Filler", level_data(now, 5, 42.0))
    (topic, payload), *more = source.take_commands()
    assert (topic, more) == ("spBv1.0/plant/NCMD/plc-7", [])
    assert [(m.name, m.value) for m in spb.NCmd.decode(payload).metrics] == [(REBIRTH, True)]
    assert cache.get("L1.Level").value == 42.0, "the value still counts; only what was lost is asked for"  # type: ignore[union-attr]
    source.receive("spBv1.0/plant/DDATA/plc-7/Filler", level_data(now, 9, 43.0))
    assert source.take_commands() == [], f"not again within {REBIRTH_S} s"
    clock.advance(REBIRTH_S)
    source.receive("spBv1.0/plant/DDATA/plc-7/Filler", level_data(now, 20, 44.0))
    assert [t for t, _ in source.take_commands()] == ["spBv1.0/plant/NCMD/plc-7"]
    source.receive("spBv1.0/plant/DDATA/plc-7/Filler", level_data(now, 21, 45.0))
    source.receive("spBv1.0/plant/NBIRTH/plc-7", nbirth)
    clock.advance(REBIRTH_S)
    source.receive("spBv1.0/plant/DBIRTH/plc-7/Filler", dbirth)
    assert source.take_commands() == [], "a new NBIRTH starts the sequence afresh"

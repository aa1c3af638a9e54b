"""Tags from MQTT: an `mqtt` endpoint beside OPC UA reads a topic's JSON (a path per tag) or Sparkplug B metrics
from the local Mosquitto, with quality: silence past stale_after_s, a Sparkplug DDEATH or NDEATH and a lost broker
turn the tags STALE; alarms work on them unchanged (docs/mqtt.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pysparkplug as spb
import pytest

from hmi.config import PlantConfig, parse_config
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.tags import Quality
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

"""The HMI as a Sparkplug B edge node on the local Mosquitto, decoded with pysparkplug: NBIRTH and DBIRTH with
metrics, datatypes and units, DDATA on a change on a real OPC UA server with running sequence numbers, NDEATH as
the last will (and on a clean stop) with the connection's bdSeq, and a new birth on `Node Control/Rebirth`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pysparkplug as spb
import pytest
from pysparkplug._protobuf import Payload  # the raw protobuf, to read metric properties pysparkplug does not model

from hmi.runtime import Runtime
from hmi.store.database import Database
from tests.mqtt_broker import BROKER_HOST, BROKER_PORT, Collected, subscriber, with_mqtt
from tests.opcua_server import SmallServer, free_port
from tests.plant_fixture import INITIAL, small_plant
from tests.tcp_proxy import TcpProxy
from tests.waiting import until

NODE = "hmi-1"


@pytest.fixture
async def server() -> AsyncIterator[SmallServer]:
    srv = SmallServer(free_port(), dict(INITIAL))
    await srv.start()
    yield srv
    await srv.stop()


def of_type(seen: Collected, group: str, kind: str, device: str | None = None) -> list[bytes]:
    topic = f"spBv1.0/{group}/{kind}/{NODE}" + (f"/{device}" if device else "")
    return seen.on(topic)


def metrics_of(payload: Any) -> dict[str, spb.Metric]:
    return {m.name: m for m in payload.metrics}


def properties_of(raw: bytes, name: str) -> dict[str, str]:
    metric = next(m for m in Payload.FromString(raw).metrics if m.name == name)
    return {k: v.string_value for k, v in zip(metric.properties.keys, metric.properties.values, strict=True)}


def seqs(seen: Collected, group: str) -> list[int]:
    """The seq of every NBIRTH, DBIRTH and DDATA of the node, in the order received."""
    out = []
    for topic, raw, _ in seen.messages:
        kind = topic.split("/")[2]
        if kind in ("NBIRTH", "DBIRTH", "DDATA"):
            out.append(Payload.FromString(raw).seq)
    return out


@pytest.mark.req("MQT-007")
async def test_births_data_death_and_rebirth(server: SmallServer, tmp_path: Path) -> None:
    group = f"hmi-test-{uuid.uuid4().hex[:10]}"
    proxy = TcpProxy(BROKER_HOST, BROKER_PORT)
    port = await proxy.start()
    plant = with_mqtt(
        small_plant(server.url),
        url=f"mqtt://127.0.0.1:{port}",
        format="sparkplug",
        sparkplug={"group_id": group, "edge_node_id": NODE},
        reconnect_s=0.2,
    )
    rt = Runtime(plant, Database(f"sqlite:///{tmp_path / 'hmi.db'}"), data_dir=tmp_path)
    try:
        async with subscriber(f"spBv1.0/{group}/#") as seen:
            await rt.start()
            await until(lambda: all(rt.cache.get(n) is not None for n in INITIAL), timeout=15)
            raw_nbirth = (await until(lambda: of_type(seen, group, "NBIRTH"), timeout=15))[0]
            nbirth = spb.NBirth.decode(raw_nbirth)
            node = metrics_of(nbirth)
            assert (node["bdSeq"].value, nbirth.seq) == (0, 0)
            assert node["Node Control/Rebirth"].datatype is spb.DataType.BOOLEAN
            raw_dbirth = (await until(lambda: of_type(seen, group, "DBIRTH", "L1.M1"), timeout=15))[0]
            dbirth = spb.DBirth.decode(raw_dbirth)
            machine = metrics_of(dbirth)
            assert machine["L1.M1.Temp"].datatype is spb.DataType.DOUBLE
            assert machine["L1.M1.Jam"].datatype is spb.DataType.BOOLEAN
            assert properties_of(raw_dbirth, "L1.M1.Temp")["engUnit"] == "°C"
            assert machine["Alarms/L1.M1.Temp.H"].datatype is spb.DataType.STRING
            line = metrics_of(spb.DBirth.decode((await until(lambda: of_type(seen, group, "DBIRTH", "L1")))[0]))
            assert line["L1.Speed"].datatype is spb.DataType.DOUBLE
            assert line["L1.Good"].datatype is spb.DataType.INT64
            assert line["Line/State"].datatype is spb.DataType.STRING

            # A change on the OPC UA server: DDATA on the machine's device, decoded against its DBIRTH.
            await server.write("L1.M1.Temp", 72.5)

            def temp_data() -> list[spb.Metric]:
                found = []
                for raw in of_type(seen, group, "DDATA", "L1.M1"):
                    found += [m for m in spb.DData.decode(raw, birth=dbirth).metrics if m.name == "L1.M1.Temp"]
                return [m for m in found if m.value == 72.5]

            [temp] = await until(temp_data, timeout=15)
            assert temp.datatype is spb.DataType.DOUBLE
            assert not temp.is_historical
            numbers = seqs(seen, group)
            assert numbers == list(range(len(numbers))), "seq runs on from the NBIRTH's 0, one per message"

            # Rebirth on request: a new NBIRTH (seq 0, the same bdSeq) and DBIRTHs.
            async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as host:
                command = spb.NCmd(
                    timestamp=0,
                    metrics=(
                        spb.Metric(timestamp=0, name="Node Control/Rebirth", datatype=spb.DataType.BOOLEAN, value=True),
                    ),
                )
                await host.publish(f"spBv1.0/{group}/NCMD/{NODE}", command.encode(include_dtypes=True), qos=1)
            births = await until(lambda: len(of_type(seen, group, "NBIRTH")) >= 2 and of_type(seen, group, "NBIRTH"))
            reborn = spb.NBirth.decode(births[1])
            assert (metrics_of(reborn)["bdSeq"].value, reborn.seq) == (0, 0)
            await until(lambda: len(of_type(seen, group, "DBIRTH", "L1.M1")) >= 2)

            # The connection is lost: the broker publishes the last will, NDEATH with that connection's bdSeq.
            await proxy.cut()
            death = (await until(lambda: of_type(seen, group, "NDEATH"), timeout=30))[0]
            assert spb.NDeath.decode(death).bd_seq_metric.value == 0
            await proxy.restore()
            births = await until(lambda: len(of_type(seen, group, "NBIRTH")) >= 3 and of_type(seen, group, "NBIRTH"))
            assert metrics_of(spb.NBirth.decode(births[2]))["bdSeq"].value == 1, "a new session, a new bdSeq"

            # A clean stop says the death itself.
            await rt.stop()
            deaths = await until(lambda: len(of_type(seen, group, "NDEATH")) >= 2 and of_type(seen, group, "NDEATH"))
            assert spb.NDeath.decode(deaths[1]).bd_seq_metric.value == 1

            # The next start goes on from the last bdSeq (kept in the data directory).
            again = Runtime(plant, Database(f"sqlite:///{tmp_path / 'hmi.db'}"), data_dir=tmp_path)
            await again.start()
            try:
                births = await until(
                    lambda: len(of_type(seen, group, "NBIRTH")) >= 4 and of_type(seen, group, "NBIRTH"), timeout=15
                )
                assert metrics_of(spb.NBirth.decode(births[3]))["bdSeq"].value == 2
            finally:
                await again.stop()
    finally:
        if rt.started:
            await rt.stop()
        await proxy.close()

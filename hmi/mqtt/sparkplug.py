"""The `sparkplug` format: the HMI as a Sparkplug B edge node (Eclipse Sparkplug 3.0), payloads from pysparkplug.

One edge node (`sparkplug.group_id` / `sparkplug.edge_node_id`); each machine is a device `<line>.<machine>` and
each line a device `<line>` holding the line's own tags, its state and OEE. On every connection: NBIRTH (bdSeq,
`Node Control/Rebirth`), then a DBIRTH per device with every metric's name, datatype, current value and unit (the
property `engUnit`, the name Sparkplug host applications read units from). Then a DDATA per change, the sequence
number running 0-255 across the node's messages; events kept on disk during an outage follow as historical metrics.
NDEATH with the connection's bdSeq is the MQTT last will; a clean stop publishes it before disconnecting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import pysparkplug as spb

from hmi.clock import Clock
from hmi.config import PlantConfig, TagRef
from hmi.mqtt.events import Event, Message, parse_iso
from hmi.mqtt.settings import MqttConfig, sparkplug_id
from hmi.tags import Quality, TagCache

REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"
# Sparkplug 3.0: births and data are published with QoS 0 and without retain; the NDEATH will with QoS 1.
DATA_QOS = 0
WILL_QOS = 1
_TYPES = {
    "float": spb.DataType.DOUBLE,
    "int": spb.DataType.INT64,
    "bool": spb.DataType.BOOLEAN,
    "string": spb.DataType.STRING,
}
LINE_METRICS = {
    "Line/State": spb.DataType.STRING,
    "Line/Shift": spb.DataType.STRING,
    "Line/OEE": spb.DataType.DOUBLE,
    "Line/Availability": spb.DataType.DOUBLE,
    "Line/Performance": spb.DataType.DOUBLE,
    "Line/Quality": spb.DataType.DOUBLE,
}
_OEE_FIELDS = {
    "Line/Shift": "shift",
    "Line/OEE": "oee",
    "Line/Availability": "availability",
    "Line/Performance": "performance",
    "Line/Quality": "quality",
}


@dataclasses.dataclass(frozen=True)
class PropertyMetric(spb.Metric):
    """A metric with text properties (Sparkplug PropertySet): pysparkplug's Metric has none, so `to_pb` adds them
    to the protobuf metric it builds (checked against pysparkplug 0.3)."""

    properties: tuple[tuple[str, str], ...] = ()

    def to_pb(self, include_dtype: bool) -> Any:
        metric = super().to_pb(include_dtype)
        for key, text in self.properties:
            metric.properties.keys.append(key)
            value = metric.properties.values.add()
            value.type = spb.DataType.STRING
            value.string_value = text
        return metric


def metric_value(data_type: spb.DataType, value: Any) -> Any:
    """`value` as the metric's type, or None (sent as is_null) when it is not of that type (a BAD value)."""
    if value is None:
        return None
    if data_type is spb.DataType.BOOLEAN:
        return value if isinstance(value, bool) else None
    if data_type is spb.DataType.INT64:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if data_type is spb.DataType.DOUBLE:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return str(value)


def _ms(text: str | None, fallback: int) -> int:
    when = parse_iso(text)
    return fallback if when is None else int(when.timestamp() * 1000)


class SparkplugEncoder:
    """Sparkplug B births, data and death of this HMI's edge node."""

    def __init__(
        self,
        config: MqttConfig,
        plant: PlantConfig,
        cache: TagCache,
        clock: Clock,
        alarm_state: Callable[[str], str] | None = None,
    ) -> None:
        self.config = config
        self.plant = plant
        self.cache = cache
        self.clock = clock
        self.alarm_state = alarm_state or (lambda _id: "normal")
        self.group = config.sparkplug.group_id
        self.node = config.sparkplug.edge_node_id or sparkplug_id(plant.site.name)
        self.bd_seq = -1
        self.seq = 0
        self._oee: dict[str, Event] = {}

    # ------------------------------------------------------------------------------------------------ places

    def use_plant(self, plant: PlantConfig) -> None:
        """Take a reloaded plant's tags (the publisher asks for a rebirth after)."""
        self.plant = plant

    def device_of(self, ref: TagRef) -> str:
        """The device a tag belongs to: its machine `<line>.<machine>`, else its line `<line>`."""
        if ref.machine is None:
            return sparkplug_id(ref.line.name)
        return sparkplug_id(f"{ref.line.name}.{ref.machine.name}")

    def topic(self, kind: spb.MessageType, device: str | None = None) -> str:
        return str(spb.Topic(group_id=self.group, message_type=kind, edge_node_id=self.node, device_id=device))

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    # ------------------------------------------------------------------------------------------------ session

    def will(self) -> Message | None:
        """The NDEATH of the next connection: a new bdSeq (0-255) that its NBIRTH repeats."""
        self.bd_seq = (self.bd_seq + 1) % 256
        return self.death()

    def death(self) -> Message | None:
        """The NDEATH of the current connection."""
        payload = spb.NDeath(
            timestamp=self._now_ms(),
            bd_seq_metric=spb.Metric(timestamp=None, name=BD_SEQ, datatype=spb.DataType.INT64, value=self.bd_seq),
        )
        return Message(self.topic(spb.MessageType.NDEATH), payload.encode(), WILL_QOS, False)

    def commands(self) -> list[str]:
        """The node's command topic (NCMD)."""
        return [self.topic(spb.MessageType.NCMD)]

    def command(self, topic: str, payload: bytes) -> bool:
        """True for an NCMD that sets `Node Control/Rebirth`."""
        if topic != self.topic(spb.MessageType.NCMD):
            return False
        cmd = spb.NCmd.decode(payload)
        return any(m.name == REBIRTH and bool(m.value) for m in cmd.metrics)

    def births(self) -> list[Message]:
        """NBIRTH (sequence 0) and a DBIRTH per device with the current values."""
        now = self._now_ms()
        self.seq = 0
        node_metrics = (
            spb.Metric(timestamp=now, name=BD_SEQ, datatype=spb.DataType.INT64, value=self.bd_seq),
            spb.Metric(timestamp=now, name=REBIRTH, datatype=spb.DataType.BOOLEAN, value=False),
        )
        out = [
            Message(
                self.topic(spb.MessageType.NBIRTH),
                spb.NBirth(timestamp=now, seq=self._next_seq(), metrics=node_metrics).encode(),
                DATA_QOS,
                False,
            )
        ]
        for device, metrics in self._devices(now).items():
            payload = spb.DBirth(timestamp=now, seq=self._next_seq(), metrics=tuple(metrics))
            out.append(Message(self.topic(spb.MessageType.DBIRTH, device), payload.encode(), DATA_QOS, False))
        return out

    def _devices(self, now: int) -> dict[str, list[spb.Metric]]:
        devices: dict[str, list[spb.Metric]] = {}
        publish = self.config.publish
        for _, line in self.plant.lines():
            if publish.lines:
                metrics = devices.setdefault(sparkplug_id(line.name), [])
                state = self.cache.get(line.state_tag) if line.state_tag else None
                oee = self._oee.get(line.name, {})
                for name, data_type in LINE_METRICS.items():
                    if name == "Line/State":
                        raw = state.value if state is not None else None
                    else:
                        raw = oee.get(_OEE_FIELDS[name])
                    value = metric_value(data_type, raw)
                    metrics.append(spb.Metric(timestamp=now, name=name, datatype=data_type, value=value))
        for name, ref in self.plant.tags.items():
            metrics = devices.setdefault(self.device_of(ref), [])
            if publish.tags:
                metrics.append(self._tag_metric(name, now, birth=True))
            if publish.alarms:
                for alarm in ref.tag.alarms:
                    alarm_id = f"{name}.{alarm.key()}"
                    metrics.append(
                        spb.Metric(
                            timestamp=now,
                            name=f"Alarms/{alarm_id}",
                            datatype=spb.DataType.STRING,
                            value=self.alarm_state(alarm_id),
                        )
                    )
        return {device: metrics for device, metrics in devices.items() if metrics}

    def _tag_metric(self, name: str, now: int, *, birth: bool = False) -> spb.Metric:
        ref = self.plant.tags[name]
        data_type = _TYPES[ref.tag.data_type]
        state = self.cache.get(name)
        quality = state.quality.value if state is not None else Quality.BAD.value
        value = metric_value(data_type, state.value) if state is not None and state.good else None
        when = int(state.time.timestamp() * 1000) if state is not None else now
        properties = [("quality", quality)]
        if birth and ref.tag.unit:
            properties.append(("engUnit", ref.tag.unit))
        return PropertyMetric(timestamp=when, name=name, datatype=data_type, value=value, properties=tuple(properties))

    # ------------------------------------------------------------------------------------------------ data

    def encode(self, event: Event, *, replay: bool = False) -> list[Message]:
        """A DDATA for a tag change, an alarm transition, a line's state or OEE; replayed ones as historical."""
        now = self._now_ms()
        kind = event["kind"]
        if kind == "tag":
            ref = self.plant.tags.get(event["tag"])
            if ref is None:
                return []
            data_type = _TYPES[ref.tag.data_type]
            good = event["quality"] == Quality.GOOD.value
            metric = PropertyMetric(
                timestamp=_ms(event["time"], now),
                name=event["tag"],
                datatype=data_type,
                value=metric_value(data_type, event["value"]) if good else None,
                is_historical=replay,
                properties=(("quality", event["quality"]),),
            )
            return [self._ddata(self.device_of(ref), [metric], now)]
        if kind == "alarm":
            ref = self.plant.tags.get(event["tag"])
            if ref is None or event["id"] not in self.plant.alarms:
                # A server alarm has no metric in the births; Sparkplug consumers only take born metrics.
                return []
            alarm = spb.Metric(
                timestamp=_ms(event["time"], now),
                name=f"Alarms/{event['id']}",
                datatype=spb.DataType.STRING,
                value=event["state"],
                is_historical=replay,
            )
            return [self._ddata(self.device_of(ref), [alarm], now)]
        if kind in ("line_state", "oee") and self.plant.line(event["line"]) is not None:
            when = _ms(event["time"], now)
            if kind == "line_state":
                metrics = [self._line_metric("Line/State", event["state"], when, replay)]
            else:
                if not replay:
                    self._oee[event["line"]] = event
                metrics = [self._line_metric(name, event[field], when, replay) for name, field in _OEE_FIELDS.items()]
            return [self._ddata(sparkplug_id(event["line"]), metrics, now)]
        return []

    def _line_metric(self, name: str, raw: Any, when: int, replay: bool) -> spb.Metric:
        data_type = LINE_METRICS[name]
        return spb.Metric(
            timestamp=when, name=name, datatype=data_type, value=metric_value(data_type, raw), is_historical=replay
        )

    def _ddata(self, device: str, metrics: Iterable[spb.Metric], now: int) -> Message:
        payload = spb.DData(timestamp=now, seq=self._next_seq(), metrics=tuple(metrics))
        return Message(self.topic(spb.MessageType.DDATA, device), payload.encode(include_dtypes=True), DATA_QOS, False)

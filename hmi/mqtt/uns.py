"""The `uns` format: a unified namespace of retained JSON messages, one topic per tag, alarm and line.

Topics follow the ISA-95 equipment hierarchy: `<root>/<site>/<area>/<line>/<machine>/<tag>` (a line's own tags
without the machine level). Alarms, line state and OEE sit under `_alarms`, `_state` and `_oee`: plant names
start with a letter or digit, so these levels never collide with a tag.
"""

from __future__ import annotations

import json
import re

from hmi.config import PlantConfig
from hmi.mqtt.events import Event, Message
from hmi.mqtt.settings import MqttConfig

_FORBIDDEN = re.compile(r"[/+#\x00]")


def level(name: str) -> str:
    """`name` as one topic level: '/' would split it and '+', '#' are wildcards (MQTT 3.1.1 §4.7)."""
    return _FORBIDDEN.sub("_", name) or "_"


class UnsEncoder:
    """Turns events into retained JSON messages under the topic root."""

    def __init__(self, config: MqttConfig, plant: PlantConfig) -> None:
        self.config = config
        self.plant = plant
        self.base = f"{config.topic_root}/{level(plant.site.name)}"

    def line_topic(self, line: str) -> str | None:
        """`<root>/<site>/<area>/<line>`, or None for a line the plant does not have."""
        found = self.plant.line(line)
        if found is None:
            return None
        area, _ = found
        return f"{self.base}/{level(area.name)}/{level(line)}"

    def tag_topic(self, tag: str) -> str | None:
        """The topic of a tag's value, or None for a tag the plant does not have."""
        ref = self.plant.tags.get(tag)
        if ref is None:
            return None
        parts = [self.base, level(ref.area.name), level(ref.line.name)]
        if ref.machine is not None:
            parts.append(level(ref.machine.name))
        parts.append(level(tag))
        return "/".join(parts)

    def alarm_topic(self, alarm_id: str, tag: str, line: str) -> str | None:
        """`.../<line>[/<machine>]/_alarms/<alarm id>`: beside the tag the alarm watches."""
        ref = self.plant.tags.get(tag)
        if ref is not None:
            place = self.tag_topic(tag)
            owner = place.rsplit("/", 1)[0] if place else None
        else:
            # A server alarm (Alarms & Conditions) has no tag of the plant: it sits on its line.
            owner = self.line_topic(line)
        return None if owner is None else f"{owner}/_alarms/{level(alarm_id)}"

    def use_plant(self, plant: PlantConfig) -> None:
        """Take a reloaded plant's tags and places."""
        self.plant = plant
        self.base = f"{self.config.topic_root}/{level(plant.site.name)}"

    def will(self) -> Message | None:
        """No last will: each retained value carries its own quality."""
        return None

    def death(self) -> Message | None:
        """No death message."""
        return None

    def births(self) -> list[Message]:
        """Nothing to announce on connecting: the retained messages stay on the broker."""
        return []

    def commands(self) -> list[str]:
        """No commands are taken."""
        return []

    def command(self, topic: str, payload: bytes) -> bool:
        """No commands are taken."""
        return False

    def encode(self, event: Event, *, replay: bool = False) -> list[Message]:
        """The messages of one event (none for an event about something the plant no longer has); a replayed
        event is published as it was, in its order, so the retained value ends as the newest."""
        kind = event["kind"]
        qos = self.config.qos
        if kind == "tag":
            topic = self.tag_topic(event["tag"])
            if topic is None:
                return []
            unit = self.plant.tags[event["tag"]].tag.unit
            body = {k: event[k] for k in ("value", "quality", "status")}
            body["timestamp"] = event["time"]
            body["unit"] = unit
            return [Message(topic, _json(body), qos, True)]
        if kind == "alarm":
            topic = self.alarm_topic(event["id"], event["tag"], event["line"])
            if topic is None:
                return []
            body = {k: v for k, v in event.items() if k not in ("kind", "time")}
            body["timestamp"] = event["time"]
            return [Message(topic, _json(body), qos, True)]
        if kind in ("line_state", "oee"):
            line = self.line_topic(event["line"])
            if line is None:
                return []
            body = {k: v for k, v in event.items() if k not in ("kind", "line", "time")}
            body["timestamp"] = event["time"]
            suffix = "_state" if kind == "line_state" else "_oee"
            return [Message(f"{line}/{suffix}", _json(body), qos, True)]
        return []


def _json(body: dict[str, object]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

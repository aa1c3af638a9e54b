"""The local Mosquitto for MQTT tests: its address, a unique topic root per test, and a subscriber that collects."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import pytest

from hmi.config import PlantConfig
from hmi.mqtt.settings import MqttConfig

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 1883
BROKER_URL = f"mqtt://{BROKER_HOST}:{BROKER_PORT}"


def unique_root() -> str:
    """A topic root no other test (nor a parallel run) publishes under."""
    return f"hmi-test/{uuid.uuid4().hex[:12]}"


def with_mqtt(plant: PlantConfig, **settings: Any) -> PlantConfig:
    """`plant` with an `mqtt:` section made of `settings`."""
    fields = {name: getattr(plant, name) for name in PlantConfig.model_fields}
    return PlantConfig.model_validate({**fields, "mqtt": MqttConfig.model_validate(settings)})


@dataclass
class Collected:
    """Messages received, in order: (topic, payload, retain flag)."""

    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def on(self, topic: str) -> list[bytes]:
        """Payloads received on `topic`, in order."""
        return [p for t, p, _ in self.messages if t == topic]

    def topics(self) -> list[str]:
        return [t for t, _, _ in self.messages]


@contextlib.asynccontextmanager
async def subscriber(*topics: str) -> AsyncIterator[Collected]:
    """Subscribe to `topics` on the local broker and collect what arrives until the block ends."""
    collected = Collected()
    try:
        client = aiomqtt.Client(BROKER_HOST, BROKER_PORT, identifier=f"hmi-test-{uuid.uuid4().hex[:8]}")
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        pytest.fail(f"Mosquitto at {BROKER_URL} is not reachable ({exc}); start it for the MQTT tests")

    async def collect() -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            collected.messages.append((str(message.topic), payload, message.retain))

    task = asyncio.create_task(collect())
    try:
        for topic in topics:
            await client.subscribe(topic, qos=1)
        yield collected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.__aexit__(None, None, None)


async def clear_retained(root: str, collected: Collected) -> None:
    """Remove the retained messages a test left under its root (an empty retained message deletes one)."""
    async with aiomqtt.Client(BROKER_HOST, BROKER_PORT) as client:
        for topic in {t for t in collected.topics() if t.startswith(root)}:
            await client.publish(topic, b"", qos=1, retain=True)

"""The MQTT publisher's state on the screens: engineers see when the broker cannot be reached and how many messages
wait on disk; operators are not burdened with it (docs/mqtt.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.roles import Role
from hmi.config import PlantConfig
from tests.mqtt_broker import unique_root, with_mqtt
from tests.opcua_server import free_port
from tests.plant_fixture import INITIAL, small_plant
from tests.screens.conftest import PASSWORD, Harness, harness_on


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[Harness]:
    closed = free_port()  # nothing listens there: the broker is away from the start

    def plant(url: str) -> PlantConfig:
        return with_mqtt(small_plant(url), url=f"mqtt://127.0.0.1:{closed}", topic_root=unique_root())

    async with harness_on(tmp_path, plant, INITIAL, ready=["L1.M1.Temp"]) as harness:
        yield harness


@pytest.mark.req("MQT-006")
async def test_engineers_see_the_broker_unreachable_with_what_waits_on_disk(unreachable: Harness) -> None:
    hmi = unreachable
    publisher = hmi.rt.mqtt
    assert publisher is not None
    await hmi.until(lambda: publisher.status.state == "unreachable" and publisher.status.on_disk > 0, timeout=20)
    await hmi.rt.users.create_user("eve", PASSWORD, Role.ENGINEER, full_name="Eve Engineer")
    await hmi.login("eve")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="mqtt-banner", retries=50)
    banner = hmi.user.find(marker="mqtt-banner").elements.pop()
    assert banner.text.startswith(f"MQTT: broker {publisher.config.url} unreachable since ")
    assert "wait on local disk and are sent in order" in banner.text
    await hmi.logout()
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="clock")
    await hmi.user.should_not_see(marker="mqtt-banner")

"""`hmi demo --mqtt URL` publishes the demo plant to the broker (the local Mosquitto); a bad URL is refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hmi.cli import main
from tests.mqtt_broker import BROKER_URL, clear_retained, subscriber, unique_root
from tests.opcua_server import free_port
from tests.waiting import answering, ended, until


@pytest.mark.req("MQT-008")
async def test_the_demo_publishes_its_plant(tmp_path: Path) -> None:
    root = unique_root()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HMI_DB_URL", None)
    log = tmp_path / "demo.log"
    async with subscriber(f"{root}/#") as seen:
        with log.open("w") as out:
            # Off the event loop, so the subscriber keeps reading while the demo starts.
            proc = await asyncio.to_thread(
                subprocess.Popen,
                [
                    sys.executable,
                    *("-m", "hmi", "demo", "--port", str(port), "--data-dir", str(tmp_path / "data")),
                    *("--history-hours", "0", "--mqtt", BROKER_URL, "--mqtt-root", root),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            try:
                await asyncio.to_thread(answering, f"http://127.0.0.1:{port}/login", proc, log, 90)
                speed = await until(
                    lambda: [t for t in seen.topics() if t.endswith("/Line1.Speed")], timeout=60, what="Line1.Speed"
                )
                assert speed[0].startswith(f"{root}/")
                body = json.loads(seen.on(speed[0])[-1])
                assert {"value", "quality", "timestamp", "unit"} <= body.keys()
            finally:
                await asyncio.to_thread(ended, proc, 15)
    assert "MQTT: publishing the plant to" in log.read_text()
    await clear_retained(root, seen)


def test_a_bad_broker_url_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data-dir", str(tmp_path), "--mqtt", "http://broker"]) == 2
    assert "--mqtt: url:" in capsys.readouterr().err

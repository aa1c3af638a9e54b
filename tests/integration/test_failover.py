"""Failover of the redundant pair with real processes: two `hmi run` on one PostgreSQL database, the active one
killed with SIGKILL; the standby takes over within 10 s, re-subscribes, records and journals, and says so in the
audit trail (docs/deployment.md, the redundant pair)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest

from hmi.cluster.leadership import HOLDER_SQL, LOCK_CLASS, LOCK_ID
from tests.integration.conftest import PAIR_PLANT
from tests.opcua_server import SmallServer, free_port
from tests.waiting import until

pytestmark = pytest.mark.postgres


class Instance:
    """One `hmi run` process of the pair."""

    def __init__(
        self, plant_file: Path, pg_url: str, data_dir: Path, key_file: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.name = f"{socket.gethostname()}:{self.port}"
        self.log = data_dir.with_suffix(".log")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
        env = base | {"PYTHONUNBUFFERED": "1", "HMI_AUDIT_KEY_FILE": str(key_file)} | (env or {})
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "hmi", "run", "--config", str(plant_file), "--db", pg_url),
                    *("--port", str(self.port), "--data-dir", str(data_dir)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    async def answering(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}; its log:\n{self.log.read_text()}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{self.port}/login", timeout=5)).status_code == 200
        except httpx.HTTPError:
            return False

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _holder(conn: asyncpg.Connection) -> str | None:
    name = await conn.fetchval(HOLDER_SQL, LOCK_CLASS, LOCK_ID)
    return str(name).removeprefix("factory-hmi ") if name else None


@pytest.mark.req("RED-001", "RED-002", "RED-003")
async def test_kill_9_of_the_active_instance_and_the_standby_takes_over(
    pair_server: SmallServer, pg_url: str, tmp_path: Path, processes: ExitStack
) -> None:
    plant_file = tmp_path / "pair.yaml"
    plant_file.write_text(PAIR_PLANT.format(url=pair_server.url), encoding="utf-8")
    key = tmp_path / "audit.key"
    first = Instance(plant_file, pg_url, tmp_path / "a", key)
    processes.callback(first.end)
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await until(first.answering, timeout=90, what="the first instance to serve", interval=0.3)
        await until(lambda: _holder(conn), timeout=30, what="an active instance")
        assert await _holder(conn) == first.name
        # The second starts once the first has created the tables and the audit key they share.
        second = Instance(plant_file, pg_url, tmp_path / "b", key)
        processes.callback(second.end)
        await until(second.answering, timeout=90, what="the second instance to serve", interval=0.3)
        await until(lambda: conn.fetchval("SELECT count(*) FROM samples WHERE tag = 'Speed'"), timeout=30)
        assert await _holder(conn) == first.name, "the one that came second stands by"

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        # The lock ends with the killed process's connection; the standby asks for it every second.
        await until(lambda: _holder(conn), timeout=10, what="the standby to take over within 10 s", interval=0.1)
        assert await _holder(conn) == second.name
        takeover = await until(
            lambda: conn.fetchrow(
                "SELECT object_id, username, detail FROM audit_entries WHERE action = 'cluster.takeover'"
            ),
            timeout=10,
        )
        assert (takeover["object_id"], takeover["username"]) == (second.name, "system")

        # It re-subscribed: a new value is recorded by its historian and raises the alarm in its journal.
        await pair_server.write("Speed", 120.0)
        await until(
            lambda: conn.fetchval("SELECT count(*) FROM samples WHERE tag = 'Speed' AND value = 120"),
            timeout=20,
            what="the new active instance to record",
        )
        await until(
            lambda: conn.fetchval("SELECT count(*) FROM alarm_events WHERE alarm_id = 'Speed.H'"),
            timeout=20,
            what="the new active instance to journal",
        )
        assert await second.answering()

        # An active instance whose lock connection breaks while another takes the role stops at once and says why
        # (its service manager starts it again as a standby).
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            f"factory-hmi {second.name}",
        )
        await until(
            lambda: conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, LOCK_ID),
            timeout=10,
            interval=0.01,
        )
        await until(lambda: second.process.poll() is not None, timeout=20, what="it to stop")
        assert second.process.returncode == 75
        assert "another instance holds it now" in second.log.read_text()
    finally:
        await conn.close()

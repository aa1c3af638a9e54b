"""A panel behind a real reverse proxy keeps its sign-in when its server dies (docs/deployment.md, the redundant pair).

HAProxy from Debian's packages, started here, with sticky sessions (an inserted cookie) in front of two `hmi run`
processes on one PostgreSQL database. A lead signs in through the proxy on the active instance, which is then killed
with SIGKILL; the page reconnects through the proxy to the other instance, which builds it for the same person (the
session lives in the database, the signed cookie names it), and a note written there is the lead's.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import async_playwright, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.integration.conftest import PAIR_PLANT
from tests.integration.test_failover import Instance, _holder
from tests.opcua_server import SmallServer, free_port
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.browser]

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
HAVE_HAPROXY = Path(HAPROXY).exists()
PASSWORD = "Proxy-handover-2026"
# Round robin with a sticky cookie; a server that fails its checks (or a request that cannot reach it) goes to the
# other one (`option redispatch`). Long-lived websockets need the tunnel timeout.
CONFIG = """
global
  maxconn 200
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option redispatch
  retries 3
frontend panels
  bind 127.0.0.1:{port}
  default_backend pair
backend pair
  balance roundrobin
  cookie HMISERVER insert indirect nocache httponly
  option httpchk GET /login
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
  server a 127.0.0.1:{a} check cookie a
  server b 127.0.0.1:{b} check cookie b
"""


def start_proxy(config: Path) -> subprocess.Popen[bytes]:
    """HAProxy in the foreground (`-db`), ended by the test."""
    return subprocess.Popen([HAPROXY, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _answering(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/login", timeout=5)).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.req("RED-008")
async def test_a_panel_behind_haproxy_keeps_its_session_when_its_server_dies(
    pair_server: SmallServer, pg_url: str, tmp_path: Path, processes: ExitStack
) -> None:
    if not HAVE_HAPROXY:
        pytest.fail(f"{HAPROXY} is missing: install Debian's haproxy (apt-get install haproxy); .ci/run does")
    plant_file = tmp_path / "pair.yaml"
    plant_file.write_text(PAIR_PLANT.format(url=pair_server.url), encoding="utf-8")
    key = tmp_path / "audit.key"
    # Both servers sign the session cookie with one key, as the deployment guide says.
    shared = {"HMI_STORAGE_SECRET": secrets.token_urlsafe(32)}
    first = Instance(plant_file, pg_url, tmp_path / "a", key, env=shared)
    processes.callback(first.end)
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await until(first.answering, timeout=90, what="the first instance to serve", interval=0.3)
        await until(lambda: _holder(conn), timeout=30, what="an active instance")
        # A lead's account, made as an administrator does.
        add = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "hmi", "users", "add", "lena", "--role", "lead", "--full-name", "Lena Lead"),
            *("--password-stdin", "--db", pg_url, "--data-dir", str(tmp_path / "cli")),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "HMI_AUDIT_KEY_FILE": str(key)},
        )
        said, _ = await add.communicate((PASSWORD + "\n").encode())
        assert add.returncode == 0, said.decode()
        second = Instance(plant_file, pg_url, tmp_path / "b", key, env=shared)
        processes.callback(second.end)
        await until(second.answering, timeout=90, what="the second instance to serve", interval=0.3)

        port = free_port()
        config = tmp_path / "haproxy.cfg"
        config.write_text(CONFIG.format(port=port, a=first.port, b=second.port), encoding="utf-8")
        proxy = start_proxy(config)
        processes.callback(proxy.wait, 10)
        processes.callback(proxy.terminate)
        url = f"http://127.0.0.1:{port}"
        await until(lambda: _answering(url), timeout=30, what="the proxy to serve", interval=0.3)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                # The panel is on the active instance: the case that matters, its server dies.
                await context.add_cookies([{"name": "HMISERVER", "value": "a", "url": url}])
                page = await context.new_page()
                page.set_default_timeout(30_000)
                await page.goto(f"{url}/login")
                await page.get_by_test_id("username").fill("lena")
                await page.get_by_test_id("password").fill(PASSWORD)
                await page.get_by_test_id("sign-in").click()
                await page.get_by_test_id("clock").wait_for()
                await page.goto(f"{url}/notes")
                await expect(page.get_by_test_id("note-save")).to_be_visible()

                async def server() -> str | None:
                    cookies = await context.cookies(url)
                    return next((c["value"] for c in cookies if c["name"] == "HMISERVER"), None)

                async def on_b() -> bool:
                    return await server() == "b"

                assert await server() == "a"
                first.process.send_signal(signal.SIGKILL)
                first.process.wait(timeout=10)

                # The page's connection breaks; it reconnects through the proxy to the other server, which does not
                # know the page and has it load again: built there for the same person, not the sign-in page.
                await until(lambda: _holder(conn), timeout=10, what="the standby to take over", interval=0.1)
                await until(on_b, timeout=60, what="the panel to reach the other server")
                await expect(page.get_by_test_id("note-save")).to_be_visible(timeout=60_000)
                assert "/login" not in page.url
                await expect(page.get_by_test_id("clock")).not_to_have_text("", timeout=30_000)

                # It acts as the lead there: the note is hers.
                text = "Handover through the proxy: line L ran at 120 m/min"
                await page.get_by_test_id("note-text").fill(text)
                await page.get_by_test_id("note-save").click()
                row = await until(
                    lambda: conn.fetchrow("SELECT author_name, station FROM shift_notes WHERE text = $1", text),
                    timeout=30,
                    what="the note in the database",
                )
                assert row["author_name"] == "lena"
                sessions = await conn.fetch("SELECT ended_reason FROM user_sessions")
                assert [s["ended_reason"] for s in sessions] == [None], "one session, carried over, still open"
            finally:
                await browser.close()
    finally:
        await conn.close()

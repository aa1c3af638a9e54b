"""Alarm flood benchmark: 2,000 alarms activate within one second; how fast are they journaled, shown and
acknowledged, and is anything lost?

Runs, each in its own process: `hmi simulate` with 2,000 static load tags, and `hmi run` on a plant whose load tags
each carry an H alarm, on a SQLite file. A real Chromium (Playwright) signs in as a lead and watches the alarm
page. The benchmark then sets every load tag above its limit at once (the simulator's SetLoad method) and times:
  A  until all 2,000 activations are in the journal (alarm_events, read from the database file);
  B  until the alarm page in the browser says 2,000 are listed;
  C  from confirming "Acknowledge all listed" until the page reports the 2,000 acknowledgements stored.
Last line: flood_journaled_s=A page_s=B ack_all_s=C lost=N
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from asyncua import Client, ua
from playwright.sync_api import sync_playwright
from processes import CHROMIUM, CHROMIUM_ARGS, add_user, free_port, wait_line

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "flood-bench-pw"


def plant_yaml(url: str, n: int) -> str:
    tags = "\n".join(
        f"          - {{name: Load.Tag{i:05d}, endpoint: sim, node_id: 'ns=2;s=Load.Tag{i:05d}', unit: '%', "
        f"alarms: [{{type: H, limit: 150, priority: {1 + i % 4}, message: Load {i} high}}]}}"
        for i in range(1, n + 1)
    )
    return (
        f"site: {{name: Flood bench, timezone: UTC}}\n"
        f"endpoints: [{{name: sim, url: '{url}', publishing_interval_ms: 100}}]\n"
        f"areas:\n  - name: Load\n    lines:\n      - name: Load\n        tags:\n{tags}\n"
    )


def set_load(url: str, value: float) -> None:
    async def call() -> None:
        async with Client(url, timeout=10) as client:
            sim = client.get_node("ns=2;s=Simulator")
            await sim.call_method(
                ua.NodeId.from_string("ns=2;s=Simulator.SetLoad"), ua.Variant(value, ua.VariantType.Double)
            )

    # Playwright's sync API owns the main thread's event loop: the OPC UA call runs on a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, call()).result(timeout=30)


def count(db: Path, kind: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
        return int(con.execute("SELECT COUNT(*) FROM alarm_events WHERE kind = ?", (kind,)).fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alarms", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    n = args.alarms
    work = Path(tempfile.mkdtemp(prefix="hmi-flood-"))
    sim_port, web_port = free_port(), free_port()
    sim_url = f"opc.tcp://127.0.0.1:{sim_port}"
    (work / "plant.yaml").write_text(plant_yaml(sim_url, n), encoding="utf-8")
    db = work / "hmi.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_", "HMI_"))}
    hmi = [sys.executable, "-m", "hmi"]
    procs: list[subprocess.Popen[str]] = []
    try:
        sim = subprocess.Popen(
            [*hmi, "simulate", "--port", str(sim_port), "--tags", str(n), "--rate", "0", "--seed", "1"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        procs.append(sim)
        wait_line(sim, "listening on", 60)
        set_load(sim_url, 50.0)
        add_user(hmi, "lead", "lead", PASSWORD, f"sqlite:///{db}", env)
        web = subprocess.Popen(
            [
                *hmi,
                "run",
                "--config",
                str(work / "plant.yaml"),
                "--port",
                str(web_port),
                "--db",
                f"sqlite:///{db}",
                "--data-dir",
                str(work),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            env=env,
        )
        procs.append(web)
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(f"{base}/login")
            page.get_by_test_id("username").fill("lead")
            page.get_by_test_id("password").fill(PASSWORD)
            page.get_by_test_id("sign-in").click()
            page.get_by_test_id("clock").wait_for()
            page.goto(f"{base}/alarms")
            totals = page.get_by_test_id("alarm-totals")
            totals.wait_for()
            time.sleep(3)  # every value subscribed and evaluated before the flood
            before = count(db, "activated")

            t0 = time.monotonic()
            set_load(sim_url, 200.0)
            journaled_s = page_s = None
            while time.monotonic() - t0 < args.timeout and (journaled_s is None or page_s is None):
                if journaled_s is None and count(db, "activated") - before >= n:
                    journaled_s = time.monotonic() - t0
                if page_s is None and totals.inner_text().startswith(f"{n} listed"):
                    page_s = time.monotonic() - t0
                time.sleep(0.02)
            activated = count(db, "activated") - before
            print(f"activations journaled: {activated}/{n}; page listed: {totals.inner_text()}", flush=True)

            page.get_by_test_id("ack-listed").click()
            page.get_by_test_id("ack-confirm").wait_for()
            # Priority 1 acknowledgements need an electronic signature (the plant's default policy).
            if page.get_by_test_id("sign-password").count():
                if page.get_by_test_id("sign-user").count():
                    page.get_by_test_id("sign-user").fill("lead")
                page.get_by_test_id("sign-password").fill(PASSWORD)
            t1 = time.monotonic()
            page.get_by_test_id("ack-confirm").click()
            status = page.get_by_test_id("ack-status")
            ack_s = None
            while time.monotonic() - t1 < args.timeout:
                if f"{n} alarm(s) acknowledged and stored" in status.inner_text():
                    ack_s = time.monotonic() - t1
                    break
                time.sleep(0.02)
            acked = count(db, "acknowledged")
            browser.close()
        lost = (n - activated) + (n - acked)
        print(f"acknowledgements stored: {acked}/{n}")

        def fmt(x: float | None) -> str:
            return "inf" if x is None else f"{x:.2f}"

        print(f"flood_journaled_s={fmt(journaled_s)} page_s={fmt(page_s)} ack_all_s={fmt(ack_s)} lost={lost}")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()

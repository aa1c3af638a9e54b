"""Soak benchmark: does the HMI stay up, with steady memory, under panels, alarms and writes for a long run?

Runs `hmi demo` (the simulated bottling plant and the HMI on a SQLite file, one process) and, in this process:
  panels  10 pages in one headless Chromium (/usr/bin/chromium, Playwright), signed in as the lead: the overview,
          the three line pages and the alarm list, twice over;
  writes  every --write-period seconds a line speed setpoint over the REST API with a token (POST
          /api/v1/tags/{name}/write, the write service with its limits and read-back): each line in turn runs slow
          (setpoint 200) for --cycle seconds and normal (300) for as long, so its "Line running slow" alarm
          (L 250, 10 s on-delay) comes and goes: a steady alarm load on top of the demo's own faults and excursions;
  acks    every 5 s the unacknowledged alarms are acknowledged over the API (those needing a signature are left);
  touch   every minute a key press on each panel, as an operator would, so the idle lock does not blank them;
  health  GET /api/v1/health every --sample seconds: resident memory, asyncio tasks, cache listeners, checked-out
          database connections, owned tasks died.
After --warmup seconds the resident memory is the start figure; at the end of --minutes (warm-up included) the end
figure. Then every panel closes and, once NiceGUI has let their clients go (up to 150 s), the cache listeners left
beyond the count before the panels opened are the leaked ones.
Target (issue: scale, "Staying up"): no growth beyond 5 % after warm-up, no task died, no listener leaked.
Last line:
  rss_start_mib=A rss_end_mib=B rss_growth_pct=G tasks_died=N listeners_leaked=L db_connections=C
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, async_playwright
from processes import CHROMIUM, CHROMIUM_ARGS, REPO, free_port

PASSWORD = "soak-bench-pw"
DEMO = [sys.executable, "-m", "hmi", "demo"]
PANELS = ["/", "/line/Line1", "/line/Line2", "/line/Line3", "/alarms"] * 2
SETPOINTS = ["Line1.SpeedSP", "Line2.SpeedSP", "Line3.SpeedSP"]


class Tally:
    """What the load did, printed at the end (a soak that sent nothing proves nothing)."""

    def __init__(self) -> None:
        self.writes: dict[int, int] = {}
        self.refusals: dict[str, int] = {}  # the first words of each refusal's detail, counted
        self.acks = 0
        self.ack_refused = 0
        self.samples: list[dict[str, Any]] = []


async def health(client: httpx.AsyncClient) -> dict[str, Any]:
    """One health answer (200 or 503: both are JSON)."""
    response = await client.get("/api/v1/health", timeout=30)
    body: dict[str, Any] = response.json()
    body["http_status"] = response.status_code
    return body


def start_demo(port: int, data_dir: Path, log_path: Path) -> subprocess.Popen[str]:
    """`hmi demo` in its own process (the demo accounts' password is ours), its output in `log_path`."""
    env = {**os.environ, "HMI_DEMO_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log_file:
        return subprocess.Popen(
            [*DEMO, "--port", str(port), "--data-dir", str(data_dir), "--seed", "1", "--history-hours", "0"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=env,
        )


async def wait_up(client: httpx.AsyncClient, proc: subprocess.Popen[str], within: float) -> dict[str, Any]:
    """The first health answer of 200 (the demo runs, its simulator connected)."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hmi demo exited with {proc.returncode} while starting")
        try:
            last = await health(client)
            if last["http_status"] == 200:
                return last
        except (httpx.HTTPError, ValueError) as exc:
            last = exc
        await asyncio.sleep(0.5)
    raise SystemExit(f"hmi demo was not healthy within {within:.0f} s: {last}")


def create_token(data_dir: Path) -> str:
    """An API token of the demo's operator account (`hmi tokens create`), its secret read from the output. Tried
    again for a minute: the demo's history backfill may hold SQLite's write lock at first."""
    command = [sys.executable, "-m", "hmi", "tokens", "create", "soak", "--user", "operator", "--data-dir"]
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run(
            [*command, str(data_dir)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        if done.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"hmi tokens create failed:\n{done.stdout}{done.stderr}")
        print(f"hmi tokens create failed, trying again: {done.stderr.strip()[-300:]}", flush=True)
        time.sleep(5)
    out = done.stdout
    found = re.search(r"^(hmi_\S+)$", out, re.MULTILINE)
    if found is None:
        raise SystemExit(f"hmi tokens create printed no token:\n{out}")
    return found.group(1)


async def write_load(api: httpx.AsyncClient, period: float, cycle: float, tally: Tally) -> None:
    """Line speed setpoints in turn: each line slow for `cycle` s, then normal for as long (offset per line)."""
    i = 0
    t0 = time.monotonic()
    while True:
        tag = SETPOINTS[i % len(SETPOINTS)]
        phase = int((time.monotonic() - t0) / cycle + i % len(SETPOINTS)) % 2
        value = 200 if phase else 300
        try:
            r = await api.post(f"/api/v1/tags/{tag}/write", json={"value": value, "reason": "soak"}, timeout=30)
            tally.writes[r.status_code] = tally.writes.get(r.status_code, 0) + 1
            if r.status_code != 200:
                why = f"{r.status_code} {str(r.json().get('detail'))[:60]}"
                tally.refusals[why] = tally.refusals.get(why, 0) + 1
        except httpx.HTTPError:
            tally.writes[0] = tally.writes.get(0, 0) + 1
        i += 1
        await asyncio.sleep(period)


async def ack_load(api: httpx.AsyncClient, tally: Tally) -> None:
    """Acknowledge what is unacknowledged, every 5 s (the token is rate limited: a few requests a round)."""
    while True:
        await asyncio.sleep(5)
        with contextlib.suppress(httpx.HTTPError, ValueError):
            r = await api.get("/api/v1/alarms/active", params={"limit": 20}, timeout=30)
            if r.status_code != 200:
                continue
            todo = [a["id"] for a in r.json()["items"] if a["acknowledged_at"] is None][:3]
            for alarm_id in todo:
                a = await api.post(f"/api/v1/alarms/{alarm_id}/ack", json={"comment": "soak"}, timeout=30)
                if a.status_code == 200:
                    tally.acks += 1
                else:
                    tally.ack_refused += 1


async def touch_load(pages: list[Page], every: float) -> None:
    """An operator at each panel now and then (a Shift key press, which the pages report as activity): else the
    idle lock (access.idle_lock_min, 5 min in the demo) replaces every panel by its lock screen, which shows and
    subscribes to no value, and the soak would measure locked screens."""
    while True:
        await asyncio.sleep(every)
        for page in pages:
            with contextlib.suppress(Exception):
                await page.keyboard.press("Shift")


async def sampler(client: httpx.AsyncClient, every: float, tally: Tally) -> None:
    while True:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            tally.samples.append({"t": time.monotonic(), **await health(client)})
        await asyncio.sleep(every)


async def open_panels(browser: Browser, base: str) -> list[Page]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    first = await context.new_page()
    await first.goto(f"{base}/login")
    await first.get_by_test_id("username").fill("lead")
    await first.get_by_test_id("password").fill(PASSWORD)
    await first.get_by_test_id("sign-in").click()
    await first.get_by_test_id("clock").wait_for()
    pages = [first]
    await first.goto(base + PANELS[0])
    await first.get_by_test_id("clock").wait_for()
    for path in PANELS[1:]:
        page = await context.new_page()
        await page.goto(base + path)
        await page.get_by_test_id("clock").wait_for()
        pages.append(page)
    return pages


def counts(sample: dict[str, Any]) -> str:
    c = sample["counts"]
    return (
        f"rss {c['rss_mib']:.0f} MiB, {c['python_blocks'] / 1000:.0f}k Python blocks, {c['asyncio_tasks']} tasks, "
        f"{c['cache_listeners']} listeners, "
        f"{c['db_connections']} db connections, {sample['tasks_died']} died, http {sample['http_status']}"
    )


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    total_s = args.minutes * 60
    if args.warmup >= total_s:
        raise SystemExit("--warmup must be shorter than --minutes")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        log_path = Path(tmp) / "demo.log"
        proc = start_demo(port, data_dir, log_path)
        tasks: list[asyncio.Task[None]] = []
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                first = await wait_up(client, proc, 120)
                baseline = first["counts"]["cache_listeners"]
                owners_before = first["counts"]["cache_listeners_by_owner"]
                print(f"demo up: {counts(first)}", flush=True)
                token = await asyncio.to_thread(create_token, data_dir)
                api = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"})
                tally = Tally()
                async with api, async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                    pages = await open_panels(browser, base)
                    print(f"{len(pages)} panels open: {counts(await health(client))}", flush=True)
                    t0 = time.monotonic()
                    tasks = [
                        asyncio.create_task(write_load(api, args.write_period, args.cycle, tally)),
                        asyncio.create_task(ack_load(api, tally)),
                        asyncio.create_task(sampler(client, args.sample, tally)),
                        asyncio.create_task(touch_load(pages, 60.0)),
                    ]
                    await asyncio.sleep(args.warmup)
                    start = await health(client)
                    print(f"after {args.warmup:.0f} s warm-up: {counts(start)}", flush=True)
                    while (left := total_s - (time.monotonic() - t0)) > 0:
                        await asyncio.sleep(min(60.0, left))
                        if proc.poll() is not None:
                            raise SystemExit(f"hmi demo exited with {proc.returncode} during the soak")
                        now = await health(client)
                        print(f"{(time.monotonic() - t0) / 60:.1f} min: {counts(now)}", flush=True)
                    end = await health(client)
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    tasks = []
                    for page in pages:
                        await page.close()
                    await browser.close()
                # NiceGUI lets a client go 5 s (reconnect_timeout) after its page is gone, and one whose page never
                # connected (closed while it was being built or rebuilt) once it is 60 s old, when it next prunes:
                # wait for the listeners to drop before calling any left a leak.
                deadline = time.monotonic() + 150
                after = await health(client)
                while after["counts"]["cache_listeners"] > baseline and time.monotonic() < deadline:
                    await asyncio.sleep(1)
                    after = await health(client)
                print(f"panels closed: {counts(after)}", flush=True)
                left = {
                    owner: n - owners_before.get(owner, 0)
                    for owner, n in after["counts"]["cache_listeners_by_owner"].items()
                    if n > owners_before.get(owner, 0)
                }
                if left:
                    print(f"  listeners left, by owner: {left}", flush=True)
        finally:
            for task in tasks:
                task.cancel()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log_text = log_path.read_text(encoding="utf-8", errors="replace")
            if args.keep_log:
                print(log_text[-5000:], file=sys.stderr)
    rss_start = start["counts"]["rss_mib"]
    rss_end = end["counts"]["rss_mib"]
    rss_max = max((s["counts"]["rss_mib"] for s in tally.samples), default=rss_end)
    print(
        f"load: writes by HTTP status {dict(sorted(tally.writes.items()))}, {tally.acks} alarms acknowledged "
        f"({tally.ack_refused} refused), {len(tally.samples)} health samples, rss max {rss_max:.0f} MiB, "
        f"historian lag at end {end['historian']['lag_s']} s, status at end {end['status']} {end['problems']}"
    )
    # What the HMI logged as a problem during the soak, by kind (the message without numbers): a reconnect or a
    # replaced session shows here, as would a failing task.
    kinds: dict[str, int] = {}
    for line in log_text.splitlines():
        if found := re.search(r" (WARNING|ERROR) (.*)", line):
            kind = re.sub(r"[0-9.:]+", "#", found.group(0))[:110]
            kinds[kind] = kinds.get(kind, 0) + 1
    for kind, n in sorted(kinds.items(), key=lambda item: -item[1])[:8]:
        print(f"  logged {n} times:{kind}")
    live = [sample["counts"]["cache_listeners"] for sample in tally.samples]
    if live:
        print(f"  cache listeners while the panels were open: {min(live)}-{max(live)} (before them: {baseline})")
        if min(live) <= baseline:
            print("  WARNING: the panels stopped following values during the soak (locked or disconnected)")
    sessions = {(src["endpoint"], src["since"]) for sample in tally.samples for src in sample["sources"]}
    print(f"  endpoint connections seen (each since): {len(sessions)}")
    for why, n in sorted(tally.refusals.items()):
        print(f"  refused {n} times: {why}")
    print(
        f"rss_start_mib={rss_start:.1f} rss_end_mib={rss_end:.1f} "
        f"rss_growth_pct={(rss_end - rss_start) / rss_start * 100:.1f} tasks_died={end['tasks_died']} "
        f"listeners_leaked={max(0, after['counts']['cache_listeners'] - baseline)} "
        f"db_connections={after['counts']['db_connections']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the load runs, warm-up included")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of load before the start figure")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between health samples")
    parser.add_argument("--write-period", type=float, default=2.0, help="seconds between setpoint writes")
    parser.add_argument("--cycle", type=float, default=30.0, help="seconds a line runs slow, then normal")
    parser.add_argument("--keep-log", action="store_true", help="print the end of hmi demo's log at the end")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

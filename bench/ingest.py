"""Ingest benchmark: how much of what asyncua itself can take in does the HMI pipeline keep up with?

Runs `hmi simulate` in its own process with 10,000 load tags changing 10,000 times a second in total, then measures,
side by side on the same load:
  raw  a plain asyncua client (iterator subscription) that only counts data changes;
  hmi  the HMI pipeline: OpcUaSource -> TagCache -> AlarmEngine (an H alarm on every load tag) + trend buffer.
Windows alternate raw, hmi, raw, hmi so drift on a shared machine hits both. Last line:
  ingest_ratio=R hmi_changes_per_s=X raw_changes_per_s=Y
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent
from processes import free_port, load_options, run, start_simulator, timed_window

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from hmi.alarms.engine import AlarmEngine  # noqa: E402
from hmi.config import PlantConfig, parse_config  # noqa: E402
from hmi.historian.live import TrendBuffer  # noqa: E402
from hmi.sources import StatusBoard  # noqa: E402
from hmi.sources.opcua import OpcUaSource  # noqa: E402
from hmi.tags import Quality, TagCache, TagState  # noqa: E402

PUBLISHING_MS = 250


def load_plant(url: str, n: int) -> PlantConfig:
    """A plant of `n` load tags, each with an H alarm, on one endpoint."""
    tags = "\n".join(
        f"          - {{name: Load.Tag{i:05d}, endpoint: sim, node_id: 'ns=2;s=Load.Tag{i:05d}', unit: '%', "
        f"alarms: [{{type: H, limit: 95, deadband: 1, priority: 4, message: load {i} high}}]}}"
        for i in range(1, n + 1)
    )
    endpoint = f"{{name: sim, url: '{url}', publishing_interval_ms: {PUBLISHING_MS}}}"
    text = (
        f"site: {{name: Bench}}\nendpoints: [{endpoint}]\n"
        f"areas:\n  - name: Load\n    lines:\n      - name: Load\n        tags:\n{tags}\n"
    )
    return parse_config(text, "bench")


async def raw_window(url: str, names: Sequence[str], warmup: float, window: float) -> tuple[float, float]:
    """Changes per second a bare asyncua client receives, and the share of one core it used."""
    async with Client(url, timeout=10) as client:
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=PUBLISHING_MS,
            RequestedLifetimeCount=100,
            RequestedMaxKeepAliveCount=4,
            MaxNotificationsPerPublish=0,
            PublishingEnabled=True,
            Priority=0,
        )
        sub = await client.create_subscription(params, None, queue_maxsize=200_000)
        nodes = [client.get_node(f"ns=2;s={n}") for n in names]
        for i in range(0, len(nodes), 500):
            await sub.subscribe_data_change(nodes[i : i + 500], queuesize=1)
        count = 0
        counting = False

        async def consume() -> None:
            nonlocal count
            async for ev in sub:
                if counting and type(ev) is DataChangeEvent:
                    count += 1

        task = asyncio.create_task(consume())
        await asyncio.sleep(warmup)
        counting = True
        elapsed, cpu_share = await timed_window(window)
        counting = False
        task.cancel()
        await sub.delete()
        return count / elapsed, cpu_share


async def hmi_window(url: str, plant: PlantConfig, warmup: float, window: float) -> tuple[float, float, int]:
    """Changes per second that reach the cache through the HMI source (alarms evaluated on every change), the
    share of one core used, and how many alarms ended up active."""
    cache, board = TagCache(), StatusBoard()
    engine = AlarmEngine(plant, cache)
    trends = TrendBuffer(cache, plant.tags)
    engine.start()
    trends.start()
    count = 0
    counting = False

    def counter(states: Sequence[TagState]) -> None:
        nonlocal count
        if counting:
            count += sum(1 for s in states if s.quality is not Quality.STALE)

    cache.subscribe(None, counter)
    endpoint = plant.endpoints[0]
    source = OpcUaSource(endpoint, [r.tag for r in plant.tags.values()], cache, board)
    await source.start()
    deadline = time.monotonic() + 60
    while not source.connected and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a flag, bounded
        await asyncio.sleep(0.1)
    await asyncio.sleep(warmup)
    counting = True
    elapsed, cpu_share = await timed_window(window)
    counting = False
    await source.stop()
    engine.stop()
    trends.stop()
    return count / elapsed, cpu_share, len(engine.active())


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    names = [f"Load.Tag{i:05d}" for i in range(1, args.tags + 1)]
    plant = load_plant(url, args.tags)
    t0 = time.monotonic()
    proc = start_simulator(port, "--tags", str(args.tags), "--rate", str(args.rate))
    print(
        f"simulator: {args.tags} load tags, target {args.rate:,.0f} changes/s, started in "
        f"{time.monotonic() - t0:.1f} s",
        flush=True,
    )
    raw, hmi = [], []
    try:
        for round_ in range(args.rounds):
            r, r_cpu = await raw_window(url, names, args.warmup, args.window)
            raw.append(r)
            print(
                f"round {round_ + 1}: raw asyncua client   {r:10,.0f} changes/s, client CPU {r_cpu:4.0%} of a core",
                flush=True,
            )
            h, h_cpu, active = await hmi_window(url, plant, args.warmup, args.window)
            hmi.append(h)
            print(
                f"round {round_ + 1}: HMI pipeline         {h:10,.0f} changes/s, client CPU {h_cpu:4.0%} of a core "
                f"({active} alarms active)",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    raw_rate, hmi_rate = sum(raw) / len(raw), sum(hmi) / len(hmi)
    print(f"total time {time.monotonic() - t0:.1f} s")
    print(f"ingest_ratio={hmi_rate / raw_rate:.3f} hmi_changes_per_s={hmi_rate:.0f} raw_changes_per_s={raw_rate:.0f}")


def main() -> None:
    parser = load_options(__doc__, tags=10_000, rate=10_000.0, window=12.0, warmup=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()

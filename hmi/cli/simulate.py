"""`hmi simulate`: run the simulated bottling plant as an OPC UA server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from hmi.cli.check import config_problems
from hmi.config import ConfigError, load_config
from hmi.hosts import is_loopback
from hmi.simulator import PlantSimulator, demo_config_path


def register(sub: Any) -> None:
    """Add the `simulate` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "simulate",
        help="run a simulated plant as an OPC UA server",
        description="Serve the tags of a plant configuration from a simulated bottling plant.",
    )
    p.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="plant YAML file (default: the demo plant)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=4840, help="TCP port, 0 picks a free one (default: 4840)")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="random seed, for a repeatable plant")
    p.add_argument("--tags", type=int, default=0, metavar="N", help="extra load tags Load.Tag00001.. (default: 0)")
    p.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        metavar="CHANGES_PER_S",
        help="total changes per second over the extra tags (default: 1000)",
    )
    p.add_argument(
        "--probes",
        type=int,
        default=0,
        metavar="K",
        help="latency probe tags Probe.P01..: Int64, the milliseconds since the epoch when written, each changing "
        "once a second (default: 0)",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the simulator; 0 after a clean stop, 2 for a bad configuration, 1 if it cannot listen."""
    path = args.config or demo_config_path()
    try:
        plant = load_config(path)
    except ConfigError as exc:
        return config_problems(path, exc)
    if args.tags < 0 or args.rate < 0 or args.probes < 0 or not 0 <= args.port <= 65535:
        print("error: --tags, --rate and --probes must not be negative and --port must be 0..65535", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: the simulator has no security and is reachable from other "
            "machines; use 127.0.0.1 unless you need that",
            file=sys.stderr,
        )
    sim = PlantSimulator(
        plant,
        host=args.host,
        port=args.port,
        seed=args.seed,
        extra_tags=args.tags,
        change_rate=args.rate,
        probes=args.probes,
    )
    try:
        asyncio.run(_serve(sim))
    except OSError as exc:
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        # Node ids the server cannot create (duplicates, namespace 0): a configuration problem.
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(sim: PlantSimulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Both end the simulator the same way: stop the tasks, close the connections, free the port.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"Simulator listening on {sim.url}", flush=True)
        await stop.wait()

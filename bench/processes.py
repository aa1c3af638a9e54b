"""What the benchmarks share: a free loopback port and `hmi simulate` started in its own process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The browser benchmarks' Chromium (Debian's; never a downloaded one) and the flags that keep it from reaching out to
# a network this machine does not have (the same as tests/browser/conftest.py).
CHROMIUM = os.environ.get("HMI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(port: int, *options: str) -> subprocess.Popen[str]:
    """`hmi simulate --port PORT --seed 1 OPTIONS...` in its own process, returned once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hmi", "simulate", "--port", str(port), "--seed", "1", *options],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if re.search(r"listening on", line):
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the simulator did not start within 60 s")


def load_options(doc: str | None, *, tags: int, rate: float, window: float, warmup: float) -> argparse.ArgumentParser:
    """The options of a benchmark that loads the simulator: tags, total change rate, counted window and warm-up."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=tags)
    parser.add_argument("--rate", type=float, default=rate, help="total changes per second")
    parser.add_argument("--window", type=float, default=window, help="seconds counted per window")
    parser.add_argument("--warmup", type=float, default=warmup, help="seconds after subscribing before counting")
    return parser


def run(main: Callable[[argparse.Namespace], Coroutine[Any, Any, None]], args: argparse.Namespace) -> None:
    """Run a benchmark's coroutine with asyncua's own log quiet (its reconnect chatter is not a figure)."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    asyncio.run(main(args))


async def timed_window(seconds: float) -> tuple[float, float]:
    """Let the load run for `seconds`: the seconds that passed and this process's CPU in them, as a share of a core."""
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - start
    return elapsed, (time.process_time() - cpu) / elapsed


def wait_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    """The first line `proc` prints that matches `pattern`; exits the benchmark after `timeout` s without one."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if re.search(pattern, line):
            return line
        if not line and proc.poll() is not None:
            break
    raise SystemExit(f"process did not print {pattern!r} within {timeout} s")


def add_user(hmi: list[str], name: str, role: str, password: str, db: str, env: dict[str, str]) -> None:
    """Create a sign-in for the benchmark's browser pages with `hmi users add`, as an administrator would."""
    subprocess.run(
        [*hmi, "users", "add", name, "--role", role, "--password-stdin", "--db", db],
        input=password + "\n",
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
    )

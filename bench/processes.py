"""What the benchmarks share: a free loopback port and `hmi simulate` started in its own process."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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

"""`hmi reload`: apply the edited plant file to the running HMI without a restart (hmi/reload_channel.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from hmi.cli.options import DEFAULT_DATA_DIR
from hmi.reload_channel import PID_FILE, REQUEST_DIR, REQUEST_SUFFIX, RESULT_SUFFIX, write_private_json


def register(sub: Any) -> None:
    """Add the `reload` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "reload", help="apply the edited plant file to the running HMI (validated first; nothing changes if invalid)"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="the data directory of the running `hmi run` / `hmi demo` (default: ./hmi-data)",
    )
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="how long to wait for the result (60)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Ask the running HMI to reload; print the changes (exit 0) or the problems (exit 2); 1 when it cannot ask."""
    data_dir: Path = args.data_dir.expanduser().absolute()
    try:
        running = json.loads((data_dir / PID_FILE).read_text(encoding="utf-8"))
        pid = int(running["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        print(
            f"hmi reload: no running HMI found in {data_dir} (no readable {PID_FILE}); start it with `hmi run` "
            "or name its folder with --data-dir",
            file=sys.stderr,
        )
        return 1
    if not _alive(pid):
        print(f"hmi reload: the HMI of {data_dir} (pid {pid}) is not running; start it with `hmi run`", file=sys.stderr)
        return 1
    request_id = f"{int(time.time())}-{secrets.token_hex(6)}"
    requests = data_dir / REQUEST_DIR
    request = requests / f"{request_id}{REQUEST_SUFFIX}"
    result_path = requests / f"{request_id}{RESULT_SUFFIX}"
    # The running HMI audits the owner of this file as the person who asked.
    write_private_json(request, {"id": request_id})
    if running.get("sighup"):
        # The HMI also looks for requests every second; the signal only makes it act at once.
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGHUP)
    print(f"Reloading {running.get('config', 'the plant file')} in the HMI (pid {pid}) ...", flush=True)
    deadline = time.monotonic() + args.timeout
    while not result_path.exists():
        if time.monotonic() >= deadline:
            request.unlink(missing_ok=True)
            print(f"hmi reload: no answer from the HMI within {args.timeout:g} s; see its log", file=sys.stderr)
            return 1
        time.sleep(0.1)
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink(missing_ok=True)
    return _report(result)


def _report(result: dict[str, Any]) -> int:
    if not result.get("applied"):
        print(f"hmi reload: {result.get('message')}", file=sys.stderr)
        for error in result.get("errors", []):
            print(f"  {error}", file=sys.stderr)
        return 2
    print(result.get("message"))
    for change in result.get("changes", []):
        print(f"  {change}")
    for note in result.get("notes", []):
        print(f"  note: {note}", file=sys.stderr)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another account's process: it exists
    return True

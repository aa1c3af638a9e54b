"""How `hmi reload` reaches the running HMI: files in its private data directory and a SIGHUP.

The running process writes `hmi.pid` (its pid, its plant file, whether SIGHUP is handled) into the data
directory. `hmi reload` writes a request into `plant-reload/` and sends SIGHUP; the process takes every request
there (it also looks once a second, so a lost signal only costs a second), reloads, and writes
`<id>.result.json`, which the command prints. Only who may write into the data directory (0700: the HMI's own
account, or root) can ask, and the operating system names the person: the request file's owner is the one
audited (`cli:<login>`), not a name written inside it. A SIGHUP without a request (e.g. systemd's
`ExecReload=kill -HUP $MAINPID`) reloads too, audited as `signal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import signal
import socket
from pathlib import Path
from typing import Any

from hmi.plant_reload import PlantReloader
from hmi.private_files import FILE_MODE, private_dir
from hmi.records.audit import system_context
from hmi.supervise import stop_tasks, wait_event

log = logging.getLogger(__name__)

PID_FILE = "hmi.pid"
REQUEST_DIR = "plant-reload"
REQUEST_SUFFIX = ".request.json"
RESULT_SUFFIX = ".result.json"
_POLL_S = 1.0


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON to `path` at once (a temporary 0600 file renamed over it): a reader never sees half."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, json.dumps(data).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def owner_name(path: Path) -> str:
    """The login name of the file's owner (its uid when the password database does not know it)."""
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class ReloadChannel:
    """The running HMI's side: the pid file, the SIGHUP handler and the request folder."""

    def __init__(self, data_dir: Path, reloader: PlantReloader, config_path: Path) -> None:
        self.data_dir = data_dir
        self.pid_file = data_dir / PID_FILE
        self.requests = data_dir / REQUEST_DIR
        self._reloader = reloader
        self._config = config_path
        self._wake = asyncio.Event()
        self._signalled = False
        self._task: asyncio.Task[None] | None = None
        self._handles_signal = False

    async def start(self) -> None:
        """Handle SIGHUP (where the loop can), write the pid file and start serving requests."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_signal)
            self._handles_signal = True
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            # Not the main thread, or no signals on this platform: `hmi reload` relies on the polling then.
            log.info("plant reload: SIGHUP not handled here; requests are picked up within %g s", _POLL_S)
        await asyncio.to_thread(private_dir, self.requests)
        pid = {"pid": os.getpid(), "config": str(self._config.absolute()), "sighup": self._handles_signal}
        await asyncio.to_thread(write_private_json, self.pid_file, pid)
        self._task = asyncio.create_task(self._serve(), name="plant-reload-channel")

    async def stop(self) -> None:
        """Stop taking requests, restore SIGHUP and remove the pid file (when it is still this process's)."""
        if self._handles_signal:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._handles_signal = False
        task, self._task = self._task, None
        await stop_tasks(task)
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.pid_file.read_text(encoding="utf-8")).get("pid") == os.getpid():
                self.pid_file.unlink()

    def _on_signal(self) -> None:
        self._signalled = True
        self._wake.set()

    async def _serve(self) -> None:
        while True:
            await wait_event(self._wake, _POLL_S)
            self._wake.clear()
            signalled, self._signalled = self._signalled, False
            try:
                handled = await self._take_requests()
                if signalled and not handled:
                    actor = system_context("signal", station=socket.gethostname(), full_name="SIGHUP to the HMI")
                    await self._reloader.reload(actor)
            except Exception:
                # The channel must outlive a bad request; what went wrong is logged.
                log.exception("plant reload channel: a request failed")

    async def _take_requests(self) -> int:
        requests = await asyncio.to_thread(
            lambda: sorted(p for p in self.requests.glob(f"*{REQUEST_SUFFIX}") if p.is_file())
        )
        for request in requests:
            request_id = request.name.removesuffix(REQUEST_SUFFIX)
            try:
                who = await asyncio.to_thread(owner_name, request)
            except OSError:
                continue  # taken back by its writer
            actor = system_context(f"cli:{who}", station=socket.gethostname(), full_name="command line (hmi reload)")
            result = await self._reloader.reload(actor)
            out = self.requests / f"{request_id}{RESULT_SUFFIX}"
            await asyncio.to_thread(write_private_json, out, result.as_json())
            with contextlib.suppress(OSError):
                await asyncio.to_thread(request.unlink)
        return len(requests)

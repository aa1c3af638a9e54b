"""The optional plant file watcher (`hmi run --watch-plant`): a saved plant file is reloaded by itself.

It looks at the file's size, modification time and inode once a second rather than waiting for file system events
(watchfiles/inotify): that also works on network shares, where events do not arrive, and cannot miss a save made
while a watch was being set up. Editors save in bursts (write, rename, touch) and sometimes in pieces, so the
watcher never acts on the first change it sees: it waits until the file has stayed the same (size, modification
time and content hash) for `settle_s`, and does nothing when the content is what was last applied or refused.
A file caught half-written is then still only validated, never applied: it fails validation and the refusal is
audited like any other.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from pathlib import Path

from hmi.plant_reload import PlantReloader
from hmi.records.audit import system_context
from hmi.supervise import Supervised

log = logging.getLogger(__name__)


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _fingerprint(path: Path) -> tuple[int, int, str] | None:
    try:
        data = path.read_bytes()
        st = path.stat()
    except OSError:
        return None  # between an editor's delete and rename: wait for the next event
    return st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest()


class PlantWatcher:
    """Watches the plant file and reloads it when it has settled after a change."""

    def __init__(self, path: Path, reloader: PlantReloader, *, settle_s: float = 1.0, poll_s: float = 1.0) -> None:
        self.path = path.absolute()
        self._reloader = reloader
        self._settle_s = settle_s
        self._poll_s = poll_s
        self._seen: tuple[int, int, str] | None = None
        self._stat: tuple[int, int, int] | None = None
        self._task = Supervised("plant-watcher", self._run)

    async def start(self) -> None:
        """Start watching."""
        # What is running now: a save from here on is a change, even one made before the task's first look.
        self._seen = await asyncio.to_thread(_fingerprint, self.path)
        self._stat = await asyncio.to_thread(_stat, self.path)
        self._task.start()

    async def stop(self) -> None:
        """Stop watching."""
        await self._task.stop()

    async def _run(self) -> None:
        # The path, not an open file: editors replace the file by renaming a new one over it (a new inode).
        while True:
            await asyncio.sleep(self._poll_s)
            now = await asyncio.to_thread(_stat, self.path)
            if now != self._stat:
                await self._settled_reload()
                self._stat = await asyncio.to_thread(_stat, self.path)

    async def _settled_reload(self) -> None:
        current = await asyncio.to_thread(_fingerprint, self.path)
        while True:
            await asyncio.sleep(self._settle_s)
            again = await asyncio.to_thread(_fingerprint, self.path)
            if again == current:
                break
            current = again
        if current is None or (self._seen is not None and current[2] == self._seen[2]):
            return
        self._seen = current
        actor = system_context("watcher", station=socket.gethostname(), full_name="plant file watcher")
        result = await self._reloader.reload(actor)
        log.info("plant file watcher: %s", result.message)

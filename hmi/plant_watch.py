"""The optional plant file watcher (`hmi run --watch-plant`): a saved plant file is reloaded by itself.

Editors save in bursts (write, rename, touch) and sometimes in pieces, so the watcher never acts on the first
event: it waits until the file has stayed the same (size, modification time and content hash) for `settle_s`,
and does nothing when the content is what was last applied or refused. A file caught half-written is then still
only validated, never applied: it fails validation and the refusal is audited like any other.
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


def _fingerprint(path: Path) -> tuple[int, int, str] | None:
    try:
        data = path.read_bytes()
        st = path.stat()
    except OSError:
        return None  # between an editor's delete and rename: wait for the next event
    return st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest()


class PlantWatcher:
    """Watches the plant file's folder and reloads when the file has settled after a change."""

    def __init__(self, path: Path, reloader: PlantReloader, *, settle_s: float = 1.0) -> None:
        self.path = path.absolute()
        self._reloader = reloader
        self._settle_s = settle_s
        self._seen: tuple[int, int, str] | None = None
        self._task = Supervised("plant-watcher", self._run)

    async def start(self) -> None:
        """Start watching."""
        self._seen = await asyncio.to_thread(_fingerprint, self.path)
        self._task.start()

    async def stop(self) -> None:
        """Stop watching."""
        await self._task.stop()

    async def _run(self) -> None:
        from watchfiles import awatch

        # The folder, not the file: editors replace the file by renaming a new one over it.
        async for changes in awatch(self.path.parent, debounce=int(self._settle_s * 1000), recursive=False):
            if any(Path(changed).name == self.path.name for _, changed in changes):
                await self._settled_reload()

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

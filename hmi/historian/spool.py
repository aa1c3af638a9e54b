"""Store and forward: batches the database could not take wait on local disk (JSON lines) until it answers again."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hmi.historian.recording import Row

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
CORRUPT_SUFFIX = ".corrupt"
_FIELDS = ("tag", "t_us", "value", "text", "quality", "status")


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """One spooled batch read back: its file and its valid rows (corrupt lines already moved aside)."""

    path: Path
    rows: list[Row]


class Spool:
    """One file per batch in `directory`, named so that the oldest sorts first; all file I/O off the event loop."""

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)
        self._seq = itertools.count()

    @property
    def directory(self) -> Path:
        """Where the batches wait."""
        return self._dir

    async def open(self) -> int:
        """Create the folder if needed; returns how many batches wait from an earlier run."""
        return await asyncio.to_thread(self._open)

    def _open(self) -> int:
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"historian spool folder {self._dir} cannot be created ({exc.strerror}); "
                "make it writable or point the historian's spool_dir elsewhere"
            ) from exc
        return len(self._files())

    async def append(self, rows: Sequence[Row]) -> Path:
        """Write a batch durably (fsync) as a new spool file; returns its path."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}{SUFFIX}"
        return await asyncio.to_thread(self._write, self._dir / name, list(rows))

    def _write(self, path: Path, rows: list[Row]) -> Path:
        self._dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({k: row[k] for k in _FIELDS}, separators=(",", ":")))
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        # Rename after fsync: a replay never sees a half-written batch under its final name.
        tmp.replace(path)
        _fsync_dir(self._dir)
        return path

    async def count(self) -> int:
        """Batches waiting."""
        return await asyncio.to_thread(lambda: len(self._files()))

    def _files(self) -> list[Path]:
        if not self._dir.is_dir():
            return []
        return sorted(self._dir.glob(f"*{SUFFIX}"))

    async def oldest(self) -> SpoolBatch | None:
        """The oldest waiting batch with its valid rows, or None when the spool is empty."""
        return await asyncio.to_thread(self._oldest)

    def _oldest(self) -> SpoolBatch | None:
        files = self._files()
        if not files:
            return None
        path = files[0]
        rows: list[Row] = []
        good: list[str] = []
        bad: list[str] = []
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                row = _parse(line)
                if row is None:
                    log.error(
                        "historian spool %s line %d is corrupt and was moved to %s%s: %.120r",
                        path,
                        number,
                        path.name,
                        CORRUPT_SUFFIX,
                        line,
                    )
                    bad.append(json.dumps({"line": number, "text": line.rstrip("\n")}, ensure_ascii=False) + "\n")
                else:
                    rows.append(row)
                    good.append(line if line.endswith("\n") else line + "\n")
        if bad:
            # Set aside once: the corrupt lines go to <batch>.corrupt with their line numbers, then the batch is
            # rewritten without them, so a replay that fails again does not move them a second time.
            with path.with_name(path.name + CORRUPT_SUFFIX).open("a", encoding="utf-8") as f:
                f.writelines(bad)
                f.flush()
                os.fsync(f.fileno())
            tmp = path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as f:
                f.writelines(good)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(path)
            _fsync_dir(self._dir)
        return SpoolBatch(path, rows)

    async def remove(self, batch: SpoolBatch) -> None:
        """Delete a batch file once its rows are committed."""
        await asyncio.to_thread(self._remove, batch.path)

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_dir(self._dir)


def _parse(line: str) -> Row | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    tag, t_us, value = data.get("tag"), data.get("t_us"), data.get("value")
    text, quality, status = data.get("text"), data.get("quality"), data.get("status")
    if not isinstance(tag, str) or not tag or isinstance(t_us, bool) or not isinstance(t_us, int):
        return None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return None
    if text is not None and not isinstance(text, str):
        return None
    if quality not in ("good", "uncertain", "bad", "stale") or isinstance(status, bool) or not isinstance(status, int):
        return None
    return {
        "tag": tag,
        "t_us": t_us,
        "value": None if value is None else float(value),
        "text": text,
        "quality": quality,
        "status": status,
    }


def _fsync_dir(directory: Path) -> None:
    # A rename or unlink is durable only once the folder itself is synced (POSIX); not possible on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

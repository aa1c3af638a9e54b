"""The audit chain's head, anchored outside the database: an append-only file of JSON lines.

A valid, shorter chain (the last rows deleted) or a chain rebuilt from some row on cannot be told from the real
one by looking at the database alone. Each anchor line records the row count, the last id and its hash at a time;
`hmi audit verify` compares the database with the last line (21 CFR 11.10(e): changes must not obscure what was
recorded). Written at least every minute while the HMI runs (when the chain has grown), at shutdown, and on
every export, which prints it too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hmi.private_files import append_private
from hmi.supervise import stop_tasks

if TYPE_CHECKING:
    from hmi.records.audit import AuditLog

log = logging.getLogger(__name__)

ANCHOR_FILE_NAME = "audit.anchor"
ANCHOR_INTERVAL_S = 60.0
# The last line is found by reading the file's end, not the whole file (it grows by one line a minute).
_TAIL_BYTES = 64 * 1024


class AnchorFileError(Exception):
    """The anchor file cannot be read (its last line is not an anchor); the message names the file."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain's head at one moment: `rows` rows up to `last_id`, whose hash is `head`; `legacy` of them unkeyed."""

    at: datetime
    rows: int
    last_id: int
    head: str
    legacy: int
    key_id: str | None = None
    note: str = ""

    def to_json(self) -> str:
        """One line of the anchor file."""
        data = asdict(self)
        data["at"] = self.at.astimezone(UTC).isoformat(timespec="seconds")
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Anchor:
        """Parse one line; ValueError when it is not an anchor."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(
            at=datetime.fromisoformat(data["at"]).astimezone(UTC),
            rows=int(data["rows"]),
            last_id=int(data["last_id"]),
            head=str(data["head"]),
            legacy=int(data["legacy"]),
            key_id=data.get("key_id"),
            note=str(data.get("note", "")),
        )

    def describe(self) -> str:
        """'2026-12-01T08:30:00+00:00: 120 rows up to row 120, head 3f2a…' for messages and exports."""
        return f"{self.at.isoformat(timespec='seconds')}: {self.rows} rows up to row {self.last_id}, head {self.head}"

    def same_head(self, other: Anchor | None) -> bool:
        """True when `other` records the same chain head (time and note aside)."""
        return other is not None and (self.rows, self.last_id, self.head) == (other.rows, other.last_id, other.head)


class AnchorFile:
    """The append-only anchor file (0600): one JSON line per anchor, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, anchor: Anchor) -> None:
        """Add one line and flush it to disk (blocking: call in a thread from the event loop)."""
        append_private(self.path, (anchor.to_json() + "\n").encode("utf-8"))

    def last(self) -> Anchor | None:
        """The newest anchor, None if the file does not exist or is empty; AnchorFileError if it is damaged."""
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - _TAIL_BYTES))
                tail = handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        lines = [line for line in tail.splitlines() if line.strip()]
        if not lines:
            return None
        try:
            return Anchor.from_json(lines[-1])
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorFileError(
                f"the last line of the anchor file {self.path} is not an anchor ({exc}); "
                "compare it with a copy of the file"
            ) from None


class AnchorKeeper:
    """Owns the `audit-anchor` task: anchors the chain head when it has grown, every interval and at stop.

    Before a new anchor is written the rows since the previous one are checked (with the key), so an anchor
    never vouches for rows changed in between; a failing check is logged and reported through `on_problem`.
    """

    def __init__(
        self,
        audit: AuditLog,
        file: AnchorFile,
        *,
        interval_s: float = ANCHOR_INTERVAL_S,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self._audit = audit
        self._file = file
        self._interval_s = interval_s
        self._on_problem = on_problem
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._reported: set[str] = set()
        self.last: Anchor | None = None

    async def start(self) -> None:
        """Read the last anchor, then anchor in the background: at once, then every interval."""
        try:
            self.last = await asyncio.to_thread(self._file.last)
        except AnchorFileError as exc:
            # Keep running (a damaged anchor file must not stop the plant), but make sure someone looks.
            self._problem(str(exc))
            self.last = None
        # The first check after an upgrade walks the whole trail; it must not hold up the screens.
        self._task = asyncio.create_task(self._run(), name="audit-anchor")

    async def stop(self) -> None:
        """End the task, then write a last anchor (the database must still be open)."""
        task, self._task = self._task, None
        await stop_tasks(task)
        await self.anchor_now()

    async def anchor_now(self, note: str = "") -> Anchor | None:
        """Anchor the head if it changed since the last anchor; the anchor now in force, None on a problem."""
        async with self._lock:
            try:
                check = await self._audit.check_chain(start=self.last)
                if not check.intact:
                    self._problem(
                        f"the audit trail changed since the anchor of {self.last.at if self.last else '-'}"
                        f": row {check.broken_at}: {check.reason}; no new anchor is written until "
                        "`hmi audit verify` has been run and the cause found"
                    )
                    return None
                head = self._audit.anchor_of(check)
                if head.same_head(self.last) and not note:
                    return self.last
                head = Anchor(head.at, head.rows, head.last_id, head.head, head.legacy, head.key_id, note)
                await asyncio.to_thread(self._file.append, head)
                self.last = head
                return head
            except Exception as exc:  # a writer task must never die; the next round tries again
                log.exception("audit anchor: cannot anchor the chain head")
                self._problem(f"the audit chain head cannot be anchored in {self._file.path}: {exc}")
                return None

    async def _run(self) -> None:
        while True:
            await self.anchor_now()
            await asyncio.sleep(self._interval_s)

    def _problem(self, text: str) -> None:
        log.error("audit anchor: %s", text)
        if text not in self._reported and self._on_problem is not None:
            self._reported.add(text)
            self._on_problem(text)

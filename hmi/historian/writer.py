"""The historian: records tag changes (deadband, max interval) in batches, spools to disk while the database is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig
from hmi.historian.partitions import Partitions
from hmi.historian.recording import Recorder, Row, TagPolicy, from_us, plant_policies, to_us
from hmi.historian.spool import Spool
from hmi.historian.storage import MINUTE_US, write_batch
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import Sample, SampleRollup
from hmi.store.quarantine import Quarantine, is_unavailable
from hmi.supervise import every, stop_tasks
from hmi.tags import TagCache, TagState

log = logging.getLogger(__name__)

MAX_BATCH = 20_000
PRUNE_CHUNK = 10_000
TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class HistorianStatus:
    """What screens show about the historian: queue, spool, since when it buffers, last error, rows written."""

    queued: int
    spooled_batches: int
    buffering_since: datetime | None
    last_error: str | None
    written: int
    oldest_waiting: datetime | None = None
    """The source time of the oldest sample queued and not yet written (its age is the historian's lag)."""


class Historian:
    """Subscribes to the cache, records per each tag's history policy, writes batches with their minute rollups.

    The cache callback only enqueues. A batch the database cannot take goes to the spool on disk and is replayed,
    oldest first, when the database answers again; replays are idempotent, so nothing is lost or stored twice.
    """

    def __init__(
        self,
        plant: PlantConfig,
        cache: TagCache,
        db: Database,
        spool_dir: Path,
        clock: Clock = utc_now,
        *,
        quarantine: Quarantine | None = None,
    ) -> None:
        self._plant = plant
        self.quarantine = quarantine or Quarantine(db, None, clock)
        self._cache = cache
        self._db = db
        self._clock = clock
        self._recorder = Recorder.for_plant(plant)
        self._spool = Spool(spool_dir)
        self._queue: list[Row] = []
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._spooled = 0
        self._buffering_since: datetime | None = None
        self._last_error: str | None = None
        self._written = 0
        self.partitions = Partitions(db)

    # ---------------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Subscribe to every tag with history enabled and start the flush, tick and prune tasks."""
        if self._unsubscribe is not None:
            return
        self._spooled = await self._spool.open()
        await self._ensure_partitions()
        if self._spooled:
            log.warning(
                "historian: %d spooled batches from an earlier run in %s will be written",
                self._spooled,
                self._spool.directory,
            )
            self._set_buffering(True)
        names = self._recorder.names
        # Values already in the cache are the starting point: record them now.
        self._enqueue(list(self._cache.snapshot(names).values()))
        self._unsubscribe = self._cache.subscribe(names, self._enqueue)
        self._start_loops()

    def use_plant(self, plant: PlantConfig) -> None:
        """Take over a reloaded plant: per-tag rules, the tags followed (new ones recorded from their current
        value, removed ones no longer), retention. The loops' intervals follow in `restart_loops`."""
        old = self._recorder.names
        self._plant = plant
        self._recorder.use_policies(plant_policies(plant))
        if self._unsubscribe is None:
            return
        self._unsubscribe()
        names = self._recorder.names
        self._unsubscribe = self._cache.subscribe(names, self._enqueue)
        added = [n for n in names if n not in set(old)]
        self._enqueue(list(self._cache.snapshot(added).values()))

    async def restart_loops(self) -> None:
        """Restart the flush, tick and prune loops with the plant's current intervals (after a reload changed
        them). What is queued stays queued; a flush cut short is written again (inserts are idempotent)."""
        if self._unsubscribe is None:
            return
        tasks, self._tasks = self._tasks, []
        await stop_tasks(*tasks)
        self._start_loops()

    def _start_loops(self) -> None:
        policy = self._plant.historian
        # Each round's failure is logged and the next round comes: none of these tasks ends before stop().
        self._tasks = [
            self._spawn(every("historian flush", policy.flush_interval_s, self._flush_quietly), "historian-flush"),
            self._spawn(every("historian tick", TICK_S, self._tick_async), "historian-tick"),
            self._spawn(
                every("historian prune", policy.prune_interval_min * 60, self._prune_quietly), "historian-prune"
            ),
        ]

    async def stop(self) -> None:
        """End the subscription and the tasks, then write what is queued (to the spool if the database is down)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks, self._tasks = self._tasks, []
        await stop_tasks(*tasks)
        # A write cancelled between commit and dequeue is simply written again: inserts are idempotent.
        await self.flush()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return asyncio.create_task(coro, name=name)

    # ------------------------------------------------------------------------------------------------ status

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        """The flush, tick and prune loops, while started."""
        return list(self._tasks)

    @property
    def recorded(self) -> list[str]:
        """The tags recorded (history enabled)."""
        return self._recorder.names

    @property
    def status(self) -> HistorianStatus:
        """The current queue, spool and error state."""
        # Rows are queued as values arrive, so the first one waiting is the oldest.
        oldest = from_us(self._queue[0]["t_us"]) if self._queue else None
        return HistorianStatus(
            len(self._queue), self._spooled, self._buffering_since, self._last_error, self._written, oldest
        )

    def _set_buffering(self, on: bool) -> None:
        if on == (self._buffering_since is not None):
            return
        self._buffering_since = self._clock() if on else None
        if not on:
            self._last_error = None

    # ----------------------------------------------------------------------------------------------- recording

    def _enqueue(self, states: Sequence[TagState]) -> None:
        # Runs inside TagCache.update on the event loop: decide and append, nothing else.
        self._queue.extend(self._recorder.offer_all(states, to_us(self._clock())))

    def tick(self) -> int:
        """Queue the max-interval samples due now; returns how many."""
        rows = self._recorder.due(to_us(self._clock()))
        self._queue.extend(rows)
        return len(rows)

    async def _tick_async(self) -> None:
        self.tick()

    # -------------------------------------------------------------------------------------------------- writing

    async def flush(self) -> None:
        """Queue due max-interval samples and write everything queued now, spooled batches first."""
        self.tick()
        async with self._lock:
            await self._flush_locked()

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception:
            # The loop must survive anything; what failed is logged and the data stays queued or spooled.
            log.exception("historian flush failed")

    async def _flush_locked(self) -> None:
        if self._spooled and not await self._replay():
            await self._spool_queue()
            return
        while self._queue:
            batch = self._queue[:MAX_BATCH]
            try:
                await self._write(batch)
            except Exception as exc:
                self._note_failure(exc)
                await self._spool_queue()
                return
            del self._queue[: len(batch)]
        self._set_buffering(False)

    async def _write(self, rows: Sequence[Row]) -> int:
        """Write a batch; when the database refuses it for a reason other than being away, write it row by row
        and set aside (quarantine) the rows it refuses, so one bad sample never holds back the rest. Rewriting
        rows is harmless: inserts are idempotent."""
        try:
            return await self._write_batch(rows)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.warning("historian: a batch of %d samples was refused (%s); writing them one by one", len(rows), exc)
        new = 0
        for row in rows:
            try:
                new += await self._write_batch([row])
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                await self.quarantine.put(Sample.__tablename__, row, exc)
        return new

    async def _write_batch(self, rows: Sequence[Row]) -> int:
        async with self._db.session(write=True) as session:
            new = await write_batch(session, self._db.dialect, rows)
            await session.commit()
        self._written += new
        return new

    async def _replay(self) -> bool:
        """Write spooled batches oldest first; False when the database failed again."""
        while True:
            batch = await self._spool.oldest()
            if batch is None:
                self._spooled = 0
                return True
            try:
                await self._write(batch.rows)
            except Exception as exc:
                self._note_failure(exc)
                return False
            # Deleted only after commit: a crash in between replays the file, which the keys make harmless.
            await self._spool.remove(batch)
            self._spooled = await self._spool.count()
            log.info("historian: replayed %d spooled samples from %s", len(batch.rows), batch.path.name)

    async def _spool_queue(self) -> None:
        while self._queue:
            batch = self._queue[:MAX_BATCH]
            try:
                await self._spool.append(batch)
            except OSError as exc:
                # Disk full or folder gone: keep the rows in memory and say what to fix.
                self._last_error = f"historian spool {self._spool.directory} is not writable: {exc}"
                log.error("%s; %d samples kept in memory", self._last_error, len(self._queue))
                return
            del self._queue[: len(batch)]
            self._spooled += 1
        self._set_buffering(True)

    def _note_failure(self, exc: Exception) -> None:
        if isinstance(exc, DatabaseUnavailable):
            self._last_error = str(exc)
        elif isinstance(exc, OSError | TimeoutError | sa.exc.DBAPIError | RuntimeError):
            # RuntimeError: the Database was stopped (shutdown order, a test) - the same as unreachable here.
            self._last_error = f"{self._db.describe()} failed: {exc}"
        else:
            # Not a connection problem (a bug, a constraint): still spooled so nothing is lost, but said loudly.
            self._last_error = f"{self._db.describe()} rejected a historian batch: {type(exc).__name__}: {exc}"
            log.exception("historian write failed unexpectedly; the batch is spooled in %s", self._spool.directory)
        if self._buffering_since is None:
            log.error(
                "historian: %s; buffering samples in %s until it answers", self._last_error, self._spool.directory
            )
        self._set_buffering(True)

    # -------------------------------------------------------------------------------------------------- pruning

    async def _ensure_partitions(self) -> None:
        """The day tables ahead (PostgreSQL); a database that does not answer now gets them at the next prune."""
        try:
            await self.partitions.ensure(self._clock())
        except Exception as exc:  # the rows go to the default partition meanwhile; nothing is lost
            log.warning("historian: day partitions not made now (%s); the next prune tries again", exc)

    async def prune(self) -> int:
        """Drop the day tables every tag's retention has passed (PostgreSQL), then delete samples and rollups older
        than each tag's retention (whole minutes, in chunks); returns the samples deleted row by row."""
        now = self._clock()
        await self._ensure_partitions()
        longest = max((TagPolicy.of(self._plant, n).retention_days for n in self._plant.tags), default=None)
        if longest is not None:
            await self.partitions.drop_before(now - timedelta(days=longest))
        deleted = 0
        s, r = Sample.__table__, SampleRollup.__table__  # type: ignore[attr-defined]  # SQLModel sets it at runtime
        for name in self._plant.tags:
            policy = TagPolicy.of(self._plant, name)
            cutoff = to_us(now - timedelta(days=policy.retention_days))
            # Whole minutes only, so a rollup row never outlives or undercounts the samples it sums.
            cutoff -= cutoff % MINUTE_US
            deleted += await self._delete_chunks(s, s.c.t_us, name, cutoff)
            await self._delete_chunks(r, r.c.bucket_us, name, cutoff)
        return deleted

    async def _delete_chunks(self, table: sa.Table, time_col: sa.Column[int], tag: str, cutoff: int) -> int:
        total = 0
        while True:
            oldest = (
                sa.select(time_col)
                .where(table.c.tag == tag, time_col < cutoff)
                .order_by(time_col)
                .limit(PRUNE_CHUNK)
                .scalar_subquery()
            )
            stmt = sa.delete(table).where(table.c.tag == tag, time_col.in_(oldest))
            async with self._db.session(write=True) as session:
                result = await session.execute(stmt)
                await session.commit()
            n = cast("sa.CursorResult[Any]", result).rowcount or 0  # a DELETE's result is a CursorResult
            total += n
            if n < PRUNE_CHUNK:
                return total

    async def _prune_quietly(self) -> None:
        try:
            n = await self.prune()
            if n:
                log.info("historian: pruned %d samples past retention", n)
        except Exception as exc:
            log.warning(
                "historian: pruning failed (%s); retried in %g min", exc, self._plant.historian.prune_interval_min
            )

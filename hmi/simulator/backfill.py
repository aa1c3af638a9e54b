"""Simulated history for the demo: the plant model run over the past hours and recorded as the historian would.

A fresh demo has no past, so its trends over a shift and its OEE would show hours of "no data". This fills an
empty history (never one that holds real samples) from the same seedable model the simulator serves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from asyncua import ua
from sqlmodel import col

from hmi.config import PlantConfig
from hmi.historian.recording import Recorder, Row, to_us
from hmi.historian.storage import write_batch
from hmi.simulator.model import PlantModel, Sample
from hmi.store.database import Database
from hmi.store.models import Sample as StoredSample
from hmi.tags import TagState, classify

log = logging.getLogger(__name__)

# Simulated minutes generated per slice: big enough to write efficiently, small enough to keep the loop lively.
SLICE = timedelta(minutes=15)
# Rows per write transaction. On SQLite a writer holds the database's one write lock for its whole transaction, and
# a 30,000-row slice took 1-2 s on a busy machine: a sign-in or an acknowledgement waiting behind it for longer than
# the busy timeout fails. Small transactions with a pause between them let every other writer in at once.
ROWS_PER_TX = 2_000
TX_PAUSE_S = 0.02


async def history_is_empty(db: Database) -> bool:
    """True when no sample has been recorded yet."""
    async with db.session() as session:
        return (await session.execute(sa.select(col(StoredSample.tag)).limit(1))).first() is None


class Backfill:
    """Runs the plant model from `now - hours` to `now` in steps of `step_s` and records what changed."""

    def __init__(
        self, plant: PlantConfig, *, hours: float, now: datetime, seed: int | None = None, step_s: float = 1.0
    ) -> None:
        if hours <= 0 or step_s <= 0:
            raise ValueError("hours and step_s must be positive")
        self.start = now - timedelta(hours=hours)
        self.end = now
        self._step = timedelta(seconds=step_s)
        self._model = PlantModel(plant, random.Random(seed), self.start)
        self._recorder = Recorder.for_plant(plant)
        self._codes: dict[str, int] = {}
        self._t = self.start
        self._pending: list[Row] = self._recorder.offer_all(
            self._states(self._model.outputs(), self.start), to_us(self.start)
        )

    def _code(self, status: str) -> int:
        if status not in self._codes:
            self._codes[status] = int(getattr(ua.StatusCodes, status.replace("_", ""), ua.StatusCodes.Bad))
        return self._codes[status]

    def _states(self, samples: Mapping[str, Sample], at: datetime) -> list[TagState]:
        out = []
        for name, sample in samples.items():
            code = self._code(sample.status)
            out.append(TagState(name, sample.value, code, classify(code), at, at, at))
        return out

    def next_slice(self) -> list[Row] | None:
        """The samples of the next SLICE of simulated time (CPU work: run it in a thread); None when done.

        Simulated time stops short of `end`: from there on the live historian records the real simulator.
        """
        if self._t + self._step >= self.end and not self._pending:
            return None
        rows, self._pending = self._pending, []
        until = min(self._t + SLICE, self.end)
        while self._t + self._step < until:
            self._t += self._step
            t_us = to_us(self._t)
            rows += self._recorder.offer_all(self._states(self._model.step(self._t), self._t), t_us)
            rows += self._recorder.due(t_us)
        return rows

    async def run(self, db: Database) -> int:
        """Generate and write every slice; returns how many samples were stored."""
        written = 0
        try:
            while (rows := await asyncio.to_thread(self.next_slice)) is not None:
                for start in range(0, len(rows), ROWS_PER_TX):
                    async with db.session(write=True) as session:
                        written += await write_batch(session, db.dialect, rows[start : start + ROWS_PER_TX])
                        await session.commit()
                    await asyncio.sleep(TX_PAUSE_S)
        except Exception:
            # Demo history is a convenience: the live plant goes on without it.
            log.exception("demo history stopped after %d samples", written)
            return written
        log.info(
            "demo history: %d simulated samples from %s to %s",
            written,
            self.start.isoformat(timespec="seconds"),
            self.end.isoformat(timespec="seconds"),
        )
        return written

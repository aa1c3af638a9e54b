"""Trend queries: raw samples when few, else min/max per bucket computed in SQL; gaps for bad, stale and holes."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from hmi.config import PlantConfig
from hmi.historian.recording import US_PER_S, drawable, from_us, to_us
from hmi.historian.storage import MINUTE_US
from hmi.limits import check_span
from hmi.store.database import Database
from hmi.texts import Text

# A hole is data missing for longer than this many max intervals (plus HOLE_SLACK_US for write jitter).
HOLE_FACTOR = 1.5
HOLE_SLACK_US = 5 * US_PER_S
# Bad runs inside a downsampled view are read back from samples for exact spans up to this many rows each.
REFINE_LIMIT = 20_000
# Pens are read concurrently (separate connections), at most this many at once.
PARALLEL = 4
MIN_POINTS = 16

_BIG = sa.BigInteger()


@dataclass(frozen=True, slots=True)
class RawSample:
    """One recorded sample as stored: a number (booleans as 0/1) or a text, its quality and OPC UA status code."""

    time: datetime
    value: float | None
    text: str | None
    quality: str
    status: int


@dataclass(frozen=True)
class Series:
    """One pen: points in time order (None = gap) and the bad / stale / no-data periods in the range."""

    tag: str
    times: list[datetime]
    values: list[float | None]
    downsampled: bool
    bad_spans: list[tuple[datetime, datetime, str]]


def _text(sql: str, *big: str) -> sa.TextClause:
    # Typed binds: asyncpg needs to know the integers are bigint (µs values exceed int4).
    return sa.text(sql).bindparams(*(sa.bindparam(name, type_=_BIG) for name in big))


# Bounded below by the hole time: an older sample is not carried anyway (_Builder.carry), and the bound lets
# PostgreSQL read only the day tables that can hold it, not one index of every day kept.
_LATEST_BEFORE = _text(
    "SELECT tag, t_us, value, text, quality, status FROM samples WHERE tag = :tag AND t_us < :t AND t_us >= :since "
    "ORDER BY t_us DESC LIMIT 1",
    "t",
    "since",
)
_RAW = _text(
    "SELECT tag, t_us, value, text, quality, status FROM samples WHERE tag = :tag AND t_us >= :a AND t_us <= :b "
    "ORDER BY t_us",
    "a",
    "b",
)
_RAW_LIMIT = _text(
    "SELECT tag, t_us, value, text, quality, status FROM samples WHERE tag = :tag AND t_us >= :a AND t_us <= :b "
    "ORDER BY t_us LIMIT :lim",
    "a",
    "b",
    "lim",
)
_RAW_PAGE = _text(
    "SELECT tag, t_us, value, text, quality, status FROM samples WHERE tag = :tag AND t_us >= :a AND t_us <= :b "
    "ORDER BY t_us LIMIT :lim OFFSET :off",
    "a",
    "b",
    "lim",
    "off",
)
_COUNT_UPTO = _text(
    "SELECT count(*) FROM (SELECT 1 FROM samples WHERE tag = :tag AND t_us >= :a AND t_us <= :b LIMIT :lim) AS x",
    "a",
    "b",
    "lim",
)

# Min/max per bucket from raw samples; ROW_NUMBER picks the extreme and its time (earliest on ties) portably.
_BUCKETS_RAW = _text(
    """
WITH s AS (
  SELECT (t_us - :origin) / :w AS b, t_us, value,
         CASE WHEN value IS NOT NULL AND quality IN ('good', 'uncertain') THEN 1 ELSE 0 END AS ok,
         CASE WHEN (value IS NULL OR quality NOT IN ('good', 'uncertain'))
                   AND NOT (text IS NOT NULL AND quality = 'good') THEN 1 ELSE 0 END AS bad
  FROM samples WHERE tag = :tag AND t_us >= :a AND t_us <= :b
), r AS (
  SELECT b, t_us, value, ok, bad,
         ROW_NUMBER() OVER (PARTITION BY b, ok ORDER BY value, t_us) AS rmin,
         ROW_NUMBER() OVER (PARTITION BY b, ok ORDER BY value DESC, t_us) AS rmax
  FROM s
)
SELECT b, min(t_us), max(t_us), sum(ok), sum(bad),
       max(CASE WHEN ok = 1 AND rmin = 1 THEN value END), max(CASE WHEN ok = 1 AND rmin = 1 THEN t_us END),
       max(CASE WHEN ok = 1 AND rmax = 1 THEN value END), max(CASE WHEN ok = 1 AND rmax = 1 THEN t_us END)
FROM r GROUP BY b ORDER BY b
""",
    "origin",
    "w",
    "a",
    "b",
)

# The same from the minute rollups when a bucket is whole minutes: a week is 10,080 rows per pen, not 604,800.
_BUCKETS_ROLLUP = _text(
    """
WITH r AS (
  SELECT (bucket_us - :origin) / :w AS b, bucket_us, n, n_bad, vmin, vmax, t_min_us, t_max_us,
         ROW_NUMBER() OVER (PARTITION BY (bucket_us - :origin) / :w
                            ORDER BY CASE WHEN vmin IS NULL THEN 1 ELSE 0 END, vmin, t_min_us) AS rmin,
         ROW_NUMBER() OVER (PARTITION BY (bucket_us - :origin) / :w
                            ORDER BY CASE WHEN vmax IS NULL THEN 1 ELSE 0 END, vmax DESC, t_max_us) AS rmax
  FROM sample_rollups WHERE tag = :tag AND bucket_us >= :origin AND bucket_us <= :b
)
SELECT b, min(bucket_us), max(bucket_us) + 59999999, sum(n), sum(n_bad),
       max(CASE WHEN rmin = 1 THEN vmin END), max(CASE WHEN rmin = 1 THEN t_min_us END),
       max(CASE WHEN rmax = 1 THEN vmax END), max(CASE WHEN rmax = 1 THEN t_max_us END)
FROM r GROUP BY b ORDER BY b
""",
    "origin",
    "w",
    "b",
)


@dataclass(slots=True)
class _Bucket:
    first: int
    last: int
    n: int
    n_bad: int
    vmin: float | None
    tmin: int | None
    vmax: float | None
    tmax: int | None


class _Rec(NamedTuple):
    """A sample as the series builder needs it; plain tuples, because model objects cost ~100 µs each."""

    t_us: int
    value: float | None
    text: str | None
    quality: str


def _rec(row: Any) -> _Rec:
    return _Rec(int(row[1]), row[2], row[3], row[4])


def _is_gap(s: _Rec) -> bool:
    """A sample that breaks the line: no drawable number, unless it is a good string value."""
    return not drawable(s.quality, s.value) and not (s.text is not None and s.quality == "good")


class _Builder:
    """Collects points and spans in time order; keeps times strictly increasing."""

    def __init__(self, start: int, end: int, hole_us: int) -> None:
        self.start, self.end, self.hole_us = start, end, hole_us
        self.points: list[tuple[int, float | None]] = []
        self.spans: list[tuple[int, int, str]] = []
        self.open: tuple[int, str] | None = None  # an open bad span: since, label
        self.last_t: int | None = None  # time of the last sample seen (any quality)
        self.carried = False  # the last point is the value carried from before the range

    def point(self, t: int, v: float | None) -> None:
        t = min(max(t, self.start), self.end)
        if self.carried and self.points and t == self.points[-1][0]:
            # A sample exactly at the left edge replaces the value carried there.
            self.points.pop()
        self.carried = False
        if self.points and t <= self.points[-1][0]:
            if v is None and self.points[-1][1] is None:
                return
            t = self.points[-1][0] + 1
        self.points.append((t, v))

    def open_span(self, t: int, label: str, mark: bool = True) -> bool:
        """Open a bad span at `t` (a gap point too when `mark`); True when a gap point was added."""
        t = max(t, self.start)
        if self.open is not None:
            if self.open[1] == label:
                return False
            self.close_span(t)
            # The line is already broken: a relabelled span needs no second gap point.
            self.open = (t, label)
            return False
        self.open = (t, label)
        if mark:
            self.point(t, None)
        return mark

    def close_span(self, t: int) -> None:
        if self.open is not None:
            since, label = self.open
            self.spans.append((since, max(since, min(t, self.end)), label))
            self.open = None

    def hole_check(self, t: int) -> None:
        """A 'no data' gap when nothing was recorded between the last sample and `t` for too long."""
        if self.open is None and self.last_t is not None and t - self.last_t > self.hole_us:
            since = max(self.last_t, self.start)
            self.spans.append((since, min(t, self.end), "no data"))
            self.point(since + 1, None)

    def carry(self, before: _Rec | None) -> None:
        """Start the series at `start` with the last value recorded before it."""
        if before is None or self.start - before.t_us > self.hole_us:
            self.open_span(self.start, "no data")
            return
        self.last_t = before.t_us
        if _is_gap(before):
            self.open_span(self.start, before.quality)
        elif before.value is not None:
            self.point(self.start, before.value)
            self.carried = True

    def sample(self, s: _Rec) -> None:
        self.hole_check(s.t_us)
        if _is_gap(s):
            self.open_span(s.t_us, s.quality if s.quality != "good" else "no value")
        else:
            self.close_span(s.t_us)
            if s.value is not None:
                self.point(s.t_us, s.value)
        self.last_t = s.t_us

    def finish(self) -> None:
        if self.open is not None:
            self.close_span(self.end)
        else:
            self.hole_check(self.end)

    def series(self, tag: str, downsampled: bool) -> Series:
        return Series(
            tag,
            [from_us(t) for t, _ in self.points],
            [v for _, v in self.points],
            downsampled,
            [(from_us(a), from_us(b), label) for a, b, label in sorted(self.spans)],
        )


def hole_us(plant: PlantConfig, tag: str) -> int:
    """How long (µs) a tag may go without a recorded sample before the trend shows 'no data': the recorder writes
    at least every `max_interval_s`, so a longer silence is a hole, never a value held or a line drawn across."""
    policy = plant.history_policy(tag) if tag in plant.tags else plant.historian.defaults
    return round(HOLE_FACTOR * policy.max_interval_s * US_PER_S) + HOLE_SLACK_US


class HistoryQuery:
    """Reads trends from the historian tables; the same SQL on SQLite and PostgreSQL."""

    def __init__(self, db: Database, plant: PlantConfig) -> None:
        self._db = db
        self._plant = plant

    def use_plant(self, plant: PlantConfig) -> None:
        """Take over a reloaded plant (hmi/plant_reload.py)."""
        self._plant = plant

    def _hole_us(self, tag: str) -> int:
        return hole_us(self._plant, tag)

    async def series(
        self, tags: Sequence[str], start: datetime, end: datetime, max_points: int = 2000
    ) -> dict[str, Series]:
        """One Series per tag over [start, end], never more than `max_points` points each; RangeTooLong beyond the
        plant's `limits.trend_max_days`."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("HistoryQuery.series needs timezone-aware start and end (UTC)")
        if end <= start:
            raise ValueError(
                Text(
                    "trend range is empty: end {end} is not after start {start}",
                    end=end.isoformat(),
                    start=start.isoformat(),
                )
            )
        if max_points < MIN_POINTS:
            raise ValueError(f"max_points must be at least {MIN_POINTS}, got {max_points}")
        # The points are bounded by downsampling; the span bounds the rows the database reads to make them.
        check_span(Text("the trend window"), start, end, self._plant.limits.trend_max_days)
        gate = asyncio.Semaphore(PARALLEL)

        async def one(tag: str) -> Series:
            async with gate:
                return await self._series(tag, to_us(start), to_us(end), max_points)

        results = await asyncio.gather(*(one(t) for t in dict.fromkeys(tags)))
        return {s.tag: s for s in results}

    async def raw(self, tag: str, start: datetime, end: datetime, *, limit: int, offset: int = 0) -> list[RawSample]:
        """The recorded samples of `tag` in [start, end] in time order, at most `limit` after skipping `offset`
        (for callers paging through raw data, e.g. the REST API); RangeTooLong beyond `limits.trend_max_days`."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("HistoryQuery.raw needs timezone-aware start and end (UTC)")
        check_span("the history range", start, end, self._plant.limits.trend_max_days)
        params = {"tag": tag, "a": to_us(start), "b": to_us(end), "lim": max(1, limit), "off": max(0, offset)}
        async with self._db.session() as session:
            rows = (await session.execute(_RAW_PAGE, params)).all()
        return [RawSample(from_us(int(r[1])), r[2], r[3], str(r[4]), int(r[5] or 0)) for r in rows]

    async def _series(self, tag: str, a: int, b: int, max_points: int) -> Series:
        hole = self._hole_us(tag)
        async with self._db.session() as session:
            before = (await session.execute(_LATEST_BEFORE, {"tag": tag, "t": a, "since": a - hole})).first()
            carry = None if before is None else _rec(before)
            count: int = (
                await session.execute(_COUNT_UPTO, {"tag": tag, "a": a, "b": b, "lim": max_points})
            ).scalar_one()
            if count < max_points:
                rows = (await session.execute(_RAW, {"tag": tag, "a": a, "b": b})).all()
                built = _Builder(a, b, hole)
                built.carry(carry)
                samples = [_rec(r) for r in rows]
                for s in samples:
                    built.sample(s)
                built.finish()
                if len(built.points) <= max_points:
                    return built.series(tag, downsampled=False)
            return await self._downsampled(session, tag, a, b, max_points, hole, carry)

    async def _downsampled(
        self, session: Any, tag: str, a: int, b: int, max_points: int, hole: int, carry: _Rec | None
    ) -> Series:
        # Up to four points per bucket (a hole before it, min, max, a bad gap) plus the carried value and a gap.
        n_buckets = max(1, (max_points - 2) // 4)
        width = math.ceil((b - a + 1) / n_buckets)
        if width >= MINUTE_US:
            width = math.ceil(width / MINUTE_US) * MINUTE_US
            origin = a - a % MINUTE_US
            rows = await session.execute(_BUCKETS_ROLLUP, {"tag": tag, "origin": origin, "w": width, "b": b})
        else:
            rows = await session.execute(_BUCKETS_RAW, {"tag": tag, "origin": a, "w": width, "a": a, "b": b})
        buckets = [
            _Bucket(
                int(r[1]),
                int(r[2]),
                int(r[3] or 0),
                int(r[4] or 0),
                r[5],
                None if r[6] is None else int(r[6]),
                r[7],
                None if r[8] is None else int(r[8]),
            )
            for r in rows.all()
        ]
        # Exact bad/stale spans come from the samples, read only where a bucket says there were some.
        bad_samples: dict[int, list[_Rec]] = {}
        i = 0
        while i < len(buckets):
            if buckets[i].n_bad == 0:
                i += 1
                continue
            j = i
            while j + 1 < len(buckets) and buckets[j + 1].n_bad > 0:
                j += 1
            lo, hi = max(buckets[i].first, a), min(buckets[j].last, b)
            found = (await session.execute(_RAW_LIMIT, {"tag": tag, "a": lo, "b": hi, "lim": REFINE_LIMIT})).all()
            bad_samples[i] = [_rec(r) for r in found]
            i = j + 1

        built = _Builder(a, b, hole)
        built.carry(carry)
        k = 0
        while k < len(buckets):
            bucket = buckets[k]
            built.hole_check(bucket.first)
            run = bad_samples.get(k)
            if run is not None:
                k = self._emit_run(built, buckets, k, run)
                continue
            if built.open is not None and bucket.n > 0:
                built.close_span(min(t for t in (bucket.tmin, bucket.tmax) if t is not None))
            self._emit_extremes(built, bucket)
            built.last_t = bucket.last
            k += 1
        built.finish()
        return built.series(tag, downsampled=True)

    @staticmethod
    def _emit_extremes(built: _Builder, bucket: _Bucket) -> None:
        pts = [(t, v) for t, v in ((bucket.tmin, bucket.vmin), (bucket.tmax, bucket.vmax)) if t is not None]
        pts.sort(key=lambda p: p[0])
        if len(pts) == 2 and pts[0][0] == pts[1][0]:
            pts = pts[:1]
        for t, v in pts:
            built.point(t, v)

    def _emit_run(self, built: _Builder, buckets: list[_Bucket], k: int, run: list[_Rec]) -> int:
        """Buckets k.. with bad samples: extremes and at most one gap point each, exact spans from the samples.

        Returns the index of the first bucket after the run.
        """
        pos = 0
        j = k
        while j < len(buckets) and buckets[j].n_bad > 0:
            bucket = buckets[j]
            if j > k:
                built.hole_check(bucket.first)
            # (time, order, sample): extremes carry no sample; at equal times the sample's state goes first.
            events: list[tuple[int, int, _Rec | None]] = [
                (t, 1, None) for t in {bucket.tmin, bucket.tmax} if t is not None
            ]
            while pos < len(run) and run[pos].t_us <= bucket.last:
                events.append((run[pos].t_us, 0, run[pos]))
                pos += 1
            events.sort(key=lambda e: (e[0], e[1]))
            marked = False
            for t, _order, s in events:
                if s is None:
                    built.close_span(t)
                    built.point(t, bucket.vmin if t == bucket.tmin else bucket.vmax)
                elif _is_gap(s):
                    # One gap point per bucket keeps the budget; every span is still reported exactly.
                    marked = (
                        built.open_span(s.t_us, s.quality if s.quality != "good" else "no value", mark=not marked)
                        or marked
                    )
                else:
                    built.close_span(s.t_us)
            built.last_t = bucket.last
            j += 1
        return j

"""Trend queries on a real database: point budget, extremes kept, gaps for bad, stale and holes, carried values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hmi.config import PlantConfig, parse_config
from hmi.historian import HistoryQuery, Series
from hmi.historian.recording import from_us, to_us
from hmi.historian.storage import write_batch
from hmi.limits import RangeTooLong
from hmi.store.database import Database

T0 = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
DAY_S = 86_400
SPIKE_AT, SPIKE = 40_000, 500.0
BAD = (3_600, 3_900)  # bad quality, no value
STALE = (50_000, 50_600)  # one stale sample, then nothing until good again
HOLE = (60_000, 60_600)  # nothing recorded (historian down)

PLANT = """
site: {name: T}
endpoints: [{name: e, url: 'opc.tcp://127.0.0.1:4840'}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: Q.Fast, endpoint: e, node_id: 'ns=2;s=F', history: {max_interval_s: 1}}
          - {name: Q.Slow, endpoint: e, node_id: 'ns=2;s=S', history: {max_interval_s: 600}}
"""


def plant() -> PlantConfig:
    return parse_config(PLANT, "test")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fast_rows() -> list[dict[str, Any]]:
    """A day of 1-s samples of Q.Fast: a slow wave, one spike, a bad period, a stale period and a hole."""
    rows = []
    for s in range(DAY_S):
        if BAD[0] < s < BAD[1] or STALE[0] < s < STALE[1] or HOLE[0] < s < HOLE[1]:
            continue
        value: float | None = 50 + 20 * math.sin(s / 3_000)
        quality = "good"
        if s == SPIKE_AT:
            value = SPIKE
        if s == BAD[0]:
            value, quality = None, "bad"
        if s == STALE[0]:
            quality = "stale"
        rows.append(
            {
                "tag": "Q.Fast",
                "t_us": to_us(at(s)),
                "value": value,
                "text": None,
                "quality": quality,
                "status": 0 if quality == "good" else 0x80000000,
            }
        )
    return rows


async def store(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.session(write=True) as session:
        await write_batch(session, db.dialect, rows)
        await session.commit()


@pytest.fixture
async def query(db: Database) -> HistoryQuery:
    await store(db, fast_rows())
    slow = [(-300, 10.0), (180, 11.0), (780, 12.0)]  # every few minutes: max_interval 600
    await store(
        db,
        [
            {"tag": "Q.Slow", "t_us": to_us(at(s)), "value": v, "text": None, "quality": "good", "status": 0}
            for s, v in slow
        ],
    )
    return HistoryQuery(db, plant())


def check_shape(series: Series, max_points: int) -> None:
    assert len(series.times) == len(series.values) <= max_points
    assert all(a < b for a, b in zip(series.times, series.times[1:], strict=False)), "times strictly increasing"
    assert all(t.tzinfo is not None for t in series.times)


def spans(series: Series, label: str) -> list[tuple[float, float]]:
    return [((a - T0).total_seconds(), (b - T0).total_seconds()) for a, b, q in series.bad_spans if q == label]


def gap_times(series: Series) -> list[float]:
    return [(t - T0).total_seconds() for t, v in zip(series.times, series.values, strict=True) if v is None]


@pytest.mark.req("HIS-006", "HIS-007")
async def test_day_downsampled_within_budget_keeps_spike_and_gaps(query: HistoryQuery) -> None:
    result = await query.series(["Q.Fast"], at(0), at(DAY_S - 1), max_points=500)
    s = result["Q.Fast"]
    check_shape(s, 500)
    assert s.downsampled
    assert max(v for v in s.values if v is not None) == SPIKE
    assert min(v for v in s.values if v is not None) == pytest.approx(30, abs=0.01)
    bad = spans(s, "bad")
    assert bad == [(BAD[0], BAD[1])]
    assert spans(s, "stale") == [(STALE[0], STALE[1])]
    holes = spans(s, "no data")
    assert any(a <= HOLE[0] + 60 and b >= HOLE[1] - 60 for a, b in holes), holes
    gaps = gap_times(s)
    for lo, hi in (BAD, STALE, HOLE):
        assert any(lo - 1 <= g <= hi for g in gaps), f"no gap point in {lo}..{hi}: {gaps}"


@pytest.mark.req("HIS-006")
async def test_hours_downsampled_from_samples(query: HistoryQuery) -> None:
    # Two hours at 1 s with 300 points: buckets shorter than a minute come from raw samples.
    result = await query.series(["Q.Fast"], at(39_000), at(46_200), max_points=300)
    s = result["Q.Fast"]
    check_shape(s, 300)
    assert s.downsampled
    assert SPIKE in s.values
    assert s.times[s.values.index(SPIKE)] == at(SPIKE_AT)
    assert s.bad_spans == []


async def stored(db: Database, tag: str, start: datetime, end: datetime) -> list[tuple[int, float | None]]:
    """(t_us, value) of the samples of `tag` with start <= time <= end, read straight from the table."""
    async with db.session() as session:
        rows = (
            await session.execute(
                sa.text("SELECT t_us, value FROM samples WHERE tag = :tag AND t_us >= :a AND t_us <= :b ORDER BY t_us"),
                {"tag": tag, "a": to_us(start), "b": to_us(end)},
            )
        ).all()
    return [(r.t_us, r.value) for r in rows]


@pytest.mark.req("HIS-007")
async def test_raw_when_few_with_exact_bad_span(query: HistoryQuery, db: Database) -> None:
    result = await query.series(["Q.Fast"], at(3_500), at(4_000))
    s = result["Q.Fast"]
    check_shape(s, 2000)
    assert not s.downsampled
    assert s.bad_spans == [(at(BAD[0]), at(BAD[1]), "bad")]
    assert gap_times(s) == [BAD[0]]
    raw = await stored(db, "Q.Fast", at(3_500), at(4_000))
    # Every sample is a point except the bad one, which is the gap; the carried value sits at the start.
    assert [t for t, v in zip(s.times, s.values, strict=True) if v is not None] == [
        from_us(t_us) for t_us, value in raw if value is not None
    ]


@pytest.mark.req("HIS-007")
async def test_hole_and_stale_in_raw_view(query: HistoryQuery) -> None:
    s = (await query.series(["Q.Fast"], at(49_900), at(50_700)))["Q.Fast"]
    assert spans(s, "stale") == [(STALE[0], STALE[1])]
    s = (await query.series(["Q.Fast"], at(59_900), at(60_700)))["Q.Fast"]
    assert not s.downsampled
    assert spans(s, "no data") == [(HOLE[0], HOLE[1])]
    gaps = gap_times(s)
    assert len(gaps) == 1
    assert HOLE[0] < gaps[0] < HOLE[1]


@pytest.mark.req("HIS-007")
async def test_value_before_start_is_carried_to_the_left_edge(query: HistoryQuery) -> None:
    s = (await query.series(["Q.Slow"], at(0), at(900)))["Q.Slow"]
    assert s.times[0] == at(0)
    assert s.values == [10.0, 11.0, 12.0]
    assert s.bad_spans == []


@pytest.mark.req("HIS-007")
async def test_nothing_recorded_is_one_no_data_span(query: HistoryQuery) -> None:
    s = (await query.series(["Q.Slow"], at(10_000), at(20_000)))["Q.Slow"]
    # The last value is 2.5 hours old: longer than 1.5 max intervals, so it is not drawn as current.
    assert s.values == [None]
    assert spans(s, "no data") == [(10_000, 20_000)]
    missing = (await query.series(["No.Such"], at(0), at(10)))["No.Such"]
    assert missing.values == [None]


@pytest.mark.req("HIS-006")
async def test_several_pens(query: HistoryQuery) -> None:
    result = await query.series(["Q.Fast", "Q.Slow"], at(0), at(7 * DAY_S), max_points=100)
    assert set(result) == {"Q.Fast", "Q.Slow"}
    for s in result.values():
        check_shape(s, 100)


@pytest.mark.req("SEC-010")
async def test_bad_arguments_are_explained(query: HistoryQuery) -> None:
    with pytest.raises(ValueError, match="not after start"):
        await query.series(["Q.Fast"], at(10), at(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        await query.series(["Q.Fast"], datetime(2025, 1, 1), at(0))  # noqa: DTZ001


@pytest.mark.req("SEC-010")
async def test_a_window_beyond_the_maximum_span_is_refused_before_any_read(db: Database) -> None:
    # One year and a day is too much by default; the plant may set its own maximum.
    query = HistoryQuery(db, plant())
    with pytest.raises(RangeTooLong, match=r"covers 367 days; at most 366 days can be read at once"):
        await query.series(["Q.Fast"], at(0), at(367 * DAY_S))
    assert (await query.series(["Q.Fast"], at(0), at(366 * DAY_S), max_points=100))["Q.Fast"].tag == "Q.Fast"
    short = HistoryQuery(db, parse_config(PLANT + "limits: {trend_max_days: 7}\n", "test"))
    with pytest.raises(RangeTooLong, match="at most 7 days"):
        await short.series(["Q.Fast"], at(0), at(8 * DAY_S))

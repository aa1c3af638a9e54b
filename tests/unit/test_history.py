"""Live trend buffers: good values as numbers, everything else as gaps, pruned to the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua.ua import StatusCodes

from hmi.historian.live import TrendBuffer
from hmi.tags import Quality, TagCache, TagState, classify

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(name: str, value: Any, t: float, status: int = 0) -> TagState:
    """A state with SourceTimestamp T0 + t (server and receive times later)."""
    return TagState(name, value, status, classify(status), at(t), at(t + 0.5), at(t + 1))


@pytest.fixture
def cache() -> TagCache:
    return TagCache()


@pytest.fixture
def trends(cache: TagCache) -> TrendBuffer:
    buffer = TrendBuffer(cache, ["Temp", "Count"], window=timedelta(seconds=60))
    buffer.start()
    return buffer


@pytest.mark.req("HIS-007")
def test_records_good_values_at_their_source_time(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([ts("Temp", 70.5, 0), ts("Count", 7, 0)])
    cache.update([ts("Temp", 71, 1)])
    assert trends.points("Temp") == [(at(0), 70.5, Quality.GOOD), (at(1), 71.0, Quality.GOOD)]
    assert trends.points("Count") == [(at(0), 7.0, Quality.GOOD)]
    assert all(isinstance(v, float) for _, v, _ in trends.points("Temp") + trends.points("Count"))


@pytest.mark.req("HIS-007")
def test_without_source_time_the_server_time_is_used(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([TagState("Temp", 1.0, 0, Quality.GOOD, None, at(4), at(5))])
    assert trends.points("Temp") == [(at(4), 1.0, Quality.GOOD)]


@pytest.mark.req("HIS-007")
def test_only_the_buffered_tags_are_kept(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([ts("Speed", 300.0, 0)])
    assert trends.points("Speed") == []
    assert trends.names == {"Temp", "Count"}
    assert trends.points("Temp") == []


@pytest.mark.parametrize(
    ("status", "quality"),
    [(StatusCodes.BadSensorFailure, Quality.BAD), (StatusCodes.UncertainLastUsableValue, Quality.UNCERTAIN)],
)
@pytest.mark.req("HIS-007")
def test_non_good_values_are_gaps(cache: TagCache, trends: TrendBuffer, status: int, quality: Quality) -> None:
    cache.update([ts("Temp", 70.0, 0)])
    cache.update([ts("Temp", 999.0, 1, status)])
    cache.update([ts("Temp", 72.0, 2)])
    assert trends.points("Temp") == [(at(0), 70.0, Quality.GOOD), (at(1), None, quality), (at(2), 72.0, Quality.GOOD)]


@pytest.mark.req("HIS-007")
def test_a_good_value_that_is_not_a_number_is_a_gap(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([ts("Temp", "n/a", 0)])
    assert trends.points("Temp") == [(at(0), None, Quality.GOOD)]


@pytest.mark.req("HIS-007")
def test_stale_is_a_gap_stamped_when_the_loss_was_seen(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([ts("Temp", 70.0, 0)])
    cache.mark_stale(["Temp"], at(8))
    # The stale state still carries source time 0; the gap belongs at 8, when the loss was detected.
    assert cache.get("Temp").time == at(0)  # type: ignore[union-attr]
    assert trends.points("Temp") == [(at(0), 70.0, Quality.GOOD), (at(8), None, Quality.STALE)]
    cache.update([ts("Temp", 73.0, 12)])
    assert trends.points("Temp")[-1] == (at(12), 73.0, Quality.GOOD)


@pytest.mark.req("HIS-007")
def test_times_never_go_backwards(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([ts("Temp", 70.0, 10)])
    cache.update([ts("Temp", 69.0, 5)])  # a late sample with an older source time
    assert [p[0] for p in trends.points("Temp")] == [at(10), at(10)]
    assert trends.points("Temp")[-1][1] == 69.0


@pytest.mark.req("HIS-007")
def test_window_pruning(cache: TagCache, trends: TrendBuffer) -> None:
    for t in range(0, 100, 10):
        cache.update([ts("Temp", float(t), t)])
    points = trends.points("Temp")
    # Newest at 90 s with a 60 s window: points from 30 s on stay.
    assert [p[0] for p in points] == [at(t) for t in range(30, 100, 10)]
    assert trends.points("Count") == []


@pytest.mark.req("HIS-007")
def test_max_points_bounds_memory(cache: TagCache) -> None:
    buffer = TrendBuffer(cache, ["Temp"], window=timedelta(hours=1), max_points=5)
    buffer.start()
    for t in range(8):
        cache.update([ts("Temp", float(t), t)])
    assert [p[1] for p in buffer.points("Temp")] == [3.0, 4.0, 5.0, 6.0, 7.0]


@pytest.mark.req("HIS-007")
def test_points_since(cache: TagCache, trends: TrendBuffer) -> None:
    for t in range(5):
        cache.update([ts("Temp", float(t), t)])
    assert [p[1] for p in trends.points("Temp", since=at(2))] == [3.0, 4.0]
    assert [p[1] for p in trends.points("Temp", since=at(1.5))] == [2.0, 3.0, 4.0]
    assert trends.points("Temp", since=at(4)) == []
    assert len(trends.points("Temp", since=at(-1))) == 5
    assert trends.points("Unknown") == []
    assert trends.points("Unknown", since=at(0)) == []


@pytest.mark.req("HIS-007")
def test_points_is_a_copy(cache: TagCache, trends: TrendBuffer) -> None:
    cache.update([ts("Temp", 1.0, 0)])
    points = trends.points("Temp")
    cache.update([ts("Temp", 2.0, 1)])
    assert len(points) == 1


@pytest.mark.req("OPS-006")
def test_stop_ends_recording_and_the_subscription(cache: TagCache, trends: TrendBuffer) -> None:
    assert cache.listener_count == 1
    cache.update([ts("Temp", 1.0, 0)])
    trends.stop()
    assert cache.listener_count == 0
    cache.update([ts("Temp", 2.0, 1)])
    assert [p[1] for p in trends.points("Temp")] == [1.0]
    trends.stop()  # a second stop is harmless


@pytest.mark.req("HIS-007")
def test_nothing_is_recorded_before_start(cache: TagCache) -> None:
    buffer = TrendBuffer(cache, ["Temp"])
    cache.update([ts("Temp", 1.0, 0)])
    assert buffer.points("Temp") == []
    assert cache.listener_count == 0


@pytest.mark.req("HIS-007")
def test_a_long_run_keeps_exactly_the_window_and_the_newest_points(cache: TagCache) -> None:
    """Thousands of changes (the dropped points are cut off in batches): what is kept is still exactly the window, or
    the newest max_points, and `since` still finds its place."""
    by_window = TrendBuffer(cache, ["Temp"], window=timedelta(seconds=60))
    by_count = TrendBuffer(cache, ["Temp"], window=timedelta(hours=1), max_points=100)
    by_window.start()
    by_count.start()
    for t in range(5000):
        cache.update([ts("Temp", float(t), t, StatusCodes.BadSensorFailure if t % 7 == 0 else 0)])
    kept = by_window.points("Temp")
    assert [p[0] for p in kept] == [at(t) for t in range(4939, 5000)]
    assert [(p[1], p[2]) for p in kept[2:4]] == [(4941.0, Quality.GOOD), (None, Quality.BAD)]  # 4942 = 7 x 706
    assert [p[1] for p in by_count.points("Temp")][-3:] == [4997.0, None, 4999.0]
    assert len(by_count.points("Temp")) == 100
    assert [p[1] for p in by_count.points("Temp", since=at(4996))] == [4997.0, None, 4999.0]

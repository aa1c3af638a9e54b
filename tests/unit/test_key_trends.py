"""The key values' small trends on the line screen, their pure parts: which tags have one, the ring buffer's points
as a series held up to now, and thinning a long hour to what the width can show (hmi/graphics/sparkline.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hmi.config import parse_config
from hmi.graphics.sparkline import key_value_names, ring_series, sparkline_runs, thin
from hmi.tags import Quality
from tests.plant_fixture import PLANT_YAML

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
GOOD, BAD = Quality.GOOD, Quality.BAD


@pytest.mark.req("LGX-012")
def test_key_values_are_the_machines_numeric_tags_with_a_range() -> None:
    text = PLANT_YAML.format(url="opc.tcp://127.0.0.1:4840").replace(
        "unit: °C\n", "unit: °C\n                eng_range: [0, 120]\n", 1
    )
    # The line's own speed has a range but belongs to no machine; pressure and level have none.
    assert key_value_names(parse_config(text, "plant.yaml")) == ["L1.M1.Temp"]


@pytest.mark.req("LGX-012")
def test_the_last_good_value_is_held_to_now_and_a_gap_stays_a_gap() -> None:
    now = T0 + timedelta(minutes=30)
    points = [(T0, 10.0, GOOD), (T0 + timedelta(minutes=5), 20.0, GOOD)]
    assert ring_series(points, now) == ([T0, T0 + timedelta(minutes=5), now], [10.0, 20.0, 20.0])
    lost = [*points, (T0 + timedelta(minutes=6), None, BAD)]
    times, values = ring_series(lost, now)
    assert values == [10.0, 20.0, None]  # nothing drawn after the loss: no ramp, no held value
    assert sparkline_runs(times, values, T0, now) != []
    assert len(sparkline_runs([*times, now], [*values, 30.0], T0, now)) == 2  # the gap breaks the line
    assert ring_series([], now) == ([], [])


@pytest.mark.req("LGX-012")
def test_a_long_hour_is_thinned_to_first_lowest_highest_and_last_per_column_keeping_peaks_and_gaps() -> None:
    end = T0 + timedelta(hours=1)
    times = [T0 + timedelta(seconds=s) for s in range(3600)]
    values: list[float | None] = [float(s % 7) for s in range(3600)]
    values[1800] = 500.0  # a peak
    values[2400] = None  # a gap
    thin_t, thin_v = thin(times, values, T0, end, columns=240)
    assert len(thin_t) == len(thin_v) <= 4 * 240 + 1
    assert 500.0 in thin_v
    assert None in thin_v
    assert thin_t == sorted(thin_t)
    assert max(v for v in thin_v if v is not None) == 500.0
    assert min(v for v in thin_v if v is not None) == 0.0
    # Few points: unchanged.
    assert thin(times[:10], values[:10], T0, end) == (times[:10], values[:10])

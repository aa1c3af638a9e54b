"""The historical trend figure: gaps stay gaps, one axis per unit, limits, bad periods, marks and the cursor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hmi.historian.export import trend_csv
from screens.history_figure import Mark, build_figure, local_x, parse_x, value_at
from tests.plant_fixture import small_plant

ZONE = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


@dataclass
class FakeSeries:
    """The shape HistoryQuery.series returns (a plain record, not a stand-in for a component)."""

    tag: str
    times: list[datetime]
    values: list[float | None]
    downsampled: bool = False
    bad_spans: list[tuple[datetime, datetime, str]] = field(default_factory=list)


def _series() -> dict[str, FakeSeries]:
    times = [T0 + timedelta(seconds=10 * i) for i in range(6)]
    return {
        "L1.M1.Temp": FakeSeries(
            "L1.M1.Temp", times, [70.0, 71.0, None, None, 72.0, 73.0], bad_spans=[(times[2], times[4], "bad")]
        ),
        "L1.Speed": FakeSeries("L1.Speed", times, [300.0] * 6),
    }


@pytest.mark.req("HIS-007", "HIS-008")
def test_gaps_are_never_joined_and_units_get_their_own_axis() -> None:
    plant = small_plant("opc.tcp://127.0.0.1:4840")
    fig = build_figure(plant, ZONE, ["L1.M1.Temp", "L1.Speed"], _series(), T0, T0 + timedelta(minutes=1))
    temp, speed, grid = fig["data"]
    assert grid["name"] == "cursor"
    assert grid["hoverinfo"] == "none"
    assert temp["y"] == [70.0, 71.0, None, None, 72.0, 73.0]
    assert temp["connectgaps"] is False
    assert temp["yaxis"] == "y"
    assert speed["yaxis"] == "y2"
    assert fig["layout"]["yaxis"]["title"]["text"] == "°C"
    assert fig["layout"]["yaxis2"]["title"]["text"] == "bpm"
    rects = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"]
    assert len(rects) == 1
    assert "BAD" in rects[0]["label"]["text"]
    limits = sorted(s["y0"] for s in fig["layout"]["shapes"] if s["type"] == "line" and s["xref"] == "paper")
    assert limits == [80, 95]  # H and HH of the temperature; the speed has none


@pytest.mark.req("HIS-008")
def test_marks_cursor_and_window() -> None:
    plant = small_plant("opc.tcp://127.0.0.1:4840")
    end = T0 + timedelta(minutes=1)
    fig = build_figure(
        plant,
        ZONE,
        ["L1.M1.Temp"],
        _series(),
        T0,
        end,
        marks=[Mark(T0 + timedelta(seconds=15), "L1.M1.Temp.H", "2")],
        cursor=T0,
    )
    labels = [s.get("label", {}).get("text", "") for s in fig["layout"]["shapes"]]
    assert "P2 L1.M1.Temp.H" in labels
    assert fig["layout"]["xaxis"]["range"] == [local_x(T0, ZONE), local_x(end, ZONE)]
    assert fig["layout"]["hovermode"] == "x unified"


@pytest.mark.req("HIS-009")
def test_plotly_dates_round_trip_in_plant_time() -> None:
    at = datetime(2026, 10, 25, 0, 59, 59, 123000, tzinfo=UTC)
    assert parse_x(local_x(at, ZONE), ZONE) == at
    assert parse_x("2026-10-25 03:00:00.5", ZONE) == datetime(2026, 10, 25, 3, 0, 0, 500000, tzinfo=ZONE)
    assert parse_x("2026-10-25 03:00", ZONE) == datetime(2026, 10, 25, 3, 0, tzinfo=ZONE)
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_x("yesterday", ZONE)


@pytest.mark.req("HIS-008")
def test_cursor_reads_the_value_as_drawn() -> None:
    s = _series()["L1.M1.Temp"]
    assert value_at(s, T0 - timedelta(seconds=1)) is None
    assert value_at(s, T0 + timedelta(seconds=15)) == 71.0
    assert value_at(s, T0 + timedelta(seconds=25)) is None  # in the bad period
    assert value_at(s, T0 + timedelta(hours=1)) == 73.0


@pytest.mark.req("HIS-011")
def test_csv_says_why_a_point_has_no_value() -> None:
    plant = small_plant("opc.tcp://127.0.0.1:4840")
    text = trend_csv(_series(), plant, ZONE)
    rows = text.strip().splitlines()
    assert rows[0] == "time_utc,time_local,zone,tag,value,unit,quality,downsampled"
    assert len(rows) == 1 + 12
    assert rows[3].split(",")[3:7] == ["L1.M1.Temp", "", "°C", "bad"]
    assert rows[1].split(",")[4] == "70.0"
    assert rows[1].split(",")[1].endswith("+01:00") or rows[1].split(",")[1].endswith("+02:00")

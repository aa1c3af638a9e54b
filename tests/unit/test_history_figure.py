"""The historical trend figure: gaps stay gaps, one axis per unit, limits, bad periods, marks and the cursor."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hmi.historian.export import trend_csv
from hmi.oee.service import Stop
from hmi.oee.states import StateCategory
from screens.history_figure import (
    COLOURS,
    LABEL_GAP_PX,
    LIMIT_STYLE,
    Mark,
    break_gaps,
    build_figure,
    in_range,
    local_x,
    parse_x,
    place_labels,
    plan_axes,
    quality_at,
    row_domains,
    short_names,
    value_at,
)
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
    assert limits == [60, 75, 80, 95]  # the normal range, H and HH of the temperature; the speed has none


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


PLANT = small_plant("opc.tcp://127.0.0.1:4840")


def _label_px(fig: dict) -> list[float]:
    """The vertical pixel position of every limit label in `fig`."""
    layout = fig["layout"]
    plot_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    return sorted(a["y"] * plot_px for a in layout["annotations"])


@pytest.mark.req("TRD-001")
def test_each_pens_limits_are_in_its_colour_with_a_dash_per_kind_and_labelled_with_the_pen() -> None:
    pens = ["L1.M1.Temp", "L1.M1.Pressure"]
    fig = build_figure(PLANT, ZONE, pens, _series(), T0, T0 + timedelta(minutes=1))
    lines = {s["name"]: s for s in fig["layout"]["shapes"] if s.get("name", "").startswith("limit ")}
    assert set(lines) == {
        "limit L1.M1.Temp normal low",
        "limit L1.M1.Temp normal high",
        "limit L1.M1.Temp H",
        "limit L1.M1.Temp HH",
        "limit L1.M1.Pressure H",
    }
    assert lines["limit L1.M1.Temp H"]["line"]["color"] == COLOURS[0]
    assert lines["limit L1.M1.Pressure H"]["line"]["color"] == COLOURS[1]
    assert lines["limit L1.M1.Temp H"]["line"]["dash"] == LIMIT_STYLE["H"][0]
    assert lines["limit L1.M1.Temp HH"]["line"]["dash"] == LIMIT_STYLE["HH"][0]
    assert lines["limit L1.M1.Temp normal low"]["line"]["dash"] == LIMIT_STYLE["normal"][0]
    assert len({LIMIT_STYLE[k][0] for k in ("HH", "H", "normal")}) == 3  # the kinds differ in greyscale too
    assert lines["limit L1.M1.Pressure H"]["yref"] == "y2"  # on the pen's own unit axis
    labels = {a["name"]: a for a in fig["layout"]["annotations"]}
    assert labels["limit L1.M1.Temp H"]["text"] == "Temp H 80 °C"
    assert labels["limit L1.M1.Temp H"]["font"]["color"] == COLOURS[0]
    assert labels["limit L1.M1.Pressure H"]["text"] == "Pressure H 6 bar"
    assert labels["limit L1.M1.Pressure H"]["hovertext"] == "L1.M1.Pressure: H 6 bar"  # the whole name on hover
    # Every limit is inside its axis' fixed range, so it is always in view.
    low, high = fig["layout"]["yaxis"]["range"]
    assert low < 60
    assert high > 95


@pytest.mark.req("TRD-002")
def test_limit_labels_never_overlap_even_when_limits_are_close() -> None:
    # Temperature limits 60..95 °C and pressure H 6 bar on a scale drawn so they crowd: a short chart.
    fig = build_figure(
        PLANT, ZONE, ["L1.M1.Temp", "L1.M1.Pressure"], _series(), T0, T0 + timedelta(minutes=1), height=200
    )
    placed = _label_px(fig)
    assert placed, "some labels fit"
    assert all(b - a >= LABEL_GAP_PX - 0.01 for a, b in itertools.pairwise(placed))
    # Those left out for lack of room are the normal range's, never an alarm limit's before them.
    names = {a["name"] for a in fig["layout"]["annotations"]}
    if "limit L1.M1.Temp normal low" in names:
        assert "limit L1.M1.Temp HH" in names


@pytest.mark.req("TRD-002")
def test_place_labels_keeps_order_bounds_and_distance() -> None:
    # Far apart: each where it wants to be.
    assert place_labels([10.0, 100.0, 50.0], 16, 0, 200) == [10.0, 100.0, 50.0]
    # Three wanting the same spot: spread around it, in input order, 16 apart.
    assert place_labels([100.0, 100.0, 100.0], 16, 0, 200) == [84.0, 100.0, 116.0]
    # Against the top edge: pushed down, still inside.
    top = place_labels([199.0, 200.0], 16, 0, 200)
    assert top == [184.0, 200.0]
    # Against the bottom edge.
    assert place_labels([0.0, 1.0, 2.0], 10, 0, 100) == [0.0, 10.0, 20.0]
    # A chain of neighbours pushes the next group too, and every gap holds.
    chain = place_labels([10, 20, 30, 40, 45, 100], 16, 0, 300)
    assert all(b is not None and a is not None and b - a >= 16 - 1e-9 for a, b in itertools.pairwise(chain))
    # Room for two only: the least important (highest rank) is left out.
    assert place_labels([50.0, 50.0, 50.0], 20, 40, 60, rank=[0, 2, 1]) == [40.0, None, 60.0]
    assert place_labels([], 16, 0, 10) == []


@pytest.mark.req("TRD-003")
def test_axes_are_grouped_by_unit_never_more_than_two_on_a_side() -> None:
    # Two pens of one unit share one axis.
    fig = build_figure(PLANT, ZONE, ["L1.M1.Temp", "L1.Speed"], _series(), T0, T0 + timedelta(minutes=1))
    assert [t["yaxis"] for t in fig["data"][:2]] == ["y", "y2"]
    same = build_figure(PLANT, ZONE, ["L1.Good", "L1.Reject"], {}, T0, T0 + timedelta(minutes=1))
    assert [t["yaxis"] for t in same["data"][:2]] == ["y", "y"]
    assert "yaxis2" not in same["layout"]
    # Four units: left, right, left, right; the outer two shifted out past the inner ones, not on top of them.
    four = build_figure(
        PLANT, ZONE, ["L1.M1.Temp", "L1.Speed", "L1.M1.Pressure", "L1.M1.Level"], {}, T0, T0 + timedelta(minutes=1)
    )
    layout = four["layout"]
    sides = [layout[k]["side"] for k in ("yaxis", "yaxis2", "yaxis3", "yaxis4")]
    assert sides == ["left", "right", "left", "right"]
    assert layout["yaxis3"]["autoshift"] is True
    assert layout["yaxis3"]["anchor"] == "free"
    assert layout["yaxis3"]["position"] == 0
    assert layout["yaxis4"]["position"] == 1
    assert layout["yaxis3"]["overlaying"] == "y"
    assert layout["yaxis4"]["overlaying"] == "y"
    assert all(layout[k]["automargin"] for k in ("yaxis", "yaxis2", "yaxis3", "yaxis4"))
    # Five units do not fit on two sides: stacked rows of two, sharing the time axis along the bottom.
    five = build_figure(
        PLANT,
        ZONE,
        ["L1.M1.Temp", "L1.Speed", "L1.M1.Pressure", "L1.M1.Level", "L1.Good"],
        {},
        T0,
        T0 + timedelta(minutes=1),
    )
    layout = five["layout"]
    assert [layout[k].get("domain") for k in ("yaxis", "yaxis3", "yaxis5")] == [list(d) for d in row_domains(3)]
    assert layout["yaxis2"]["overlaying"] == "y"
    assert layout["yaxis4"]["overlaying"] == "y3"
    assert layout["xaxis"]["anchor"] == "y5"
    assert layout["height"] > four["layout"]["height"]  # rows get room of their own
    assert not any(layout[k].get("autoshift") for k in ("yaxis", "yaxis2", "yaxis3", "yaxis4", "yaxis5"))


@pytest.mark.req("TRD-003")
def test_axis_plan_and_rows() -> None:
    for n in range(1, 9):
        axes = plan_axes([f"u{k}" for k in range(n)])
        per_side: dict[tuple[int, str], int] = {}
        for axis in axes:
            per_side[(axis.row, axis.side)] = per_side.get((axis.row, axis.side), 0) + 1
        assert max(per_side.values()) <= 2
        assert (max(a.row for a in axes) > 0) == (n > 4)
    domains = row_domains(4)
    assert domains[0][1] == 1.0
    assert domains[-1][0] == 0.0
    assert all(low < high for low, high in domains)
    assert all(domains[k + 1][1] < domains[k][0] for k in range(3))  # rows do not overlap


@pytest.mark.req("TRD-005")
def test_short_names_drop_the_shared_prefix_but_keep_two_parts() -> None:
    assert short_names(["Line1.Filler.Temperature", "Line1.Speed"]) == {
        "Line1.Filler.Temperature": "Filler.Temperature",
        "Line1.Speed": "Speed",
    }
    assert short_names(["Line1.Filler.Temperature"]) == {"Line1.Filler.Temperature": "Filler.Temperature"}
    assert short_names(["Line1.Speed", "Line2.Speed"]) == {"Line1.Speed": "Line1.Speed", "Line2.Speed": "Line2.Speed"}


@pytest.mark.req("TRD-006", "HIS-007")
def test_a_silence_longer_than_the_threshold_becomes_a_gap() -> None:
    times = [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=100), T0 + timedelta(seconds=105)]
    out_t, out_v = break_gaps(times, [1.0, 2.0, 3.0, 4.0], timedelta(seconds=30))
    assert out_v == [1.0, 2.0, None, 3.0, 4.0]
    assert times[1] < out_t[2] < times[2]  # the gap starts right after the last point before the silence
    # Within the threshold: nothing inserted; an existing gap is not doubled.
    assert break_gaps(times[:2], [1.0, 2.0], timedelta(seconds=30))[1] == [1.0, 2.0]
    assert break_gaps(times, [1.0, None, 3.0, 4.0], timedelta(seconds=30))[1] == [1.0, None, 3.0, 4.0]
    # Joining new points to what is drawn already: the last drawn point counts.
    assert break_gaps(times[2:], [3.0, 4.0], timedelta(seconds=30), after=T0)[1] == [None, 3.0, 4.0]
    assert break_gaps(times[2:], [3.0, 4.0], timedelta(seconds=300), after=T0)[1] == [3.0, 4.0]


@pytest.mark.req("TRD-006")
def test_values_are_held_between_points_so_a_stop_is_no_ramp() -> None:
    # The speed falls to 0 at a stop and has no new point until the restart 5 minutes later.
    times = [T0, T0 + timedelta(seconds=5), T0 + timedelta(minutes=5)]
    stop = {"L1.Speed": FakeSeries("L1.Speed", times, [300.0, 0.0, 250.0])}
    fig = build_figure(PLANT, ZONE, ["L1.Speed"], stop, T0, T0 + timedelta(minutes=6))
    speed = fig["data"][0]
    assert speed["line"]["shape"] == "hv"  # 0 held until the restart, then the step: never a 5-minute ramp
    assert speed["connectgaps"] is False


def _stop(start: datetime, end: datetime | None, category: StateCategory, state: str) -> Stop:
    return Stop("L1", start, end, 0.0, category, state, None, None, False, "", None, None)


@pytest.mark.req("TRD-006")
def test_a_stop_of_the_pens_line_is_a_labelled_band_and_no_data_is_not() -> None:
    times = [T0, T0 + timedelta(seconds=5), T0 + timedelta(minutes=5)]
    stop = {"L1.Speed": FakeSeries("L1.Speed", times, [300.0, 0.0, 250.0])}
    stops = [
        _stop(T0 - timedelta(hours=1), T0 - timedelta(minutes=10), StateCategory.UNKNOWN, "No data"),
        _stop(T0 - timedelta(minutes=2), T0 + timedelta(seconds=5), StateCategory.IDLE, "Stopped"),
        _stop(T0 + timedelta(seconds=5), T0 + timedelta(minutes=5), StateCategory.DOWN, "Held"),
        _stop(T0 + timedelta(minutes=5, seconds=30), None, StateCategory.STARVED_BLOCKED, "Suspended"),
    ]
    end = T0 + timedelta(minutes=6)
    fig = build_figure(PLANT, ZONE, ["L1.Speed"], stop, T0, end, stops=stops)
    bands = [s for s in fig["layout"]["shapes"] if "stopped" in s.get("label", {}).get("text", "")]
    # No data before the HMI recorded anything is a gap, not a stop; a stop begun before the window starts with it,
    # one still going runs to the window's end.
    assert [(b["x0"], b["x1"], b["label"]["text"]) for b in bands] == [
        (local_x(T0, ZONE), local_x(T0 + timedelta(seconds=5), ZONE), "L1 stopped: IDLE"),
        (local_x(T0 + timedelta(seconds=5), ZONE), local_x(T0 + timedelta(minutes=5), ZONE), "L1 stopped: DOWN"),
        (local_x(T0 + timedelta(minutes=5, seconds=30), ZONE), local_x(end, ZONE), "L1 stopped: STARVED/BLOCKED"),
    ]
    assert all(b["fillcolor"] == "#c8c8c8" and b["layer"] == "below" for b in bands)  # grey: never an alarm colour
    # The pen itself is still drawn: the held 0 inside the band, no ramp and no invented gap.
    assert fig["data"][0]["y"] == [300.0, 0.0, 250.0]
    assert fig["data"][0]["line"]["shape"] == "hv"


@pytest.mark.req("TRD-004")
def test_cursor_reading_names_the_quality() -> None:
    s = _series()["L1.M1.Temp"]
    assert quality_at(s, T0 + timedelta(seconds=5)) == "good"
    assert quality_at(s, T0 + timedelta(seconds=25)) == "bad"
    assert quality_at(s, T0 - timedelta(seconds=1)) == "no data"


@pytest.mark.req("TRD-008")
def test_no_small_mode_bar_buttons() -> None:
    fig = build_figure(PLANT, ZONE, ["L1.M1.Temp"], _series(), T0, T0 + timedelta(minutes=1))
    assert fig["config"]["displayModeBar"] is False


@pytest.mark.req("TRD-001")
def test_a_value_beyond_the_axis_range_is_noticed() -> None:
    fig = build_figure(PLANT, ZONE, ["L1.M1.Temp"], _series(), T0, T0 + timedelta(minutes=1))
    assert in_range(fig["layout"], PLANT, ["L1.M1.Temp"], {"L1.M1.Temp": [72.0, None]})
    assert not in_range(fig["layout"], PLANT, ["L1.M1.Temp"], {"L1.M1.Temp": [500.0]})


def test_names_and_units_from_the_plant_file_are_escaped_in_chart_text() -> None:
    unit = PLANT.tags["L1.M1.Temp"].tag.unit
    fig = build_figure(PLANT, ZONE, ["L1.M1.Temp"], _series(), T0, T0 + timedelta(minutes=1))
    assert all("<" not in a["text"] for a in fig["layout"]["annotations"])
    assert unit in fig["data"][0]["hovertemplate"]

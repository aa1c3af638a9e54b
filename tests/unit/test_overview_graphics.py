"""The overview's pure parts: the analog scale and target, sparkline geometry and SVG, time in state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hmi.config import ConfigError, Line, LineOee, Tag, parse_config
from hmi.graphics.analog import Scale, deviation, line_target, speed_scale
from hmi.graphics.sparkline import HEIGHT, PAD, WIDTH, level_y, sparkline_runs, sparkline_svg
from hmi.oee.states import StateCategory
from hmi.oee.timeline import Segment, state_started
from tests.plant_fixture import PLANT_YAML

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def speed(**kw: object) -> Tag:
    return Tag.model_validate({"name": "L.Speed", "endpoint": "e", "node_id": "ns=2;s=S", **kw})


def line(oee: LineOee | None = None) -> Line:
    return Line(name="L", speed_tag="L.Speed", oee=oee)


@pytest.mark.req("OVW-002")
def test_scale_positions_values_and_holds_them_inside_the_bar() -> None:
    scale = Scale(0, 600)
    assert scale.pct(300) == 50.0
    assert scale.pct(450) == 75.0
    assert (scale.pct(-5), scale.pct(700)) == (0.0, 100.0)
    assert (scale.beyond(-5), scale.beyond(700), scale.beyond(10)) == ("low", "high", None)


@pytest.mark.req("OVW-002")
def test_the_target_is_the_plan_rate_else_the_ideal_rate_else_the_middle_of_the_normal_range() -> None:
    tag = speed(normal_range=(280, 320))
    assert line_target(line(LineOee(ideal_rate_per_min=320, planned_rate_per_min=300)), tag) == 300
    assert line_target(line(LineOee(ideal_rate_per_min=320)), tag) == 320
    assert line_target(line(), tag) == 300
    assert line_target(line(), speed()) is None


@pytest.mark.req("OVW-002")
def test_the_speed_scale_is_the_engineering_range_else_room_above_the_target() -> None:
    assert speed_scale(speed(eng_range=(0, 600)), 300) == Scale(0, 600)
    assert speed_scale(speed(), 320) == Scale(0, 400)
    assert speed_scale(speed(normal_range=(280, 360)), 300) == Scale(0, 450)
    assert speed_scale(speed(), None) is None


@pytest.mark.req("OVW-002")
def test_values_outside_the_normal_range_are_low_or_high() -> None:
    assert deviation(279.9, (280, 320)) == "low"
    assert deviation(320.1, (280, 320)) == "high"
    assert deviation(280, (280, 320)) is None
    assert deviation(1e9, None) is None


@pytest.mark.req("OVW-004")
def test_sparkline_points_span_the_window_and_break_at_gaps() -> None:
    times = [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=40), T0 + timedelta(minutes=60)]
    runs = sparkline_runs(times, [0.0, 600.0, None, 300.0], T0, T0 + timedelta(hours=1), Scale(0, 600))
    assert runs == [[(PAD, HEIGHT - PAD), (WIDTH / 2, PAD)], [(WIDTH - PAD, HEIGHT / 2)]]
    # Without a scale the values' own range fills the height; a flat line sits in the middle.
    flat = sparkline_runs([T0, T0 + timedelta(minutes=1)], [5.0, 5.0], T0, T0 + timedelta(minutes=1))
    assert [y for _, y in flat[0]] == [HEIGHT / 2, HEIGHT / 2]
    assert sparkline_runs([T0], [None], T0, T0 + timedelta(hours=1)) == []
    with pytest.raises(ValueError, match="end after start"):
        sparkline_runs([T0], [1.0], T0, T0)


@pytest.mark.req("OVW-004")
def test_sparkline_svg_draws_band_target_runs_and_escapes_its_label() -> None:
    scale = Scale(0, 600)
    svg = sparkline_svg(
        [[(2.0, 46.0), (120.0, 2.0)], [(238.0, 24.0)]],
        'Speed of <b>"L1"</b> & co',
        scale=scale,
        target=300,
        band=(280, 320),
    )
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "<b>" not in svg
    assert '<title>Speed of &lt;b&gt;"L1"&lt;/b&gt; &amp; co</title>' in svg
    assert 'aria-label="Speed of &lt;b&gt;&quot;L1&quot;&lt;/b&gt; &amp; co"' in svg
    assert '<polyline points="2,46 120,2" class="ovw-spark-line"/>' in svg
    assert '<circle cx="238" cy="24" r="1.8" class="ovw-spark-dot"/>' in svg
    assert f'y1="{level_y(300, scale):g}"' in svg
    assert 'class="ovw-spark-band"' in svg


@pytest.mark.req("OVW-001")
def test_time_in_state_starts_at_the_recorded_change_else_at_the_live_source_time() -> None:
    seg = [
        Segment(T0, T0 + timedelta(minutes=10), "Held", StateCategory.DOWN),
        Segment(T0 + timedelta(minutes=10), T0 + timedelta(minutes=50), "Execute", StateCategory.RUNNING),
    ]
    seen = T0 + timedelta(minutes=45)  # e.g. the value re-read after a reconnect: a later source time
    assert state_started(seg, "EXECUTE", seen) == T0 + timedelta(minutes=10)
    # The line changed after the history was read: the live value's own time.
    assert state_started(seg, "Held", T0 + timedelta(minutes=51)) == T0 + timedelta(minutes=51)
    assert state_started([], "Execute", seen) == seen


@pytest.mark.req("OVW-006")
def test_the_kiosk_cycle_comes_from_the_plant_file_and_a_bad_one_is_located() -> None:
    base = PLANT_YAML.format(url="opc.tcp://127.0.0.1:4840")
    assert parse_config(base, "p.yaml").access.kiosk_cycle_s == 20
    assert parse_config(base + "access:\n  kiosk_cycle_s: 45\n", "p.yaml").access.kiosk_cycle_s == 45
    text = base + "access:\n  kiosk_cycle_s: 1\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "p.yaml")
    [issue] = info.value.issues
    assert (issue.path, issue.line) == ("access.kiosk_cycle_s", text.splitlines().index("  kiosk_cycle_s: 1") + 1)
    assert "greater than or equal to 5" in issue.message

"""OEE arithmetic after ISO 22400-2, with a worked example (480 min planned busy, 420 min producing, 780 made)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmi.oee.calc import compute_oee


@pytest.mark.req("OEE-001")
def test_the_worked_example() -> None:
    r = compute_oee(480 * 60, 420 * 60, 0.5 * 60, 780, 760)
    assert round(r.availability or 0, 4) == 0.875
    assert round(r.performance or 0, 4) == 0.9286
    assert round(r.quality or 0, 4) == 0.9744
    assert round(r.oee or 0, 4) == 0.7917
    assert not r.performance_flagged
    assert (r.planned_busy_s, r.actual_production_s, r.ideal_cycle_s, r.produced, r.good) == (
        28800,
        25200,
        30,
        780,
        760,
    )


@pytest.mark.req("OEE-002")
def test_performance_above_one_is_flagged_not_capped() -> None:
    r = compute_oee(3600, 3600, 1.0, 4000, 4000)
    assert r.performance == pytest.approx(4000 / 3600)
    assert r.performance_flagged
    assert r.oee == pytest.approx(4000 / 3600)


@pytest.mark.req("OEE-002")
def test_exactly_at_the_ideal_rate_is_not_flagged() -> None:
    # 320/min: 60/320 s per item, one hour at that rate; float rounding must not raise the flag.
    r = compute_oee(3600, 3600, 60 / 320, 19200, 19200)
    assert r.performance == pytest.approx(1.0)
    assert not r.performance_flagged


@pytest.mark.req("OEE-001")
def test_nothing_planned_gives_no_factors() -> None:
    r = compute_oee(0, 0, 1.0, 0, 0)
    assert (r.availability, r.performance, r.quality, r.oee) == (None, None, None, None)
    assert not r.performance_flagged


@pytest.mark.req("OEE-001")
def test_planned_but_never_ran_is_zero_oee() -> None:
    r = compute_oee(3600, 0, 1.0, 0, 0)
    assert r.availability == 0.0
    assert (r.performance, r.quality) == (None, None)
    assert r.oee == 0.0


@pytest.mark.req("OEE-001")
def test_ran_but_produced_nothing() -> None:
    r = compute_oee(3600, 1800, 1.0, 0, 0)
    assert (r.availability, r.performance, r.quality, r.oee) == (0.5, 0.0, None, 0.0)


@pytest.mark.req("OEE-001")
def test_negative_input_is_refused() -> None:
    with pytest.raises(ValueError, match="produced must not be negative"):
        compute_oee(3600, 1800, 1.0, -1, 0)


@given(
    busy=st.floats(min_value=1, max_value=1e6),
    run_share=st.floats(min_value=0.01, max_value=1),
    cycle=st.floats(min_value=0.01, max_value=100),
    produced=st.integers(min_value=1, max_value=10**6),
    good_share=st.floats(min_value=0, max_value=1),
)
@pytest.mark.req("OEE-001")
def test_oee_is_the_product_of_its_factors(
    busy: float, run_share: float, cycle: float, produced: int, good_share: float
) -> None:
    good = math.floor(produced * good_share)
    r = compute_oee(busy, busy * run_share, cycle, produced, good)
    assert r.availability is not None
    assert r.performance is not None
    assert r.quality is not None
    assert r.oee == pytest.approx(r.availability * r.performance * r.quality, rel=1e-9, abs=1e-12)
    assert 0 <= r.availability <= 1
    assert 0 <= r.quality <= 1
    assert r.performance_flagged == (r.performance > 1.0 + 1e-9)

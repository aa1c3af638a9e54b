"""State timelines from recorded samples: window start, merging, bad/stale, holes, the open segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hmi.oee.states import StateCategory
from hmi.oee.timeline import NO_DATA, Segment, StateSample, build_timeline, from_us, to_us

T0 = datetime(2025, 1, 6, 6, tzinfo=UTC)
R, D, U, IDLE = StateCategory.RUNNING, StateCategory.DOWN, StateCategory.UNKNOWN, StateCategory.IDLE


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def s(minutes: float, text: str | None, quality: str = "good") -> StateSample:
    return StateSample(at(minutes), text, quality)


def seg(a: float, b: float, state: str, cat: StateCategory) -> Segment:
    return Segment(at(a), at(b), state, cat)


@pytest.mark.req("OEE-005")
def test_microsecond_round_trip() -> None:
    t = datetime(2025, 3, 30, 1, 2, 3, 456789, tzinfo=UTC)
    assert from_us(to_us(t)) == t
    assert to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0


@pytest.mark.req("OEE-005")
def test_sample_before_the_window_gives_the_state_at_its_start_and_equal_states_merge() -> None:
    samples = [s(-5, "Execute"), s(5, "EXECUTE"), s(10, "Held"), s(20, "Execute")]
    assert build_timeline(samples, at(0), at(30), at(60), 600) == [
        seg(0, 10, "Execute", R),
        seg(10, 20, "Held", D),
        seg(20, 30, "Execute", R),
    ]


@pytest.mark.req("OEE-005")
def test_no_sample_before_the_first_is_unknown() -> None:
    assert build_timeline([s(5, "Idle")], at(0), at(10), at(60), 600) == [
        seg(0, 5, NO_DATA, U),
        seg(5, 10, "Idle", IDLE),
    ]
    assert build_timeline([], at(0), at(10), at(60), 600) == [seg(0, 10, NO_DATA, U)]


@pytest.mark.req("OEE-005")
def test_bad_and_stale_samples_are_unknown() -> None:
    samples = [s(0, "Execute"), s(2, None, "stale"), s(4, None, "bad"), s(6, "Execute", "uncertain")]
    assert build_timeline(samples, at(0), at(8), at(60), 600) == [
        seg(0, 2, "Execute", R),
        seg(2, 4, "Stale", U),
        seg(4, 6, "Bad", U),
        seg(6, 8, "Execute", R),
    ]


@pytest.mark.req("OEE-005")
def test_a_hole_longer_than_one_and_a_half_max_intervals_is_unknown() -> None:
    # max interval 60 s: the state is trusted 90 s after its sample.
    samples = [s(0, "Execute"), s(1, "Execute"), s(10, "Held")]
    assert build_timeline(samples, at(0), at(12), at(60), 60) == [
        seg(0, 2.5, "Execute", R),
        seg(2.5, 10, NO_DATA, U),
        seg(10, 11.5, "Held", D),
        seg(11.5, 12, NO_DATA, U),
    ]


@pytest.mark.req("OEE-005")
def test_the_open_segment_ends_at_now_and_goes_unknown_when_recording_stopped() -> None:
    assert build_timeline([s(0, "Execute")], at(0), at(60), at(1), 600) == [seg(0, 1, "Execute", R)]
    assert build_timeline([s(0, "Execute")], at(0), at(60), at(30), 600) == [
        seg(0, 15, "Execute", R),
        seg(15, 30, NO_DATA, U),
    ]


@pytest.mark.req("OEE-005")
def test_a_window_entirely_in_the_future_is_empty() -> None:
    assert build_timeline([s(0, "Execute")], at(10), at(20), at(5), 600) == []

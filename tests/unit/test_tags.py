"""Tag quality, status names, value coercion, TagState and the TagCache's subscriptions."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua.ua import StatusCodes

from hmi.tags import (
    BAD_OUT_OF_RANGE,
    BAD_TYPE_MISMATCH,
    BAD_WAITING_FOR_INITIAL_DATA,
    Quality,
    TagCache,
    TagState,
    classify,
    coerce,
    status_name,
)

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(name: str, value: Any, t: float = 0.0, status: int = 0) -> TagState:
    """A state of `name` with source time T0 + t; server and receive times a little later."""
    return TagState(name, value, status, classify(status), at(t), at(t + 0.1), at(t + 0.2))


class Recorder:
    """A listener that keeps every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[list[TagState]] = []

    def __call__(self, states: Sequence[TagState]) -> None:
        self.batches.append(list(states))

    def names(self) -> list[list[str]]:
        return [[s.name for s in batch] for batch in self.batches]


# ------------------------------------------------------------------------------------------- quality and status


@pytest.mark.parametrize(
    ("code", "quality"),
    [
        (0, Quality.GOOD),
        (StatusCodes.GoodClamped, Quality.GOOD),
        (0x0000_0400, Quality.GOOD),  # Good with info bits
        (0x4000_0000, Quality.UNCERTAIN),
        (StatusCodes.UncertainLastUsableValue, Quality.UNCERTAIN),
        (StatusCodes.UncertainSensorNotAccurate | 0x0000_0480, Quality.UNCERTAIN),
        (0x8000_0000, Quality.BAD),
        (StatusCodes.BadSensorFailure, Quality.BAD),
        (StatusCodes.BadNodeIdUnknown | 0x0000_FFFF, Quality.BAD),
        (StatusCodes.BadCommunicationError, Quality.BAD),
        (0xC000_0000, Quality.BAD),  # both severity bits set (reserved) is never good
    ],
)
@pytest.mark.req("OPC-001")
def test_classify_by_the_two_top_bits(code: int, quality: Quality) -> None:
    assert classify(code) is quality


@pytest.mark.req("OPC-001")
def test_low_16_bits_do_not_change_the_class() -> None:
    for base in (0, 0x4000_0000, StatusCodes.BadSensorFailure):
        assert {classify(base | info) for info in (0, 1, 0x0400, 0x8000, 0xFFFF)} == {classify(base)}


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0, "Good"),
        (StatusCodes.BadSensorFailure, "BadSensorFailure"),
        (StatusCodes.BadSensorFailure | 0x0400, "BadSensorFailure"),
        (StatusCodes.UncertainLastUsableValue, "UncertainLastUsableValue"),
        (StatusCodes.BadTypeMismatch, "BadTypeMismatch"),
        (StatusCodes.BadWaitingForInitialData, "BadWaitingForInitialData"),
        (0x80FF_0000, "0x80FF0000"),
        (0x80FF_0001, "0x80FF0001"),
    ],
)
@pytest.mark.req("OPC-002")
def test_status_name(code: int, name: str) -> None:
    assert status_name(code) == name


@pytest.mark.req("OPC-002")
def test_state_shows_its_symbolic_status() -> None:
    s = state("T", 1.0, status=StatusCodes.BadSensorFailure)
    assert (s.status, s.quality, s.good) == ("BadSensorFailure", Quality.BAD, False)
    assert state("T", 1.0).status == "Good"
    assert state("T", 1.0).good


# ------------------------------------------------------------------------------------------------------ coerce


@pytest.mark.parametrize(
    ("data_type", "raw", "value", "status"),
    [
        ("float", 1.5, 1.5, 0),
        ("float", 3, 3.0, 0),
        ("float", -0.0, -0.0, 0),
        ("float", "1.5", "1.5", BAD_TYPE_MISMATCH),
        ("float", True, True, BAD_TYPE_MISMATCH),
        ("float", [1.0], [1.0], BAD_TYPE_MISMATCH),
        ("int", 7, 7, 0),
        ("int", 3.0, 3, 0),
        ("int", 3.5, 3.5, BAD_TYPE_MISMATCH),
        ("int", "7", "7", BAD_TYPE_MISMATCH),
        ("int", False, False, BAD_TYPE_MISMATCH),
        ("int", math.inf, math.inf, BAD_TYPE_MISMATCH),
        ("bool", True, True, 0),
        ("bool", False, False, 0),
        ("bool", 1, True, 0),
        ("bool", 0, False, 0),
        ("bool", 2, 2, BAD_TYPE_MISMATCH),
        ("bool", "true", "true", BAD_TYPE_MISMATCH),
        ("bool", 1.0, 1.0, BAD_TYPE_MISMATCH),
        ("string", "Execute", "Execute", 0),
        ("string", 42, "42", 0),
        ("string", "", "", 0),
    ],
)
@pytest.mark.req("OPC-003")
def test_coerce(data_type: str, raw: Any, value: Any, status: int) -> None:
    got, code, note = coerce(data_type, raw)
    assert got == value
    assert type(got) is type(value)
    assert code == status
    assert (note == "") == (status == 0)


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf])
@pytest.mark.req("OPC-003")
def test_non_finite_float_is_out_of_range(raw: float) -> None:
    got, code, note = coerce("float", raw)
    assert code == BAD_OUT_OF_RANGE
    assert classify(code) is Quality.BAD
    assert "not a finite number" in note
    assert got is raw  # kept for diagnosis


@pytest.mark.req("OPC-003")
def test_malformed_values_say_what_was_expected() -> None:
    assert coerce("float", "abc")[2] == "expected a number, got str"
    assert coerce("int", 2.5)[2] == "expected an integer, got float"
    assert coerce("bool", "yes")[2] == "expected a boolean, got str"


@pytest.mark.parametrize("data_type", ["float", "int", "bool", "string"])
@pytest.mark.req("OPC-003")
def test_missing_value_waits_for_initial_data(data_type: str) -> None:
    assert coerce(data_type, None) == (None, BAD_WAITING_FOR_INITIAL_DATA, "no value")
    assert classify(BAD_WAITING_FOR_INITIAL_DATA) is Quality.BAD


# ----------------------------------------------------------------------------------------------------- TagState


@pytest.mark.req("OPC-001")
def test_time_prefers_source_then_server_then_received() -> None:
    src, srv, rcv = at(1), at(2), at(3)
    assert TagState("T", 1, 0, Quality.GOOD, src, srv, rcv).time == src
    assert TagState("T", 1, 0, Quality.GOOD, None, srv, rcv).time == srv
    assert TagState("T", 1, 0, Quality.GOOD, None, None, rcv).time == rcv


@pytest.mark.req("OPC-001")
def test_state_is_immutable() -> None:
    s = state("T", 1.0)
    with pytest.raises(AttributeError):
        s.value = 2.0  # type: ignore[misc]


@pytest.mark.req("OPC-004")
def test_as_stale_keeps_the_value_and_the_first_stale_time() -> None:
    s = state("T", 71.5, t=0, status=StatusCodes.UncertainLastUsableValue)
    stale = s.as_stale(at(10))
    assert (stale.quality, stale.stale_since, stale.value) == (Quality.STALE, at(10), 71.5)
    assert (stale.status_code, stale.source_time, stale.time) == (s.status_code, s.source_time, s.time)
    assert not stale.good
    again = stale.as_stale(at(20))
    assert again.stale_since == at(10)
    assert again is stale
    assert s.quality is Quality.UNCERTAIN  # the original is untouched


# ----------------------------------------------------------------------------------------------------- TagCache


@pytest.mark.req("OPC-001")
def test_get_and_len() -> None:
    cache = TagCache()
    assert cache.get("A") is None
    assert len(cache) == 0
    a = state("A", 1.0)
    cache.update([a, state("B", 2.0)])
    assert cache.get("A") is a
    assert len(cache) == 2
    newer = state("A", 3.0, t=1)
    cache.update([newer])
    assert cache.get("A") is newer
    assert len(cache) == 2


@pytest.mark.req("OPS-005")
def test_subscriber_gets_only_its_tags() -> None:
    cache = TagCache()
    rec = Recorder()
    cache.subscribe(["A", "C"], rec)
    cache.update([state("B", 1.0)])
    assert rec.batches == []
    cache.update([state("A", 1.0), state("B", 2.0), state("C", 3.0)])
    assert rec.names() == [["A", "C"]]


@pytest.mark.req("OPS-005")
def test_one_call_per_update_with_its_share() -> None:
    cache = TagCache()
    ab, bc = Recorder(), Recorder()
    cache.subscribe(["A", "B"], ab)
    cache.subscribe(("B", "C"), bc)
    batch = [state("A", 1.0), state("B", 2.0), state("C", 3.0), state("D", 4.0)]
    cache.update(batch)
    assert ab.names() == [["A", "B"]]
    assert bc.names() == [["B", "C"]]
    assert ab.batches[0][0] is batch[0]
    cache.update([state("D", 5.0)])
    cache.update([])
    assert len(ab.batches) == len(bc.batches) == 1


@pytest.mark.req("OPS-005")
def test_subscribe_accepts_a_generator_of_names() -> None:
    cache = TagCache()
    rec = Recorder()
    cache.subscribe((n for n in ["A", "B"]), rec)
    cache.update([state("B", 1.0)])
    cache.update([state("A", 1.0)])
    assert rec.names() == [["B"], ["A"]]


@pytest.mark.req("OPS-005")
def test_subscribe_none_gets_everything() -> None:
    cache = TagCache()
    rec = Recorder()
    cache.subscribe(None, rec)
    cache.update([state("A", 1.0), state("Z", 2.0)])
    cache.update([state("Q", 3.0)])
    assert rec.names() == [["A", "Z"], ["Q"]]


@pytest.mark.req("OPS-005")
def test_unsubscribe_stops_delivery_and_count_returns_to_zero() -> None:
    cache = TagCache()
    some, every = Recorder(), Recorder()
    assert cache.listener_count == 0
    off_some = cache.subscribe(["A"], some)
    off_every = cache.subscribe(None, every)
    assert cache.listener_count == 2
    # Counted per kind of listener (its class here), so a count that grows names what forgot to end it.
    assert cache.listener_owners() == {"Recorder": 2}
    cache.update([state("A", 1.0)])
    off_some()
    assert cache.listener_count == 1
    off_every()
    assert cache.listener_count == 0
    assert cache.listener_owners() == {}
    cache.update([state("A", 2.0)])
    assert len(some.batches) == len(every.batches) == 1
    off_some()  # a second call is harmless
    off_every()
    assert cache.listener_count == 0


@pytest.mark.req("OPS-005")
def test_unsubscribing_one_leaves_others_on_the_same_tag() -> None:
    cache = TagCache()
    first, second = Recorder(), Recorder()
    off = cache.subscribe(["A"], first)
    cache.subscribe(["A"], second)
    off()
    cache.update([state("A", 1.0)])
    assert (first.batches, second.names()) == ([], [["A"]])


@pytest.mark.req("OPS-005")
def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    cache = TagCache()
    before, after, every = Recorder(), Recorder(), Recorder()

    def broken(states: Sequence[TagState]) -> None:
        raise RuntimeError("page gone")

    cache.subscribe(["A"], before)
    cache.subscribe(None, broken)
    cache.subscribe(["A"], broken)
    cache.subscribe(["A"], after)
    cache.subscribe(None, every)
    with caplog.at_level(logging.ERROR, logger="hmi.tags"):
        cache.update([state("A", 1.0)])
    assert before.names() == after.names() == every.names() == [["A"]]
    assert cache.get("A") is not None
    assert "tag listener" in caplog.text


@pytest.mark.req("OPC-004")
def test_mark_stale_turns_only_the_given_tags_stale() -> None:
    cache = TagCache()
    rec = Recorder()
    cache.update([state("A", 1.0), state("B", 2.0), state("C", 3.0)])
    cache.subscribe(None, rec)
    changed = cache.mark_stale(["A", "B", "missing"], at(5))
    assert [s.name for s in changed] == ["A", "B"]
    assert all(s.quality is Quality.STALE and s.stale_since == at(5) for s in changed)
    assert cache.get("A") == changed[0]
    assert cache.get("A").value == 1.0  # type: ignore[union-attr]
    assert cache.get("C").quality is Quality.GOOD  # type: ignore[union-attr]
    assert rec.names() == [["A", "B"]]
    # Already stale tags do not change again; their first stale time stays.
    assert cache.mark_stale(["A", "B"], at(9)) == []
    assert cache.get("B").stale_since == at(5)  # type: ignore[union-attr]
    assert len(rec.batches) == 1
    # A fresh value makes a tag live again; it can then go stale anew.
    cache.update([state("A", 4.0, t=10)])
    assert cache.get("A").quality is Quality.GOOD  # type: ignore[union-attr]
    (again,) = cache.mark_stale(["A", "B", "C"], at(20))[:1]
    assert (again.name, again.stale_since, again.value) == ("A", at(20), 4.0)


@pytest.mark.req("OPC-001")
def test_snapshot() -> None:
    cache = TagCache()
    a, b = state("A", 1.0), state("B", 2.0)
    cache.update([a, b])
    assert cache.snapshot() == {"A": a, "B": b}
    assert cache.snapshot(["B", "missing"]) == {"B": b}
    assert cache.snapshot([]) == {}
    snap = cache.snapshot()
    cache.update([state("A", 9.0)])
    assert snap["A"] is a  # a snapshot is a copy, not a live view

"""Recording rules of the historian: deadbands, quality changes, strings and bools, the max interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hmi.config import PlantConfig, parse_config
from hmi.historian.recording import Recorder, from_us, sample_time, to_us
from hmi.tags import Quality, TagState

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)

PLANT = """
site: {name: T}
endpoints: [{name: e, url: 'opc.tcp://127.0.0.1:4840'}]
historian:
  defaults: {max_interval_s: 60}
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: T.Abs, endpoint: e, node_id: 'ns=2;s=A', eng_range: [0, 200], history: {deadband: 0.5}}
          - {name: T.Span, endpoint: e, node_id: 'ns=2;s=S', eng_range: [0, 50], history: {deadband_pct: 2}}
          - {name: T.Rel, endpoint: e, node_id: 'ns=2;s=R', history: {deadband_pct: 10}}
          - {name: T.Any, endpoint: e, node_id: 'ns=2;s=N'}
          - {name: T.Run, endpoint: e, node_id: 'ns=2;s=B', data_type: bool}
          - {name: T.State, endpoint: e, node_id: 'ns=2;s=St', data_type: string}
          - {name: T.Off, endpoint: e, node_id: 'ns=2;s=O', history: {enabled: false}}
"""


@pytest.fixture
def recorder() -> Recorder:
    plant: PlantConfig = parse_config(PLANT, "test")
    return Recorder.for_plant(plant)


def state(name: str, value: object, at: datetime, quality: Quality = Quality.GOOD, status: int = 0) -> TagState:
    return TagState(name, value, status, quality, at, at, at)


def feed(recorder: Recorder, name: str, values: list[object]) -> list[object]:
    """Offer values one second apart; the values that were recorded."""
    out = []
    for i, v in enumerate(values):
        at = T0 + timedelta(seconds=i)
        row = recorder.offer(state(name, v, at), to_us(at))
        if row is not None:
            out.append(v)
    return out


@pytest.mark.req("HIS-001")
def test_absolute_deadband(recorder: Recorder) -> None:
    assert feed(recorder, "T.Abs", [10.0, 10.3, 10.5, 10.6, 10.0, 11.2]) == [10.0, 10.6, 10.0, 11.2]


@pytest.mark.req("HIS-001")
def test_percent_deadband_of_eng_range_span(recorder: Recorder) -> None:
    # 2 % of a 50 span is 1.0
    assert feed(recorder, "T.Span", [5.0, 5.9, 6.0, 6.1, 4.9]) == [5.0, 6.1, 4.9]


@pytest.mark.req("HIS-001")
def test_percent_deadband_of_last_value_without_range(recorder: Recorder) -> None:
    # 10 % of |last recorded|: 100 -> threshold 10; after 111 -> 11.1
    assert feed(recorder, "T.Rel", [100.0, 109.0, 111.0, 121.0, 122.2]) == [100.0, 111.0, 122.2]


@pytest.mark.req("HIS-001")
def test_no_deadband_records_every_change_only(recorder: Recorder) -> None:
    assert feed(recorder, "T.Any", [1.0, 1.0, 1.0001, 1.0001, 2.0]) == [1.0, 1.0001, 2.0]


@pytest.mark.req("HIS-001")
def test_bool_and_string_record_any_change(recorder: Recorder) -> None:
    assert feed(recorder, "T.Run", [False, False, True, True, False]) == [False, True, False]
    assert feed(recorder, "T.State", ["Idle", "Idle", "Execute", "Execute", "Held"]) == ["Idle", "Execute", "Held"]


@pytest.mark.req("HIS-001")
def test_quality_or_status_change_always_records(recorder: Recorder) -> None:
    at = T0
    assert recorder.offer(state("T.Abs", 10.0, at), to_us(at)) is not None
    at += timedelta(seconds=1)
    bad = recorder.offer(state("T.Abs", 10.0, at, Quality.BAD, 0x80320000), to_us(at))
    assert bad is not None
    assert bad["quality"] == "bad"
    assert bad["status"] == 0x80320000
    at += timedelta(seconds=1)
    assert recorder.offer(state("T.Abs", 10.1, at), to_us(at)) is not None
    at += timedelta(seconds=1)
    # Same class (uncertain), different code: still a change.
    assert recorder.offer(state("T.Abs", 10.1, at, Quality.UNCERTAIN, 0x40000000), to_us(at)) is not None
    at += timedelta(seconds=1)
    assert recorder.offer(state("T.Abs", 10.1, at, Quality.UNCERTAIN, 0x40920000), to_us(at)) is not None


@pytest.mark.req("HIS-001")
def test_stale_uses_stale_since(recorder: Recorder) -> None:
    at = T0
    good = state("T.Abs", 10.0, at)
    recorder.offer(good, to_us(at))
    since = at + timedelta(seconds=7)
    stale = good.as_stale(since)
    assert sample_time(stale) == since
    row = recorder.offer(stale, to_us(since))
    assert row is not None
    assert row["quality"] == "stale"
    assert from_us(row["t_us"]) == since


@pytest.mark.req("HIS-002")
def test_max_interval_writes_latest_suppressed_value(recorder: Recorder) -> None:
    recorder.offer(state("T.Abs", 10.0, T0), to_us(T0))
    later = T0 + timedelta(seconds=5)
    assert recorder.offer(state("T.Abs", 10.2, later), to_us(later)) is None  # inside the deadband
    assert recorder.due(to_us(T0 + timedelta(seconds=59))) == []
    now = T0 + timedelta(seconds=60)
    due = recorder.due(to_us(now))
    assert [(r["tag"], r["value"], r["t_us"]) for r in due] == [("T.Abs", 10.2, to_us(now))]
    # Counting starts again from that sample.
    assert recorder.due(to_us(now + timedelta(seconds=30))) == []
    assert len(recorder.due(to_us(now + timedelta(seconds=60)))) == 1


@pytest.mark.req("HIS-003")
def test_same_time_twice_is_bumped_by_a_microsecond(recorder: Recorder) -> None:
    first = recorder.offer(state("T.Run", False, T0), to_us(T0))
    second = recorder.offer(state("T.Run", True, T0), to_us(T0))
    assert first is not None
    assert second is not None
    assert second["t_us"] == first["t_us"] + 1


@pytest.mark.req("HIS-001")
def test_disabled_and_unknown_tags_are_not_recorded(recorder: Recorder) -> None:
    assert "T.Off" not in recorder.names
    assert recorder.offer(state("T.Off", 1.0, T0), to_us(T0)) is None
    assert recorder.offer(state("Nope", 1.0, T0), to_us(T0)) is None


@pytest.mark.req("HIS-003")
def test_microsecond_round_trip() -> None:
    at = datetime(2031, 5, 17, 13, 14, 15, 123456, tzinfo=UTC)
    assert from_us(to_us(at)) == at
    assert to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0


@pytest.mark.req("HIS-002")
def test_max_interval_sample_keeps_the_source_time_base(recorder: Recorder) -> None:
    # The PLC's clock runs an hour ahead of the HMI's: its change is stamped 07:00 while the HMI reads 06:00.
    ahead = timedelta(hours=1)
    row = recorder.offer(state("T.Abs", 10.0, T0 + ahead), to_us(T0))
    assert row is not None
    repeats = [recorder.due(to_us(T0 + timedelta(seconds=60 * k))) for k in (1, 2)]
    times = [row["t_us"]] + [r["t_us"] for rows in repeats for r in rows]
    # Each repeat comes a max interval after the last row in the PLC's time, never back at the HMI's 06:01.
    assert times == [to_us(T0 + ahead + timedelta(seconds=60 * k)) for k in (0, 1, 2)]
    later = T0 + ahead + timedelta(seconds=150)
    changed = recorder.offer(state("T.Abs", 20.0, later), to_us(T0 + timedelta(seconds=150)))
    assert changed is not None
    assert changed["t_us"] > times[-1]

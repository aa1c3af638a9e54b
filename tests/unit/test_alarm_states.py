"""The pure ISA-18.2 state machine `step(status, event, now)`: every reachable state x every trigger against a
table written out by hand, and properties over random event sequences (ISA-18.2 / IEC 62682 alarm states)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmi.alarms.states import AlarmState, AlarmStatus, Event, Shelf, Trigger, step

T0 = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
UNTIL = T0 + timedelta(hours=1)  # the end of every timed shelving in the table

N = AlarmState.NORMAL
AU = AlarmState.ACTIVE_UNACK
AA = AlarmState.ACTIVE_ACK
RU = AlarmState.RTN_UNACK
LU = AlarmState.LATCHED_UNACK
LA = AlarmState.LATCHED_ACK
SH = AlarmState.SHELVED
SU = AlarmState.SUPPRESSED_BY_DESIGN
OS = AlarmState.OUT_OF_SERVICE

ACT, CLR, ESC, ACK, RST = Trigger.ACTIVATE, Trigger.CLEAR, Trigger.ESCALATE, Trigger.ACKNOWLEDGE, Trigger.RESET
SHV, UNSHV, SUP, UNSUP = Trigger.SHELVE, Trigger.UNSHELVE, Trigger.SUPPRESS, Trigger.UNSUPPRESS
OOS, RTS, TICK = Trigger.REMOVE_FROM_SERVICE, Trigger.RETURN_TO_SERVICE, Trigger.TICK


def ev(trigger: Trigger) -> Event:
    """The event for `trigger`; SHELVE asks for a timed shelving until UNTIL."""
    return Event(trigger, Shelf(UNTIL) if trigger is Trigger.SHELVE else None)


def reach(latching: bool, *events: Event) -> AlarmStatus:
    """The status after `events` from a fresh alarm, all at T0: each table row is reachable by construction."""
    status = AlarmStatus(latching=latching)
    for event in events:
        status = step(status, event, T0)
    return status


ONE_SHOT = Event(SHV, Shelf(None))

# Each row: a representative status, built by a path from NORMAL, and the state it shows.
ROWS: dict[str, tuple[AlarmStatus, AlarmState]] = {
    "normal": (reach(False), N),
    "normal, latching": (reach(True), N),
    "active unack": (reach(False, ev(ACT)), AU),
    "active unack, latching": (reach(True, ev(ACT)), AU),
    "active ack": (reach(False, ev(ACT), ev(ACK)), AA),
    "active ack, latching": (reach(True, ev(ACT), ev(ACK)), AA),
    "returned unack": (reach(False, ev(ACT), ev(CLR)), RU),
    "latched unack": (reach(True, ev(ACT), ev(CLR)), LU),
    "latched ack": (reach(True, ev(ACT), ev(CLR), ev(ACK)), LA),
    "shelved timed, active": (reach(False, ev(ACT), ev(SHV)), SH),
    "shelved timed, clear": (reach(False, ev(SHV)), SH),
    "shelved timed, active, latching": (reach(True, ev(ACT), ev(ACK), ev(SHV)), SH),
    "shelved one-shot, active": (reach(False, ev(ACT), ONE_SHOT), SH),
    "shelved one-shot, clear": (reach(False, ONE_SHOT), SH),
    "shelved one-shot, active, latching": (reach(True, ev(ACT), ONE_SHOT), SH),
    "suppressed, active": (reach(False, ev(ACT), ev(SUP)), SU),
    "suppressed, clear": (reach(False, ev(SUP)), SU),
    "suppressed, latched before": (reach(True, ev(ACT), ev(CLR), ev(SUP)), SU),
    "out of service, active": (reach(False, ev(ACT), ev(OOS)), OS),
    "out of service, clear": (reach(False, ev(OOS)), OS),
    "shelved and suppressed, active": (reach(False, ev(ACT), ev(SUP), ev(SHV)), SH),
    "out of service and suppressed, active": (reach(False, ev(ACT), ev(SUP), ev(OOS)), OS),
}

COLUMNS = (ACT, CLR, ESC, ACK, RST, SHV, UNSHV, SUP, UNSUP, OOS, RTS, TICK)

# The state shown after each trigger; TICK comes exactly at the end of the timed shelving (UNTIL).
#                                         ACT CLR ESC ACK RST SHV UNSHV SUP UNSUP OOS RTS TICK
EXPECTED: dict[str, tuple[AlarmState, ...]] = {
    "normal":                               (AU, N,  N,  N,  N,  SH, N,  SU, N,  OS, N,  N),
    "normal, latching":                     (AU, N,  N,  N,  N,  SH, N,  SU, N,  OS, N,  N),
    "active unack":                         (AU, RU, AU, AA, AU, SH, AU, SU, AU, OS, AU, AU),
    "active unack, latching":               (AU, LU, AU, AA, AU, SH, AU, SU, AU, OS, AU, AU),
    "active ack":                           (AA, N,  AU, AA, AA, SH, AA, SU, AA, OS, AA, AA),
    "active ack, latching":                 (AA, LA, AU, AA, AA, SH, AA, SU, AA, OS, AA, AA),
    "returned unack":                       (AU, RU, RU, N,  RU, SH, RU, SU, RU, OS, RU, RU),
    "latched unack":                        (AU, LU, LU, LA, LU, SH, LU, SU, LU, OS, LU, LU),
    "latched ack":                          (AU, LA, LA, LA, N,  SH, LA, SU, LA, OS, LA, LA),
    "shelved timed, active":                (SH, SH, SH, SH, SH, SH, AU, SH, SH, OS, SH, AU),
    "shelved timed, clear":                 (SH, SH, SH, SH, SH, SH, N,  SH, SH, OS, SH, N),
    "shelved timed, active, latching":      (SH, SH, SH, SH, SH, SH, AU, SH, SH, OS, SH, AU),
    "shelved one-shot, active":             (SH, N,  SH, SH, SH, SH, AU, SH, SH, OS, SH, SH),
    "shelved one-shot, clear":              (SH, SH, SH, SH, SH, SH, N,  SH, SH, OS, SH, SH),
    "shelved one-shot, active, latching":   (SH, N,  SH, SH, SH, SH, AU, SH, SH, OS, SH, SH),
    "suppressed, active":                   (SU, SU, SU, SU, SU, SH, SU, SU, AU, OS, SU, SU),
    "suppressed, clear":                    (SU, SU, SU, SU, SU, SH, SU, SU, N,  OS, SU, SU),
    "suppressed, latched before":           (SU, SU, SU, SU, SU, SH, SU, SU, N,  OS, SU, SU),
    "out of service, active":               (OS, OS, OS, OS, OS, OS, OS, OS, OS, OS, AU, OS),
    "out of service, clear":                (OS, OS, OS, OS, OS, OS, OS, OS, OS, OS, N,  OS),
    "shelved and suppressed, active":       (SH, SH, SH, SH, SH, SH, SU, SH, SH, OS, SH, SU),
    "out of service and suppressed, active": (OS, OS, OS, OS, OS, OS, OS, OS, OS, OS, SU, OS),
}  # fmt: skip

CELLS = [
    pytest.param(row, col, EXPECTED[row][i], id=f"{row} x {col.value}")
    for row in EXPECTED
    for i, col in enumerate(COLUMNS)
]


@pytest.mark.req("ALM-001")
def test_the_table_covers_every_state_and_every_trigger() -> None:
    assert set(COLUMNS) == set(Trigger)
    assert len(COLUMNS) == len(Trigger)
    assert {shown for _, shown in ROWS.values()} == set(AlarmState)
    assert set(EXPECTED) == set(ROWS)
    assert all(len(cells) == len(COLUMNS) for cells in EXPECTED.values())


@pytest.mark.parametrize("row", list(ROWS))
@pytest.mark.req("ALM-005")
def test_each_row_shows_its_state(row: str) -> None:
    status, shown = ROWS[row]
    assert status.state is shown
    assert status.condition is ("active" in row and "clear" not in row)


@pytest.mark.parametrize(("row", "trigger", "expected"), CELLS)
@pytest.mark.req("ALM-001", "ALM-002", "ALM-003", "ALM-004")
def test_step_table(row: str, trigger: Trigger, expected: AlarmState) -> None:
    status, _ = ROWS[row]
    after = step(status, ev(trigger), UNTIL)
    assert after.state is expected
    # The process condition follows ACTIVATE and CLEAR only; latching is part of the definition.
    wanted = True if trigger is ACT else False if trigger is CLR else status.condition
    assert (after.condition, after.latching) == (wanted, status.latching)


@pytest.mark.parametrize("row", list(ROWS))
@pytest.mark.req("ALM-008")
def test_a_tick_before_the_shelving_ends_changes_nothing(row: str) -> None:
    status, _ = ROWS[row]
    assert step(status, ev(TICK), UNTIL - timedelta(microseconds=1)) == status


@pytest.mark.parametrize("row", list(ROWS))
def test_shelve_without_a_shelf_changes_nothing(row: str) -> None:
    status, _ = ROWS[row]
    assert step(status, Event(SHV), T0) == status


@pytest.mark.req("ALM-008")
def test_shelving_replaces_an_earlier_shelving_and_keeps_other_modes() -> None:
    status, _ = ROWS["shelved and suppressed, active"]
    later = Shelf(UNTIL + timedelta(hours=1))
    after = step(status, Event(SHV, later), T0)
    assert (after.shelf, after.suppressed, after.state) == (later, True, SH)
    one_shot = step(after, ONE_SHOT, T0)
    assert one_shot.shelf == Shelf(None)
    assert one_shot.shelf.one_shot


@pytest.mark.req("ALM-009")
def test_out_of_service_drops_a_shelving_for_good() -> None:
    status, _ = ROWS["shelved timed, active"]
    out = step(status, ev(OOS), T0)
    assert (out.shelf, out.out_of_service) == (None, True)
    # The shelving's time running out does not bring it back; only return to service does.
    assert step(out, ev(TICK), UNTIL + timedelta(days=1)) == out
    assert step(out, ev(RTS), UNTIL).state is AU


@pytest.mark.req("ALM-004")
def test_reset_needs_acknowledged_and_cleared() -> None:
    latched_unack, _ = ROWS["latched unack"]
    assert step(latched_unack, ev(RST), T0) == latched_unack
    again = step(ROWS["latched ack"][0], ev(ACT), T0)
    assert step(again, ev(RST), T0) == again  # the process is wrong again: nothing to reset


@pytest.mark.req("ALM-005")
def test_labels_and_flags() -> None:
    assert {s for s in AlarmState if s.listed} == {AU, AA, RU, LU, LA}
    assert {s for s in AlarmState if s.unacknowledged} == {AU, RU, LU}
    assert {s for s in AlarmState if s.hidden} == {SH, SU, OS}
    assert len({s.label for s in AlarmState}) == len(AlarmState)
    assert AlarmStatus().quiet
    assert AlarmStatus(latching=True).quiet
    assert not ROWS["suppressed, clear"][0].quiet


# ------------------------------------------------------------------------------------------------- properties

PROCESS = (ACT, CLR, ESC, TICK, RST)
MODE_TRIGGERS = frozenset({SHV, UNSHV, SUP, UNSUP, OOS, RTS, TICK})


@st.composite
def scripts(
    draw: st.DrawFn, triggers: tuple[Trigger, ...] = tuple(Trigger), latching: bool | None = None
) -> tuple[bool, list[tuple[Trigger, int, int | None]]]:
    """A latching flag and steps (trigger, seconds since the previous step, shelf seconds or None = one-shot)."""
    latch = draw(st.booleans()) if latching is None else latching
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(triggers), st.integers(0, 90), st.one_of(st.none(), st.integers(1, 180))),
            max_size=40,
        )
    )
    return latch, steps


Transition = tuple[AlarmStatus, Event, datetime, AlarmStatus]


def run(script: tuple[bool, list[tuple[Trigger, int, int | None]]]) -> Iterator[Transition]:
    """Every transition of the script, with a monotonically increasing `now`."""
    latching, steps = script
    status = AlarmStatus(latching=latching)
    now = T0
    for trigger, dt, shelf_s in steps:
        now += timedelta(seconds=dt)
        shelf = None if trigger is not SHV else Shelf(None if shelf_s is None else now + timedelta(seconds=shelf_s))
        event = Event(trigger, shelf)
        after = step(status, event, now)
        yield status, event, now, after
        status = after


@settings(max_examples=200, deadline=None)
@given(scripts(PROCESS))
@pytest.mark.req("ALM-001")
def test_process_events_never_lose_an_activation(script: tuple[bool, list[tuple[Trigger, int, int | None]]]) -> None:
    """(a) Without ACKNOWLEDGE, an alarm that was activated stays unacknowledged (and listed)."""
    activated = False
    for before, event, _, after in run(script):
        activated = activated or (event.trigger is ACT and not before.condition)
        if activated:
            assert after.state in (AU, RU, LU), (before, event, after)
            assert after.state.listed
        else:
            assert after.state is N


@settings(max_examples=200, deadline=None)
@given(scripts())
@pytest.mark.req("ALM-003")
def test_an_acknowledged_alarm_that_reactivates_or_escalates_is_unacknowledged(
    script: tuple[bool, list[tuple[Trigger, int, int | None]]],
) -> None:
    """(b) An acknowledged alarm that re-activates or escalates is unacknowledged again (re-alarming)."""
    for before, event, _, after in run(script):
        acknowledged = before.state in (AA, LA, N)
        if event.trigger is ACT and not before.condition and acknowledged:
            assert after.state is AU
        if event.trigger is ESC and before.state is AA:
            assert after.state is AU
        if event.trigger is ESC and before.state is not AA:
            assert after == before  # nothing acknowledged to re-open


@settings(max_examples=200, deadline=None)
@given(scripts(latching=True))
@pytest.mark.req("ALM-004")
def test_a_latched_alarm_returns_to_normal_only_by_reset_or_a_mode(
    script: tuple[bool, list[tuple[Trigger, int, int | None]]],
) -> None:
    """(c) A latching alarm never shows RTN_UNACK, and leaves the list for NORMAL only by RESET, or by a mode."""
    for before, event, _, after in run(script):
        assert after.state is not RU
        if before.state.listed and after.state is N:
            assert event.trigger is RST, (before, event, after)
        if after.state is N and before.state is not N and event.trigger is not RST:
            assert before.hidden, (before, event, after)  # a mode ended (or the one-shot shelving with the clear)


@settings(max_examples=200, deadline=None)
@given(scripts())
@pytest.mark.req("ALM-011")
def test_when_every_mode_has_ended_a_standing_condition_is_listed(
    script: tuple[bool, list[tuple[Trigger, int, int | None]]],
) -> None:
    """(d) Not hidden + condition holds -> in the list; and coming out of the last mode it is a new, unacknowledged
    annunciation."""
    for before, event, _, after in run(script):
        if not after.hidden and after.condition:
            assert after.state in (AU, AA), (before, event, after)
        if before.hidden and not after.hidden:
            assert after.state is (AU if after.condition else N), (before, event, after)


@settings(max_examples=200, deadline=None)
@given(scripts())
@pytest.mark.req("ALM-011")
def test_hidden_iff_a_mode_is_set(script: tuple[bool, list[tuple[Trigger, int, int | None]]]) -> None:
    """(e) And while hidden, the lifecycle underneath is NORMAL (nothing waits unseen for an acknowledgement)."""
    for _, _, _, after in run(script):
        has_mode = after.out_of_service or after.shelf is not None or after.suppressed
        assert after.hidden is has_mode
        assert after.state.hidden is has_mode
        assert after.state.listed is (not has_mode and after.lifecycle is not N)
        if has_mode:
            assert after.lifecycle is N


@settings(max_examples=200, deadline=None)
@given(scripts())
@pytest.mark.req("ALM-008")
def test_shelvings_end_exactly_when_they_should(script: tuple[bool, list[tuple[Trigger, int, int | None]]]) -> None:
    """(f) A timed shelving ends on the first TICK at or after its time; a one-shot one with the clear; neither
    ends otherwise (except unshelve and out of service)."""
    for before, event, now, after in run(script):
        shelf = before.shelf
        if shelf is None or event.trigger in (UNSHV, OOS, SHV):
            continue
        if shelf.one_shot:
            ends = event.trigger is CLR and before.condition
        else:
            ends = event.trigger is TICK and now >= shelf.until  # type: ignore[operator]
        assert (after.shelf is None) is ends, (before, event, now, after)
        if not ends:
            assert after.shelf == shelf


@pytest.mark.parametrize("latching", [False, True])
@pytest.mark.req("ALM-008")
def test_a_timed_shelving_ends_at_its_time_exactly(latching: bool) -> None:
    status = reach(latching, ev(ACT), ev(SHV))
    assert step(status, ev(TICK), UNTIL - timedelta(microseconds=1)).state is SH
    assert step(status, ev(TICK), UNTIL).state is AU
    assert step(status, ev(TICK), UNTIL + timedelta(hours=5)).state is AU
    one_shot = reach(latching, ev(ACT), ONE_SHOT)
    assert step(one_shot, ev(TICK), UNTIL + timedelta(days=365)) == one_shot
    assert step(one_shot, ev(CLR), T0) == AlarmStatus(latching=latching)


@settings(max_examples=200, deadline=None)
@given(scripts())
@pytest.mark.req("ALM-009")
def test_out_of_service_wins_over_shelved_over_suppressed(
    script: tuple[bool, list[tuple[Trigger, int, int | None]]],
) -> None:
    """(g) On every reachable status, and for the commands: SHELVE never applies while out of service."""
    for before, event, _, after in run(script):
        expected = (
            OS
            if after.out_of_service
            else SH
            if after.shelf is not None
            else SU
            if after.suppressed
            else after.lifecycle
        )
        assert after.state is expected
        if before.out_of_service and event.trigger is SHV:
            assert after == before
        if event.trigger is OOS:
            assert (after.state, after.shelf) == (OS, None)


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
@pytest.mark.req("ALM-011")
def test_precedence_over_any_combination_of_modes(oos: bool, shelved: bool, suppressed: bool, latching: bool) -> None:
    status = AlarmStatus(AA, True, latching, Shelf(UNTIL) if shelved else None, suppressed, oos)
    assert status.state is (OS if oos else SH if shelved else SU if suppressed else AA)


@settings(max_examples=200, deadline=None)
@given(scripts())
def test_step_is_pure_and_ignores_time_except_for_tick(
    script: tuple[bool, list[tuple[Trigger, int, int | None]]],
) -> None:
    for before, event, now, after in run(script):
        assert step(before, event, now) == after
        if event.trigger is not TICK:
            assert step(before, event, now + timedelta(days=30)) == after


@pytest.mark.req("ALM-011")
def test_mode_ending_while_another_holds_keeps_the_alarm_hidden() -> None:
    status, _ = ROWS["out of service and suppressed, active"]
    back = step(status, ev(RTS), T0)
    assert (back.state, back.lifecycle) == (SU, N)
    assert step(back, ev(UNSUP), T0).state is AU
    shelved_suppressed, _ = ROWS["shelved and suppressed, active"]
    expired = step(shelved_suppressed, ev(TICK), UNTIL)
    assert (expired.state, expired.shelf, expired.lifecycle) == (SU, None, N)
    assert step(expired, ev(UNSUP), UNTIL).state is AU

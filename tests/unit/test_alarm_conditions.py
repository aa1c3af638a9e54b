"""Alarm conditions: limit alarms with deadband on the way out only (ISA-18.2 / IEC 62682 deadband), discrete
equality."""

from __future__ import annotations

from typing import Any

import pytest

from hmi.alarms.detection import condition_active
from hmi.config import AlarmDef


def limit_alarm(kind: str, limit: float, deadband: float = 0.0) -> AlarmDef:
    return AlarmDef(type=kind, limit=limit, deadband=deadband, message=f"{kind} {limit}")  # type: ignore[arg-type]


def walk(alarm: AlarmDef, values: list[float]) -> list[bool]:
    """The condition after each value, carrying was_active along like the engine does."""
    active, out = False, []
    for value in values:
        active = condition_active(alarm, value, active)
        out.append(active)
    return out


@pytest.mark.parametrize("kind", ["H", "HH"])
@pytest.mark.req("ALM-015")
def test_high_alarm_with_deadband(kind: str) -> None:
    alarm = limit_alarm(kind, 80, 2)
    assert not condition_active(alarm, 79.99, was_active=False)
    assert condition_active(alarm, 80, was_active=False)  # activates at the limit
    assert condition_active(alarm, 78.5, was_active=True)  # inside the deadband: stays active
    assert condition_active(alarm, 78, was_active=True)  # exactly limit - deadband: still active
    assert not condition_active(alarm, 77.99, was_active=True)  # clears below limit - deadband
    assert not condition_active(alarm, 78.5, was_active=False)  # the deadband does not raise anything
    assert walk(alarm, [70, 79.9, 80, 85, 79, 78.5, 77.9, 79, 80.5]) == [
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize("kind", ["L", "LL"])
@pytest.mark.req("ALM-015")
def test_low_alarm_mirrors_the_high_one(kind: str) -> None:
    alarm = limit_alarm(kind, 20, 2)
    assert not condition_active(alarm, 20.01, was_active=False)
    assert condition_active(alarm, 20, was_active=False)
    assert condition_active(alarm, 21.5, was_active=True)
    assert condition_active(alarm, 22, was_active=True)
    assert not condition_active(alarm, 22.01, was_active=True)
    assert not condition_active(alarm, 21.5, was_active=False)
    assert walk(alarm, [30, 20.1, 20, 15, 21, 21.5, 22.1, 21, 19.5]) == [
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize("kind", ["H", "L"])
@pytest.mark.req("ALM-015")
def test_without_deadband_it_clears_as_soon_as_the_limit_is_passed_back(kind: str) -> None:
    alarm = limit_alarm(kind, 50)
    inside, outside = (50.0, 49.99) if kind == "H" else (50.0, 50.01)
    assert condition_active(alarm, inside, was_active=True)
    assert not condition_active(alarm, outside, was_active=True)


@pytest.mark.req("ALM-018")
def test_integer_values_work_against_float_limits() -> None:
    alarm = limit_alarm("H", 100, 5)
    assert walk(alarm, [99, 100, 96, 95, 94]) == [False, True, True, True, False]


@pytest.mark.parametrize(
    ("configured", "value", "active"),
    [
        (True, True, True),
        (True, False, False),
        (False, False, True),
        ("Aborted", "Aborted", True),
        ("Aborted", "Execute", False),
        ("Aborted", "aborted", False),
        (3, 3, True),
        (3, 4, False),
        (3, 3.0, True),
    ],
)
@pytest.mark.req("ALM-018")
def test_discrete_alarm_is_equality(configured: Any, value: Any, active: bool) -> None:
    alarm = AlarmDef(type="discrete", value=configured, message="state")
    assert condition_active(alarm, value, was_active=False) is active
    assert condition_active(alarm, value, was_active=True) is active  # no deadband for discrete alarms


@pytest.mark.req("ALM-018")
def test_comparing_a_text_with_a_limit_raises_type_error() -> None:
    # The engine relies on this to skip (and log) a value it cannot compare instead of guessing.
    with pytest.raises(TypeError):
        condition_active(limit_alarm("H", 80), "eighty", was_active=False)

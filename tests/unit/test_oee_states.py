"""PackML state names (ISA-TR88.00.02) and this HMI's overview categories."""

from __future__ import annotations

import pytest

from hmi.oee.states import PACKML_STATES, StateCategory, canonical, category

EXPECTED = {
    "Execute": StateCategory.RUNNING,
    "Suspended": StateCategory.STARVED_BLOCKED,
    "Held": StateCategory.DOWN,
    "Aborted": StateCategory.DOWN,
    "Idle": StateCategory.IDLE,
    "Stopped": StateCategory.IDLE,
    "Complete": StateCategory.IDLE,
    **{
        s: StateCategory.TRANSITION
        for s in (
            "Starting",
            "Completing",
            "Resetting",
            "Holding",
            "Unholding",
            "Suspending",
            "Unsuspending",
            "Stopping",
            "Aborting",
            "Clearing",
        )
    },
}


@pytest.mark.req("OEE-004")
def test_every_packml_state_has_its_category() -> None:
    assert set(PACKML_STATES) == set(EXPECTED)
    assert len(PACKML_STATES) == 17
    for state, cat in EXPECTED.items():
        assert category(state) is cat, state


@pytest.mark.parametrize("name", ["EXECUTE", "execute", " Execute "])
@pytest.mark.req("OEE-004")
def test_names_are_case_insensitive(name: str) -> None:
    assert category(name) is StateCategory.RUNNING
    assert canonical(name) == "Execute"


@pytest.mark.parametrize("name", [None, "", "Running", "42"])
@pytest.mark.req("OEE-004")
def test_anything_else_is_unknown(name: str | None) -> None:
    assert category(name) is StateCategory.UNKNOWN


@pytest.mark.req("OEE-004")
def test_category_values_are_the_documented_texts() -> None:
    assert [c.value for c in StateCategory] == ["running", "starved_blocked", "down", "idle", "transition", "unknown"]

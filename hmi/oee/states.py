"""PackML line and machine states (ISA-TR88.00.02 state model) and the overview categories this HMI maps them to."""

from __future__ import annotations

from enum import StrEnum

PACKML_STATES = (
    "Idle",
    "Starting",
    "Execute",
    "Completing",
    "Complete",
    "Resetting",
    "Holding",
    "Held",
    "Unholding",
    "Suspending",
    "Suspended",
    "Unsuspending",
    "Stopping",
    "Stopped",
    "Aborting",
    "Aborted",
    "Clearing",
)
"""The 17 PackML state names, spelled as the standard spells them."""


class StateCategory(StrEnum):
    """What a state means on the overview: producing, waiting on neighbours, down, idle, changing, or unknown."""

    RUNNING = "running"
    STARVED_BLOCKED = "starved_blocked"
    DOWN = "down"
    IDLE = "idle"
    TRANSITION = "transition"
    UNKNOWN = "unknown"


_CATEGORIES: dict[str, StateCategory] = {
    "execute": StateCategory.RUNNING,
    "suspended": StateCategory.STARVED_BLOCKED,
    "held": StateCategory.DOWN,
    "aborted": StateCategory.DOWN,
    "idle": StateCategory.IDLE,
    "stopped": StateCategory.IDLE,
    "complete": StateCategory.IDLE,
    **{
        name: StateCategory.TRANSITION
        for name in (
            "starting",
            "completing",
            "resetting",
            "holding",
            "unholding",
            "suspending",
            "unsuspending",
            "stopping",
            "aborting",
            "clearing",
        )
    },
}

# Which category a stop is labelled with when it passed through several: a known fault outranks waiting on a
# neighbour, which outranks lost data, which outranks a deliberate idle; transitions are the mildest.
SEVERITY: dict[StateCategory, int] = {
    StateCategory.DOWN: 5,
    StateCategory.STARVED_BLOCKED: 4,
    StateCategory.UNKNOWN: 3,
    StateCategory.IDLE: 2,
    StateCategory.TRANSITION: 1,
    StateCategory.RUNNING: 0,
}


def category(state: str | None) -> StateCategory:
    """The overview category of a PackML state name (case-insensitive); UNKNOWN for None or any other name."""
    if state is None:
        return StateCategory.UNKNOWN
    return _CATEGORIES.get(state.strip().lower(), StateCategory.UNKNOWN)


def canonical(state: str) -> str:
    """The standard's spelling of a PackML state name ('EXECUTE' -> 'Execute'); other names unchanged."""
    key = state.strip().lower()
    return next((name for name in PACKML_STATES if name.lower() == key), state)

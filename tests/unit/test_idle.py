"""IdlePolicy: screen lock after idle_lock_min, logoff after logoff_min, driven by a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hmi.access.idle import IdlePolicy, IdleState
from hmi.clock import ManualClock
from hmi.config import AccessPolicy


@pytest.mark.req("ACC-006")
def test_defaults_lock_at_five_and_log_off_at_fifteen_minutes() -> None:
    clock = ManualClock()
    policy = IdlePolicy.from_access(AccessPolicy())
    last = clock.now()
    assert policy.state(last, clock.now()) is IdleState.ACTIVE
    clock.advance(5 * 60 - 1)
    assert policy.state(last, clock.now()) is IdleState.ACTIVE
    clock.advance(1)
    assert policy.state(last, clock.now()) is IdleState.LOCKED
    clock.advance(10 * 60 - 1)
    assert policy.state(last, clock.now()) is IdleState.LOCKED
    clock.advance(1)
    assert policy.state(last, clock.now()) is IdleState.LOGOFF


@pytest.mark.req("ACC-006")
def test_activity_restarts_the_count() -> None:
    clock = ManualClock()
    policy = IdlePolicy.from_access(AccessPolicy(idle_lock_min=2, logoff_min=3))
    last = clock.now()
    clock.advance(110)
    last = clock.now()  # a touch
    clock.advance(110)
    assert policy.state(last, clock.now()) is IdleState.ACTIVE
    clock.advance(10)
    assert policy.state(last, clock.now()) is IdleState.LOCKED
    clock.advance(60)
    assert policy.state(last, clock.now()) is IdleState.LOGOFF


@pytest.mark.req("ACC-006")
def test_a_clock_set_back_counts_as_active() -> None:
    clock = ManualClock()
    policy = IdlePolicy.from_access(AccessPolicy())
    later = clock.now() + timedelta(minutes=1)
    assert policy.state(later, clock.now()) is IdleState.ACTIVE


@pytest.mark.req("ACC-006")
def test_the_lock_must_come_before_the_logoff() -> None:
    with pytest.raises(ValueError, match="lock before the logoff"):
        IdlePolicy(timedelta(minutes=5), timedelta(minutes=5))
    with pytest.raises(ValueError, match="longer than idle_lock_min"):
        AccessPolicy(idle_lock_min=10, logoff_min=5)

"""Idle screen lock and automatic logoff (21 CFR 11.10(d), EU GMP Annex 11 §12.1): a pure decision on two times,
no clock reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hmi.config import AccessPolicy


class IdleState(StrEnum):
    """What a signed-in screen should be after some idle time."""

    ACTIVE = "active"
    LOCKED = "locked"
    LOGOFF = "logoff"


@dataclass(frozen=True, slots=True)
class IdlePolicy:
    """After `lock_after` without activity the screen locks; after `logoff_after` the person is signed out."""

    lock_after: timedelta
    logoff_after: timedelta

    def __post_init__(self) -> None:
        if not timedelta(0) < self.lock_after < self.logoff_after:
            raise ValueError("the screen must lock before the logoff: 0 < lock_after < logoff_after")

    @classmethod
    def from_access(cls, access: AccessPolicy) -> IdlePolicy:
        """The policy the plant file sets (idle_lock_min, logoff_min)."""
        return cls(timedelta(minutes=access.idle_lock_min), timedelta(minutes=access.logoff_min))

    def state(self, last_activity: datetime, now: datetime) -> IdleState:
        """ACTIVE, LOCKED or LOGOFF for a screen last used at `last_activity`; a clock set back counts as active."""
        idle = now - last_activity
        if idle >= self.logoff_after:
            return IdleState.LOGOFF
        if idle >= self.lock_after:
            return IdleState.LOCKED
        return IdleState.ACTIVE

"""What became of a write or command: why it was refused, how it ended, and the one sentence the operator reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from hmi.control.values import shown
from hmi.texts import Text


class Refusal(StrEnum):
    """Why a write or command was refused before anything was sent."""

    ROLE = "role"
    LIMITS = "limits"
    STEP = "step"
    QUALITY = "quality"
    ENDPOINT_DOWN = "endpoint_down"
    INTERLOCK = "interlock"
    MODE = "mode"
    PENDING = "pending"
    CHANGED = "changed"
    REASON_MISSING = "reason_missing"
    SIGNATURE = "signature"
    NOT_WRITABLE = "not_writable"
    BAD_VALUE = "bad_value"


class Result(StrEnum):
    """How an attempt ended."""

    CONFIRMED = "confirmed"
    REFUSED = "refused"
    SERVER_REFUSED = "server_refused"
    NOT_CONFIRMED = "not_confirmed"


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of one write or command: the one thing the operator is told, and what the audit row holds."""

    target: str
    """The tag name, or the command id."""
    requested: Any
    old: Any
    result: Result
    refusal: Refusal | None = None
    status: str = ""
    """The StatusCode name the server answered with; '' when nothing was sent."""
    readback: Any = None
    at: datetime | None = None
    why: str = ""
    """Why it was refused: a `Text`, so that a screen shows it in the reader's language."""
    signature_id: int | None = None
    current: Any = None
    """The value now, when refused because it `changed` since the dialog opened."""
    timeout_s: float = 0.0
    """How long the read-back waited (for "not confirmed within N s")."""
    kind: str = "tag"
    """'tag' or 'command'."""

    @property
    def ok(self) -> bool:
        """True only when the server confirmed."""
        return self.result is Result.CONFIRMED

    def message(self, zone: ZoneInfo | None = None) -> str:
        """Exactly one of: "confirmed at HH:MM:SS", "the server refused: <StatusCode name>", "not confirmed
        within N s: the value is now X", "refused: <why>" (times in `zone`, else UTC)."""
        if self.result is Result.CONFIRMED:
            at = self.at.astimezone(zone) if self.at is not None and zone is not None else self.at
            return Text("confirmed at {at:%H:%M:%S}", at=at) if at is not None else Text("confirmed")
        if self.result is Result.SERVER_REFUSED:
            # The StatusCode name is IEC 62541's own symbol: it stays as the server said it in every language.
            return Text("the server refused: {status}", status=self.status)
        if self.result is Result.NOT_CONFIRMED:
            return Text(
                "not confirmed within {timeout:g} s: the value is now {value}",
                timeout=self.timeout_s,
                value=shown(self.readback),
            )
        return Text("refused: {why}", why=self.why)

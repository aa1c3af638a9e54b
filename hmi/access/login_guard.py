"""Sign-in abuse guards: attempt limits per account and per client address, and refused sign-ins audited in bulk.

The limits use the `limits` library's moving window in this process's memory: right for the one HMI process
per database this project runs. Several HMI processes behind one address would each count on their own (the
library's Redis storage would share the count; not wired here). Refusals that are noise by the thousand in a
flood (unknown user names, attempts beyond a limit) are audited as one row per client address and window with
the count, so a flood cannot bury the audit trail; failures of known accounts keep one row each (21 CFR 11.300(d):
unauthorised use is detected and reported) and count toward the lockout as configured.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.clock import Clock
from hmi.records.audit import SYSTEM_USER_ID, AuditLog
from hmi.store.database import DatabaseUnavailable
from hmi.texts import Text

log = logging.getLogger(__name__)

# Distinct names kept per tally; past this the row only counts them.
MAX_NAMES_PER_TALLY = 50
# Open tallies at once; a flood from more addresses is counted under one catch-all key.
MAX_TALLIES = 5000
OTHER_ADDRESSES = "(other addresses)"
# What each kind of tallied refusal was, as its audit row says it.
_TALLIED = {
    "login.failed.unknown": "for unknown user names",
    "login.failed.directory": "for names the records do not hold while the directory was unreachable",
    # The provider's answer was refused before anyone was known (forged, replayed, expired, no role): see reason.
    "login.failed.oidc": "through the identity provider",
}


def parse_limit(text: str) -> RateLimitItem:
    """The limit `text` ("20 per 10 minutes") as the library's item, or ValueError saying how to write it."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit; write it like '20 per 10 minutes' or '60/hour'") from None


def describe_limit(item: RateLimitItem) -> Text:
    """ "20 per 10 minutes" for an item, as a person reads it (the sign-in refusal quotes it)."""
    # A whole phrase per unit, singular and plural: a translation words each its own way.
    amount, many = item.amount, item.multiples
    one = many == 1
    match item.GRANULARITY.name:
        case "second":
            return (
                Text("{amount} per second", amount=amount)
                if one
                else Text("{amount} per {many} seconds", amount=amount, many=many)
            )
        case "minute":
            return (
                Text("{amount} per minute", amount=amount)
                if one
                else Text("{amount} per {many} minutes", amount=amount, many=many)
            )
        case "hour":
            return (
                Text("{amount} per hour", amount=amount)
                if one
                else Text("{amount} per {many} hours", amount=amount, many=many)
            )
        case "day":
            return (
                Text("{amount} per day", amount=amount)
                if one
                else Text("{amount} per {many} days", amount=amount, many=many)
            )
        case "month":
            return (
                Text("{amount} per month", amount=amount)
                if one
                else Text("{amount} per {many} months", amount=amount, many=many)
            )
        case _:
            return (
                Text("{amount} per year", amount=amount)
                if one
                else Text("{amount} per {many} years", amount=amount, many=many)
            )


def name_digest(name: str) -> str:
    """A short hash of a tried user name: repeats stay visible, a password typed as a name is not stored."""
    # 8 hex digits collide across any dictionary of likely passwords, so the row does not reveal one.
    return hashlib.sha256(name.encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Throttled:
    """A sign-in attempt refused by a limit, and when the next one can succeed."""

    scope: str
    """"address" (this panel or computer) or "account" (this user name)."""
    limit: str
    retry_after_s: int


class LoginRateLimiter:
    """Moving-window limits on sign-in attempts per account and per client address, held in process memory."""

    def __init__(self, per_account: str, per_address: str) -> None:
        self._items = {"account": parse_limit(per_account), "address": parse_limit(per_address)}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, account: str, address: str) -> Throttled | None:
        """Count one attempt for both keys; a Throttled (and nothing counted) when either limit is used up."""
        keys = {"address": address, "account": account}
        # No await between test and hit: on the event loop the pair is atomic.
        for scope, key in keys.items():
            item = self._items[scope]
            if key and not self._limiter.test(item, "login", scope, key):
                reset = self._limiter.get_window_stats(item, "login", scope, key).reset_time
                # The library keeps wall-clock time, not the HMI's injected clock.
                wait = max(1, math.ceil(reset - time.time()))
                return Throttled(scope, describe_limit(item), wait)
        for scope, key in keys.items():
            if key:
                self._limiter.hit(self._items[scope], "login", scope, key)
        return None


@dataclass
class _Tally:
    action: str
    address: str
    station: str
    start: datetime
    count: int = 0
    names: set[str] = field(default_factory=set)
    more_names: int = 0
    reasons: set[str] = field(default_factory=set)


class RefusalTally:
    """Refused sign-ins counted per (kind, client address, window); `flush` writes one audit row per tally."""

    def __init__(self, audit: AuditLog, clock: Clock, window: timedelta = timedelta(minutes=1)) -> None:
        self._audit = audit
        self._clock = clock
        self.window = window
        self._open: dict[tuple[str, str], _Tally] = {}
        self._done: list[_Tally] = []
        self._dropped = 0

    def add(self, action: str, address: str, station: str, name: str, reason: str) -> None:
        """Count one refused attempt of `name` from `address` under audit action `action`."""
        now = self._clock()
        key = (action, address)
        tally = self._open.get(key)
        if tally is not None and now >= tally.start + self.window:
            self._close(key)
            tally = None
        if tally is None:
            if len(self._open) >= MAX_TALLIES:
                key = (action, OTHER_ADDRESSES)
                tally = self._open.get(key)
            if tally is None:
                tally = self._open[key] = _Tally(action, key[1], station, now)
        tally.count += 1
        tally.reasons.add(reason)
        digest = name_digest(name)
        if digest in tally.names:
            return
        if len(tally.names) < MAX_NAMES_PER_TALLY:
            tally.names.add(digest)
        else:
            tally.more_names += 1

    @property
    def pending(self) -> int:
        """Attempts counted but not yet written to the audit trail."""
        return sum(t.count for t in self._open.values()) + sum(t.count for t in self._done)

    async def flush(self, *, everything: bool = False) -> int:
        """Write the tallies whose window has ended (all with `everything`); returns the rows written."""
        now = self._clock()
        for key, tally in list(self._open.items()):
            if everything or now >= tally.start + self.window:
                self._close(key)
        written = 0
        while self._done:
            tally = self._done[0]
            try:
                await self._write(tally, now)
            except DatabaseUnavailable as exc:
                # Kept for the next flush: the count is not lost while the database is away.
                log.warning("%d refused sign-ins not yet audited: %s", self.pending, exc)
                break
            self._done.pop(0)
            self._dropped = 0
            written += 1
        return written

    def _close(self, key: tuple[str, str]) -> None:
        self._done.append(self._open.pop(key))
        if len(self._done) > MAX_TALLIES:
            # The database has been away for long: memory stays bounded, and the next row says what was lost.
            self._dropped += self._done.pop(0).count

    async def _write(self, tally: _Tally, now: datetime) -> None:
        end = min(now, tally.start + self.window)
        names = sorted(tally.names)
        ctx = ActionContext(
            user_id=SYSTEM_USER_ID,
            username="(refused sign-ins)",
            full_name="",
            role=Role.OPERATOR,
            station=tally.station,
        )
        what = _TALLIED.get(tally.action, "beyond the attempt limit")
        detail = (
            f"{tally.count} sign-in attempt{'s' if tally.count != 1 else ''} {what} from {tally.address} "
            f"between {tally.start.isoformat(timespec='seconds')} and {end.isoformat(timespec='seconds')}; "
            f"{len(names) + tally.more_names} distinct name(s), stored as sha256 prefixes"
        )
        if self._dropped:
            detail += f"; {self._dropped} earlier refused attempts were not recorded (database unavailable too long)"
        await self._audit.record(
            ctx,
            tally.action,
            "client",
            tally.address[:200],
            reason=", ".join(sorted(tally.reasons)),
            detail=detail,
            new_value={
                "count": tally.count,
                "names_sha256_8": names,
                "more_names": tally.more_names,
                "from": tally.start.isoformat(),
                "to": end.isoformat(),
            },
        )

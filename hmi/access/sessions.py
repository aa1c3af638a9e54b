"""Server-side sign-in sessions: checked at every command, bounded in time, and ended everywhere at once.

The browser holds only a random session id (in the server-side per-browser storage; the cookie carries a
signed reference to that). Each command resolves the person from the live session row and the live user row,
so logging out, switching user, disabling an account, resetting a password or a lockout take effect on every
tab and panel at the next touch (21 CFR 11.10(d) limiting access, 11.300(b) ending access of a person whose
credentials changed). A new id is issued at every sign-in, so an id planted before sign-in is worthless
(session fixation, OWASP ASVS V3.2.1).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from hmi.access.context import ActionContext
from hmi.clock import Clock, utc_now
from hmi.listeners import Listeners
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import User, UserSession
from hmi.texts import Text

DEFAULT_LIFETIME = timedelta(hours=12)
# last_seen_at is for people reading the table, not for security: one write a minute per session is plenty.
_SEEN_EVERY = timedelta(minutes=1)
log = logging.getLogger(__name__)


class SessionEnd(StrEnum):
    """Why a session ended (kept in `user_sessions.ended_reason`)."""

    LOGOUT = "logout"
    SWITCH = "switch"
    IDLE = "idle"
    EXPIRED = "expired"
    DISABLED = "disabled"
    PASSWORD_RESET = "password_reset"
    LOCKOUT = "lockout"
    REPLACED = "replaced"
    UNKNOWN_USER = "unknown_user"
    PROVIDER_LOGOUT = "provider_logout"

    @property
    def message(self) -> Text:
        """What the person is told when a command is refused for this reason."""
        return _MESSAGES[self]


_MESSAGES = {
    SessionEnd.LOGOUT: Text("you signed out (on this or another screen)"),
    SessionEnd.SWITCH: Text("another person signed in on this panel"),
    SessionEnd.IDLE: Text("you were signed out after being idle"),
    SessionEnd.EXPIRED: Text("the sign-in has expired"),
    SessionEnd.DISABLED: Text("the account is disabled"),
    SessionEnd.PASSWORD_RESET: Text("the password was changed"),
    SessionEnd.LOCKOUT: Text("the account is locked"),
    SessionEnd.REPLACED: Text("someone signed in again on this browser"),
    SessionEnd.UNKNOWN_USER: Text("the account no longer exists"),
    SessionEnd.PROVIDER_LOGOUT: Text("you were signed out at the identity provider"),
}


def session_key(session_id: str) -> str:
    """The stored form of a session id: its SHA-256, so the table alone cannot be used to act as anyone."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """A session looked up now: the person when it is live, else why not; `locked` while the idle lock holds."""

    ctx: ActionContext | None
    ended: SessionEnd | None = None
    locked: bool = False

    @property
    def refusal(self) -> str:
        """Why a command is refused, for the person; "" when it may run (the session is live, its screen not
        locked)."""
        if self.ended is not None:
            return Text("Not done: {why}. Nothing was recorded; sign in again.", why=self.ended.message)
        if self.ctx is None:
            return Text("Not done: you are not signed in. Nothing was recorded.")
        if self.locked:
            return Text("Not done: the screen is locked. Nothing was recorded; unlock it first.")
        return ""


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Told to listeners: every session of `user_id` ended, or the one session with `key`."""

    reason: SessionEnd
    user_id: int | None = None
    key: str | None = None

    def concerns(self, key: str, user_id: int) -> bool:
        """True when a page of session `key` for `user_id` is affected."""
        return self.key == key or self.user_id == user_id


class SessionService:
    """Starts, checks, locks and ends sessions; the one place that decides whether a session may act."""

    def __init__(self, db: Database, clock: Clock = utc_now, lifetime: timedelta = DEFAULT_LIFETIME) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("the session lifetime must be positive (access.session_hours in the plant file)")
        self._db = db
        self._clock = clock
        self.lifetime = lifetime
        # One broken page must not stop the others from learning that the person is signed out.
        self._listeners: Listeners[SessionsEnded] = Listeners("session")

    def subscribe(self, listener: Callable[[SessionsEnded], None]) -> Callable[[], None]:
        """Call `listener` whenever sessions end in this process; returns the unsubscribe."""
        return self._listeners.add(listener)

    def notify(self, event: SessionsEnded) -> None:
        """Tell listeners that sessions ended (after the change is committed)."""
        self._listeners.emit(event)

    async def start(self, ctx: ActionContext) -> str:
        """A new session for `ctx`'s person at `ctx.station`; returns its id (a fresh random one every time)."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        row = UserSession(
            key=session_key(session_id),
            user_id=ctx.user_id,
            station=ctx.station[:120],
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.lifetime,
        )
        async with self._db.session(write=True) as session:
            session.add(row)
            await session.commit()
        return session_id

    async def check(self, session_id: str | None) -> SessionCheck:
        """The person behind `session_id` now, from the live account; refused when ended, expired or disabled."""
        if not session_id:
            return SessionCheck(None)
        key = session_key(session_id)
        now = self._clock()
        async with self._db.session() as session:
            row = (await session.execute(select(UserSession).where(UserSession.key == key))).scalar_one_or_none()
            if row is None:
                return SessionCheck(None)
            if row.ended_reason is not None:
                return SessionCheck(None, ended=SessionEnd(row.ended_reason))
            user = await session.get(User, row.user_id)
        ended = None
        if now >= row.expires_at:
            ended = SessionEnd.EXPIRED
        elif user is None:
            ended = SessionEnd.UNKNOWN_USER
        elif user.disabled:
            ended = SessionEnd.DISABLED
        elif user.locked_at is not None:
            ended = SessionEnd.LOCKOUT
        if ended is not None:
            # Also when the account was changed behind the service's back (another process, the database).
            await self.end(session_id, ended)
            return SessionCheck(None, ended=ended)
        assert user is not None
        assert user.id is not None
        if now - row.last_seen_at >= _SEEN_EVERY:
            try:
                await self._touch(key, now)
            except DatabaseUnavailable as exc:
                # The check itself succeeded; a SQLite file busy with the historian's writes must not turn a page
                # away for a note of when the session was last seen (it is written at the next check instead).
                log.info("the session's last-seen time could not be written (%s); written at a later check", exc)
        # Name and role from the live account: a role changed since sign-in applies to the next command.
        ctx = ActionContext(
            user_id=user.id,
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            station=row.station,
            source=user.source,
            session_key=key,
        )
        return SessionCheck(ctx, locked=row.locked)

    async def refusal_of(self, key: str, user_id: int) -> Text | None:
        """None when the session stored under `key` is `user_id`'s, live and its screen not locked; else why not.
        For a command given in that session and carried out elsewhere (the active instance of a pair): the session
        may have ended in between."""
        async with self._db.session() as session:
            row = (await session.execute(select(UserSession).where(UserSession.key == key))).scalar_one_or_none()
        if row is None or row.user_id != user_id:
            return Text("the session it was given in is unknown")
        if row.ended_reason is not None:
            return SessionEnd(row.ended_reason).message
        if self._clock() >= row.expires_at:
            return SessionEnd.EXPIRED.message
        if row.locked:
            return Text("the screen it was given on is locked")
        return None

    async def set_locked(self, session_id: str, locked: bool) -> None:
        """Lock (idle) or unlock a session's screens; a locked session's commands are refused."""
        async with self._db.session(write=True) as session:
            await session.execute(
                update(UserSession).where(col(UserSession.key) == session_key(session_id)).values(locked=locked)
            )
            await session.commit()

    async def end(self, session_id: str, reason: SessionEnd) -> None:
        """End one session (its pages go to the login page)."""
        key = session_key(session_id)
        async with self._db.session(write=True) as session:
            await session.execute(
                update(UserSession)
                .where(col(UserSession.key) == key, col(UserSession.ended_at).is_(None))
                .values(ended_at=self._clock(), ended_reason=reason.value)
            )
            await session.commit()
        self.notify(SessionsEnded(reason, key=key))

    async def end_user(self, user_id: int, reason: SessionEnd, *, session: AsyncSession) -> SessionsEnded:
        """End every session of a person inside the caller's transaction; `notify()` the result after commit."""
        await session.execute(
            update(UserSession)
            .where(col(UserSession.user_id) == user_id, col(UserSession.ended_at).is_(None))
            .values(ended_at=self._clock(), ended_reason=reason.value)
        )
        return SessionsEnded(reason, user_id=user_id)

    async def _touch(self, key: str, now: datetime) -> None:
        async with self._db.session(write=True) as session:
            await session.execute(update(UserSession).where(col(UserSession.key) == key).values(last_seen_at=now))
            await session.commit()

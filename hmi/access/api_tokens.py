"""API tokens: create (the secret shown once), list, revoke, and resolve a presented secret to the person it acts as.

A token acts as the user account it is bound to, with that account's role at the moment of each request: a user
disabled, locked out or given another role after the token was made acts accordingly (21 CFR 11.10(d), (g)). A
system (an MES, an ERP) gets an account of its own (`hmi users add mes --role lead`) so its records are its own.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from hmi.access.auth import normalise_username
from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.records.audit import AuditLog
from hmi.store.api_tokens import ApiToken
from hmi.store.database import Database
from hmi.store.models import User

PREFIX = "hmi_"
"""Every secret starts with this, so a leaked one is recognisable (secret scanners, logs)."""
STATION_PREFIX = "via API "
"""The station of every action made with a token: `via API <token name>` (shown on every audit row)."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# last_used_at is written at most this often per token: a poll every second must not write every second.
LAST_USED_EVERY = timedelta(minutes=1)
_DURATION = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why and what to do."""


def hash_secret(secret: str) -> str:
    """SHA-256 (hex) of a presented secret, the only form stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def parse_duration(text: str) -> timedelta:
    """'90d', '12h', '2w' as a timedelta; TokenError saying how to write it else."""
    match = _DURATION.match(text or "")
    if match is None or int(match.group(1)) == 0:
        raise TokenError(f"{text!r} is not a validity; write a whole number of hours, days or weeks: 12h, 90d, 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """What a presented secret resolves to: the acting context, or why not (`reason`, for the 401 answer)."""

    ctx: ActionContext | None
    token: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the secret or its hash."""

    name: str
    username: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None

    def status(self, now: datetime) -> str:
        """'revoked', 'expired' or 'active'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class ApiTokenService:
    """Every API token passes here; creating and revoking need MANAGE_USERS and are audited."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def create(
        self, actor: ActionContext, name: str, username: str, *, valid_for: timedelta | None = None
    ) -> tuple[TokenInfo, str]:
        """A new token for the existing user `username`; returns it and its secret (shown once, never stored)."""
        name = name.strip()
        await self._audit.require(
            actor, Permission.MANAGE_USERS, action="api_token.create", object_type="api_token", object_id=name[:200]
        )
        if not NAME_PATTERN.match(name):
            raise TokenError(
                f"{name!r} is not a token name; use up to 64 letters, digits, '.', '_' or '-', e.g. mes-line1"
            )
        user_name = normalise_username(username)
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        async with self._audit.transaction() as session:
            user = (await session.execute(select(User).where(User.username == user_name))).scalar_one_or_none()
            if user is None or user.id is None:
                raise TokenError(f"there is no user {user_name!r}; add the account first: hmi users add {user_name}")
            if user.disabled:
                raise TokenError(f"user {user_name} is disabled; a token for it could do nothing")
            taken = (await session.execute(select(ApiToken.id).where(ApiToken.name == name))).first()
            if taken is not None:
                raise TokenError(f"a token called {name!r} exists already (names are never reused); choose another")
            token = ApiToken(
                name=name,
                secret_hash=hash_secret(secret),
                user_id=user.id,
                created_at=now,
                created_by=actor.username,
                expires_at=now + valid_for if valid_for is not None else None,
            )
            session.add(token)
            await session.flush()
            await self._audit.record(
                actor,
                "api_token.create",
                "api_token",
                name,
                session=session,
                new_value={
                    "user": user.username,
                    "role": user.role.value,
                    "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                },
                detail=f"acts as {user.username} ({user.role.value})",
            )
        return _info(token, user.username), secret

    async def list(self) -> list[TokenInfo]:
        """Every token, revoked and expired ones included, by name."""
        statement = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
        async with self._db.session() as session:
            rows = (await session.execute(statement.order_by(col(ApiToken.name)))).all()
        return [_info(token, username) for token, username in rows]

    async def revoke(self, actor: ActionContext, name: str, *, reason: str | None = None) -> TokenInfo:
        """Revoke the token `name` at once (its next request is refused); TokenError if unknown or revoked."""
        name = name.strip()
        await self._audit.require(
            actor, Permission.MANAGE_USERS, action="api_token.revoke", object_type="api_token", object_id=name[:200]
        )
        async with self._audit.transaction() as session:
            statement = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
            row = (await session.execute(statement.where(ApiToken.name == name))).first()
            if row is None:
                raise TokenError(f"there is no token {name!r}; see: hmi tokens list")
            token, username = row
            if token.revoked_at is not None:
                raise TokenError(f"token {name!r} was revoked already, by {token.revoked_by}")
            token.revoked_at = self._clock()
            token.revoked_by = actor.username
            session.add(token)
            await self._audit.record(
                actor,
                "api_token.revoke",
                "api_token",
                name,
                session=session,
                old_value={"revoked": False},
                new_value={"revoked": True},
                reason=reason,
                detail=f"token of {username}",
            )
        return _info(token, username)

    async def resolve(self, secret: str) -> TokenCheck:
        """The context a presented secret acts with now, or the reason it cannot act (unknown, revoked, expired,
        its user disabled or locked out)."""
        if not secret.startswith(PREFIX):
            return TokenCheck(None, reason="this is not an HMI API token; send 'Authorization: Bearer hmi_…'")
        now = self._clock()
        async with self._db.session() as session:
            statement = select(ApiToken, User).join(User, col(User.id) == col(ApiToken.user_id))
            row = (await session.execute(statement.where(ApiToken.secret_hash == hash_secret(secret)))).first()
        if row is None:
            return TokenCheck(None, reason="the token is not known; ask an administrator for a token (hmi tokens)")
        token, user = row
        if token.revoked_at is not None:
            return TokenCheck(None, token.name, f"token {token.name} was revoked; ask an administrator for a new one")
        if token.expires_at is not None and token.expires_at <= now:
            return TokenCheck(
                None,
                token.name,
                f"token {token.name} expired at {token.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one",
            )
        if user.disabled or user.locked_at is not None:
            why = "disabled" if user.disabled else "locked out"
            return TokenCheck(None, token.name, f"user {user.username} of token {token.name} is {why}")
        assert user.id is not None
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
            await self._touch(token.name, now)
        ctx = ActionContext(
            user_id=user.id,
            username=user.username,
            full_name=user.full_name or user.username,
            role=user.role,
            station=STATION_PREFIX + token.name,
        )
        return TokenCheck(ctx, token.name)

    async def _touch(self, name: str, now: datetime) -> None:
        async with self._db.session(write=True) as session:
            token = (await session.execute(select(ApiToken).where(ApiToken.name == name))).scalar_one()
            token.last_used_at = now
            session.add(token)
            await session.commit()


def _info(token: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(
        token.name,
        username,
        token.created_at,
        token.created_by,
        token.expires_at,
        token.revoked_at,
        token.revoked_by,
        token.last_used_at,
    )

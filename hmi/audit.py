"""The audit trail: append-only rows, each hash-chained to the one before, so any direct edit is detectable."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hmi.clock import Clock, utc_now
from hmi.context import ActionContext, PermissionDenied
from hmi.roles import Permission, Role
from hmi.store.database import Database
from hmi.store.models import GENESIS_HASH, AuditEntry

SYSTEM_USER_ID = 0
"""`ActionContext.user_id` of actors without a user row (the CLI, the runtime); recorded as NULL user_id."""

# pg_advisory_xact_lock key: serialises appends across every instance sharing one PostgreSQL.
_CHAIN_LOCK_KEY = 0x686D695F61756474  # "hmi_audt"
_VERIFY_BATCH = 1000
_LIMITS = {"username": 64, "station": 120, "action": 64, "object_type": 64, "object_id": 200}
_HOLDS_LOCK = "hmi.audit.holds_lock"
# Set while this task is inside AuditLog.transaction(): asyncio.Lock is not re-entrant, so a nested
# transaction (e.g. require() inside a transaction) would wait for itself forever; fail loudly instead.
_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar("hmi_audit_in_transaction", default=False)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What a walk over the hash chain found: rows checked, and the first broken row with the reason, if any."""

    rows: int
    broken_at: int | None = None
    reason: str = ""
    last_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        """True when every row links to the one before and matches its own hash."""
        return self.broken_at is None


def system_context(username: str = "system", station: str = "", full_name: str = "") -> ActionContext:
    """An ActionContext for a non-person actor (e.g. `cli:alice`); it may manage users, it has no user row."""
    return ActionContext(
        user_id=SYSTEM_USER_ID,
        username=username,
        full_name=full_name or username,
        role=Role.ADMIN,
        station=station,
    )


def canonical_content(entry: AuditEntry) -> str:
    """The exact text the row hash covers: every field but the hashes, as sorted compact JSON."""
    at = entry.at.astimezone(UTC).isoformat(timespec="microseconds")
    content: dict[str, Any] = {
        "id": entry.id,
        "at": at,
        "user_id": entry.user_id,
        "username": entry.username,
        "station": entry.station,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "reason": entry.reason,
        "detail": entry.detail,
        "action_id": entry.action_id,
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(entry: AuditEntry) -> str:
    """sha256 over the previous row's hash and this row's canonical content (hex)."""
    return hashlib.sha256(f"{entry.prev_hash}\n{canonical_content(entry)}".encode()).hexdigest()


def as_text(value: object) -> str | None:
    """How an old/new value is kept: strings as they are, anything else as sorted JSON, None as NULL."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class AuditLog:
    """Appends audit rows (hash-chained, serialised) and reads and verifies them; never updates or deletes."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock
        # Appends must see the previous row's hash. The lock keeps this process's own transactions in single
        # file (cheaper than contending in the database); the database lock (BEGIN IMMEDIATE on SQLite, an
        # advisory lock in _append on PostgreSQL) does the same across connections and processes.
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write session that commits on success; records made in it commit with their audit rows.

        The append lock is held until the commit, so no other append can read the chain's tail in between.
        Do not call `record()` without `session=` or `require()` inside it: check permissions first.
        """
        if _IN_TRANSACTION.get():
            raise RuntimeError("AuditLog.transaction() is not re-entrant; pass session= to record() instead")
        token = _IN_TRANSACTION.set(True)
        try:
            async with self._lock, self._db.session(write=True) as session:
                session.info[_HOLDS_LOCK] = True
                yield session
                await session.commit()
        finally:
            _IN_TRANSACTION.reset(token)

    async def record(
        self,
        ctx: ActionContext | None,
        action: str,
        object_type: str,
        object_id: str,
        *,
        old_value: object = None,
        new_value: object = None,
        reason: str | None = None,
        detail: str | None = None,
        session: AsyncSession | None = None,
    ) -> AuditEntry:
        """Append one audit row (in `session` when given, committed by its owner; else in its own transaction).

        A caller's session should come from `transaction()` or `Database.session(write=True)`: on SQLite a
        plain session that read before this append can fail with "database is locked" (never a broken chain).
        """
        if session is None:
            async with self.transaction() as own:
                return await self._append(own, ctx, action, object_type, object_id, old_value, new_value, reason,
                                          detail)
        # A caller's own session may already hold the database's write lock (SQLite) or the chain lock
        # (PostgreSQL) from an earlier record; taking the asyncio lock here as well would invert the lock order
        # against transaction() and deadlock. The database lock alone keeps the chain straight until it commits.
        with self._db.translate_errors():
            return await self._append(session, ctx, action, object_type, object_id, old_value, new_value, reason,
                                      detail)

    async def require(
        self, ctx: ActionContext, permission: Permission, *, action: str, object_type: str, object_id: str = ""
    ) -> None:
        """Return when `ctx` may do `permission`; otherwise audit the refusal as `<action>.denied` and raise."""
        if ctx.can(permission):
            return
        denied = PermissionDenied(ctx, permission)
        await self.record(ctx, f"{action}.denied", object_type, object_id,
                          detail=f"refused: {denied}", reason=f"role {ctx.role.value} lacks {permission.value}")
        raise denied

    async def query(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        action: str | None = None,
        limit: int = 500,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Audit rows newest first; `since` inclusive, `until` exclusive, user / action / object exact; at most
        `limit` after skipping the `offset` newest."""
        statement = select(AuditEntry)
        if object_type is not None:
            statement = statement.where(AuditEntry.object_type == object_type)
        if object_id is not None:
            statement = statement.where(AuditEntry.object_id == object_id)
        if since is not None:
            statement = statement.where(col(AuditEntry.at) >= since)
        if until is not None:
            statement = statement.where(col(AuditEntry.at) < until)
        if username is not None:
            statement = statement.where(AuditEntry.username == username)
        if action is not None:
            statement = statement.where(AuditEntry.action == action)
        # id order is append order, which is the chain's order even if the clock was ever set back.
        statement = statement.order_by(col(AuditEntry.id).desc()).offset(max(0, offset)).limit(max(1, limit))
        async with self._db.session() as session:
            return list((await session.execute(statement)).scalars())

    async def verify(self, *, batch_size: int = _VERIFY_BATCH) -> int | None:
        """Id of the first row whose hash or link to the previous row does not match, else None.

        Removing rows from the end of the chain leaves a valid shorter chain; compare the count or last hash
        with an exported copy to detect that.
        """
        return (await self.check_chain(batch_size=batch_size)).broken_at

    async def check_chain(self, *, batch_size: int = _VERIFY_BATCH) -> ChainCheck:
        """Walk the whole chain in id order; stop at the first broken row and say why it is broken."""
        expected_prev = GENESIS_HASH
        last_id = 0
        rows = 0
        async with self._db.session() as session:
            while True:
                statement = (select(AuditEntry).where(col(AuditEntry.id) > last_id)
                             .order_by(col(AuditEntry.id)).limit(max(1, batch_size)))
                batch = list((await session.execute(statement)).scalars())
                if not batch:
                    return ChainCheck(rows, last_hash=expected_prev)
                for entry in batch:
                    if (reason := _break_reason(entry, last_id, expected_prev)) is not None:
                        return ChainCheck(rows, entry.id, reason, expected_prev)
                    expected_prev = entry.row_hash
                    last_id = entry.id
                    rows += 1
                # Keep memory flat on long trails: the identity map would otherwise hold every row.
                session.expunge_all()

    async def _append(
        self,
        session: AsyncSession,
        ctx: ActionContext | None,
        action: str,
        object_type: str,
        object_id: str,
        old_value: object,
        new_value: object,
        reason: str | None,
        detail: str | None,
    ) -> AuditEntry:
        if self._db.dialect == "postgresql":
            # Held until this transaction ends, so another instance cannot read the same tail.
            await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
        tail = (await session.execute(
            select(AuditEntry.id, AuditEntry.row_hash).order_by(col(AuditEntry.id).desc()).limit(1)
        )).first()
        prev_id, prev_hash = (tail[0], tail[1]) if tail else (0, GENESIS_HASH)
        at = self._clock()
        if at.tzinfo is None:
            raise ValueError("the audit clock returned a naive datetime; it must be timezone-aware UTC")
        fields = {
            "username": ctx.username if ctx else "system",
            "station": ctx.station if ctx else "",
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
        }
        # Over-long text would make PostgreSQL refuse the row and lose the audit entry; keep its start instead.
        fields = {key: value[: _LIMITS[key]] for key, value in fields.items()}
        entry = AuditEntry(
            id=prev_id + 1,
            # Microseconds are what both databases keep; anything finer would not survive to verify().
            at=at.astimezone(UTC),
            user_id=ctx.user_id if ctx and ctx.user_id != SYSTEM_USER_ID else None,
            old_value=as_text(old_value),
            new_value=as_text(new_value),
            reason=reason,
            detail=detail,
            action_id=ctx.id if ctx else None,
            prev_hash=prev_hash,
            row_hash="",
            **fields,
        )
        entry.row_hash = row_hash(entry)
        session.add(entry)
        await session.flush()
        return entry


def _break_reason(entry: AuditEntry, previous_id: int, expected_prev: str) -> str | None:
    """Why `entry` breaks the chain after row `previous_id` (whose hash is `expected_prev`), or None if it does not."""
    if entry.prev_hash != expected_prev:
        if entry.id != previous_id + 1:
            # Ids are dense (previous + 1), so a jump is the trace of deleted rows.
            first, last = previous_id + 1, entry.id - 1
            missing = f"row {first}" if first == last else f"rows {first}-{last}"
            return f"{missing} missing (deleted); this row links to a row that is no longer there"
        return f"its link to row {previous_id} does not match that row's hash (row {previous_id} or this link changed)"
    if row_hash(entry) != entry.row_hash:
        return "its content does not match its hash (the row was changed after it was written)"
    if entry.id != previous_id + 1:
        # A matching link over a gap cannot happen by accident; keep it reported rather than silently accepted.
        return f"ids jump from {previous_id} to {entry.id}"
    return None

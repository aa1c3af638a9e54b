"""The audit trail: append-only rows, each HMAC-chained to the one before, so any direct edit is detectable.

21 CFR 11.10(e). Rows carry the scheme that made their hash: `hmac-sha256` under the key kept outside the
database (hmi.records.audit_key), or `sha256` for rows written before a key existed. Unkeyed rows may only come first;
the first keyed row chains onto the last unkeyed one, so from then on the key protects the old rows too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission, Role
from hmi.clock import Clock, utc_now
from hmi.records.audit_anchor import Anchor
from hmi.records.audit_key import KEY_ENV, key_id
from hmi.store.database import Database, GuardReport
from hmi.store.models import GENESIS_HASH, SCHEME_HMAC, SCHEME_SHA256, AuditEntry, append_only_guards

GUARDS_INSTALLED = "db.guards.installed"
"""Audit action: append-only guards installed for the first time (new database, or new in this version)."""
GUARDS_RESTORED = "db.guards.restored"
"""Audit action: guards found missing, changed or disabled at start-up, and re-installed (tampering evidence)."""

SYSTEM_USER_ID = 0
"""`ActionContext.user_id` of actors without a user row (the CLI, the runtime); recorded as NULL user_id."""

# pg_advisory_xact_lock key: serialises appends across every instance sharing one PostgreSQL.
_CHAIN_LOCK_KEY = 0x686D695F61756474  # "hmi_audt"
_VERIFY_BATCH = 1000
_LIMITS = {"username": 64, "station": 120, "action": 64, "object_type": 64, "object_id": 200}
_HOLDS_LOCK = "hmi.records.audit.holds_lock"
# Set while this task is inside AuditLog.transaction(): asyncio.Lock is not re-entrant, so a nested
# transaction (e.g. require() inside a transaction) would wait for itself forever; fail loudly instead.
_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar("hmi_audit_in_transaction", default=False)


class AuditKeyMissing(Exception):
    """The trail holds keyed rows but this process has no key: it can neither append nor check them."""


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What a walk over the hash chain found: rows checked, and the first broken row with the reason, if any."""

    rows: int
    broken_at: int | None = None
    reason: str = ""
    last_hash: str = GENESIS_HASH
    last_id: int = 0
    legacy: int = 0
    """Rows of the unkeyed SHA-256 scheme (written before the key existed); the rest are keyed."""

    @property
    def keyed(self) -> int:
        """Rows whose hash is an HMAC under the key."""
        return self.rows - self.legacy

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


def row_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """The row's hash by its scheme over the previous row's hash and its canonical content (hex).

    `sha256` rows: plain SHA-256. `hmac-sha256` rows: HMAC-SHA256 under `key` (AuditKeyMissing without one).
    """
    message = f"{entry.prev_hash}\n{canonical_content(entry)}".encode()
    if entry.scheme == SCHEME_HMAC:
        if key is None:
            raise AuditKeyMissing(f"audit row {entry.id} is keyed (HMAC); its hash cannot be computed without the key")
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    if entry.scheme != SCHEME_SHA256:
        raise ValueError(f"audit row {entry.id} has an unknown hash scheme {entry.scheme!r}")
    return hashlib.sha256(message).hexdigest()


def as_text(value: object) -> str | None:
    """How an old/new value is kept: strings as they are, anything else as sorted JSON, None as NULL."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class AuditLog:
    """Appends audit rows (hash-chained, serialised) and reads and verifies them; never updates or deletes."""

    def __init__(self, db: Database, clock: Clock = utc_now, key: bytes | None = None) -> None:
        self._db = db
        self._clock = clock
        self._key = key
        # Appends must see the previous row's hash. The lock keeps this process's own transactions in single
        # file (cheaper than contending in the database); the database lock (BEGIN IMMEDIATE on SQLite, an
        # advisory lock in _append on PostgreSQL) does the same across connections and processes.
        self._lock = asyncio.Lock()

    def use_key(self, key: bytes) -> None:
        """Sign every later row with `key` (HMAC-SHA256); set before the first append of a keyed process."""
        self._key = key

    def seal(self, purpose: str, content: str) -> str | None:
        """HMAC-SHA256 of `content` under the audit key, bound to `purpose` (a key used for two things must not let
        one's MAC pass as the other's); None while the trail is unkeyed."""
        if self._key is None:
            return None
        message = purpose.encode("utf-8") + b"\0" + content.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    @property
    def key_id(self) -> str | None:
        """The public id of the key in use (see hmi.records.audit_key.key_id), None when unkeyed."""
        return key_id(self._key) if self._key is not None else None

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
                return await self._append(
                    own, ctx, action, object_type, object_id, old_value, new_value, reason, detail
                )
        # A caller's own session may already hold the database's write lock (SQLite) or the chain lock
        # (PostgreSQL) from an earlier record; taking the asyncio lock here as well would invert the lock order
        # against transaction() and deadlock. The database lock alone keeps the chain straight until it commits.
        with self._db.translate_errors():
            return await self._append(
                session, ctx, action, object_type, object_id, old_value, new_value, reason, detail
            )

    async def require(
        self, ctx: ActionContext, permission: Permission, *, action: str, object_type: str, object_id: str = ""
    ) -> None:
        """Return when `ctx` may do `permission`; otherwise audit the refusal as `<action>.denied` and raise."""
        if ctx.can(permission):
            return
        denied = PermissionDenied(ctx, permission)
        await self.record(
            ctx,
            f"{action}.denied",
            object_type,
            object_id,
            detail=f"refused: {denied}",
            reason=f"role {ctx.role.value} lacks {permission.value}",
        )
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

        Removing rows from the end of the chain leaves a valid shorter chain: `check_chain(anchor=...)` compares
        the tail with an anchor kept outside the database to find that.
        """
        return (await self.check_chain(batch_size=batch_size)).broken_at

    async def check_chain(
        self, *, batch_size: int = _VERIFY_BATCH, anchor: Anchor | None = None, start: Anchor | None = None
    ) -> ChainCheck:
        """Walk the chain in id order; stop at the first broken row and say why it is broken.

        `start`: begin after that anchored head instead of at row 1 (only the rows since are checked).
        `anchor`: the last anchor; rows it covers must still end in its head with no more unkeyed rows than it
        counted, and the chain must reach it (else the tail was cut off). AuditKeyMissing at a keyed row when
        this log has no key.
        """
        expected_prev = start.head if start else GENESIS_HASH
        last_id = start.last_id if start else 0
        rows = start.rows if start else 0
        legacy = start.legacy if start else 0
        keyed_seen = rows > legacy

        def result(broken_at: int | None = None, reason: str = "") -> ChainCheck:
            return ChainCheck(rows, broken_at, reason, expected_prev, last_id, legacy)

        async with self._db.session() as session:
            if start is not None and start.last_id > 0:
                anchored = (
                    await session.execute(select(AuditEntry.row_hash).where(col(AuditEntry.id) == start.last_id))
                ).scalar_one_or_none()
                if anchored != start.head:
                    what = "is gone" if anchored is None else "has another hash now"
                    return result(start.last_id, f"row {start.last_id}, anchored at {start.at.isoformat()}, {what}")
            while True:
                statement = (
                    select(AuditEntry)
                    .where(col(AuditEntry.id) > last_id)
                    .order_by(col(AuditEntry.id))
                    .limit(max(1, batch_size))
                )
                batch = list((await session.execute(statement)).scalars())
                if not batch:
                    break
                for entry in batch:
                    unkeyed = entry.scheme == SCHEME_SHA256
                    if unkeyed and keyed_seen:
                        return result(
                            entry.id,
                            "this row is unkeyed (plain SHA-256) after keyed rows: the chain "
                            "was recomputed without the key from here on",
                        )
                    if unkeyed and anchor is not None and legacy >= anchor.legacy and entry.id <= anchor.last_id:
                        return result(
                            entry.id,
                            f"this row is unkeyed but the anchor of {anchor.at.isoformat()} "
                            f"counted only {anchor.legacy} unkeyed rows: the chain was "
                            "recomputed without the key",
                        )
                    if (reason := _break_reason(entry, last_id, expected_prev, self._key)) is not None:
                        return result(entry.id, reason)
                    if anchor is not None and entry.id == anchor.last_id and entry.row_hash != anchor.head:
                        return result(
                            entry.id,
                            f"its hash differs from the head anchored at "
                            f"{anchor.at.isoformat()} ({anchor.head}): the chain was rewritten",
                        )
                    expected_prev = entry.row_hash
                    last_id = entry.id
                    rows += 1
                    legacy += unkeyed
                    keyed_seen = keyed_seen or not unkeyed
                # Keep memory flat on long trails: the identity map would otherwise hold every row.
                session.expunge_all()
        if anchor is not None and last_id < anchor.last_id:
            return result(
                last_id + 1,
                f"truncated: the anchor of {anchor.at.isoformat()} recorded {anchor.rows} "
                f"rows up to row {anchor.last_id} (head {anchor.head}); the database ends "
                f"at row {last_id}",
            )
        return result()

    async def head(self) -> Anchor:
        """The chain's head as stored now (not verified): row count, last id and hash, unkeyed rows; stamped now."""
        async with self._db.session() as session:
            tail = (
                await session.execute(
                    select(AuditEntry.id, AuditEntry.row_hash).order_by(col(AuditEntry.id).desc()).limit(1)
                )
            ).first()
            rows = (await session.execute(sa.select(sa.func.count()).select_from(AuditEntry))).scalar_one()
            legacy = (
                await session.execute(
                    sa.select(sa.func.count()).select_from(AuditEntry).where(col(AuditEntry.scheme) == SCHEME_SHA256)
                )
            ).scalar_one()
        last_id, head = (tail[0], tail[1]) if tail else (0, GENESIS_HASH)
        return Anchor(self._clock().astimezone(UTC), int(rows), last_id, head, int(legacy), self.key_id)

    def anchor_of(self, check: ChainCheck) -> Anchor:
        """The anchor for the head an intact `check` ended at, stamped now."""
        return Anchor(
            self._clock().astimezone(UTC), check.rows, check.last_id, check.last_hash, check.legacy, self.key_id
        )

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
        tail = (
            await session.execute(
                select(AuditEntry.id, AuditEntry.row_hash, AuditEntry.scheme)
                .order_by(col(AuditEntry.id).desc())
                .limit(1)
            )
        ).first()
        prev_id, prev_hash = (tail[0], tail[1]) if tail else (0, GENESIS_HASH)
        if tail is not None and tail[2] == SCHEME_HMAC and self._key is None:
            # An unkeyed row after keyed ones is what a forger without the key would write: never do it.
            raise AuditKeyMissing(
                "the audit trail is keyed (HMAC) but this process has no audit key; give the "
                f"key file with --key-file or {KEY_ENV} (or --data-dir holding audit.key). "
                "Nothing was recorded"
            )
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
            scheme=SCHEME_SHA256 if self._key is None else SCHEME_HMAC,
            **fields,
        )
        entry.row_hash = row_hash(entry, self._key)
        session.add(entry)
        await session.flush()
        return entry


def _break_reason(entry: AuditEntry, previous_id: int, expected_prev: str, key: bytes | None) -> str | None:
    """Why `entry` breaks the chain after row `previous_id` (whose hash is `expected_prev`), or None if it does not."""
    if entry.prev_hash != expected_prev:
        if entry.id != previous_id + 1:
            # Ids are dense (previous + 1), so a jump is the trace of deleted rows.
            first, last = previous_id + 1, entry.id - 1
            missing = f"row {first}" if first == last else f"rows {first}-{last}"
            return f"{missing} missing (deleted); this row links to a row that is no longer there"
        return f"its link to row {previous_id} does not match that row's hash (row {previous_id} or this link changed)"
    if not hmac.compare_digest(row_hash(entry, key), entry.row_hash):
        if entry.scheme == SCHEME_HMAC:
            return (
                "its content does not match its HMAC (the row was changed after it was written, or its hash "
                "was recomputed without the key, or this is not the key the trail was written with)"
            )
        return "its content does not match its hash (the row was changed after it was written)"
    if entry.id != previous_id + 1:
        # A matching link over a gap cannot happen by accident; keep it reported rather than silently accepted.
        return f"ids jump from {previous_id} to {entry.id}"
    return None


async def record_guard_report(audit: AuditLog, db: Database, actor: ActionContext | None = None) -> str | None:
    """Record the guards `db.start()` had to re-install; a finding for administrators when some had been removed.

    The trail itself says which guards were ever installed (`db.guards.installed` rows, HMAC-protected): one of
    those found missing or altered was removed by someone with write access to the database (recorded as
    restored, returned as the finding); one never recorded is new (a new database, or new in this version).
    A trail without any such row (first start of this version) records every guard as its baseline; the audit
    table's own guards already existed then if the table had rows. Never silent, reported once.
    """
    report, db.guard_report = db.guard_report, GuardReport()
    if not report.installed:
        return None
    guards = append_only_guards(db.dialect)
    known: set[str] = set()
    recorded = False
    for action in (GUARDS_INSTALLED, GUARDS_RESTORED):
        for entry in await audit.query(action=action, limit=10_000):
            recorded = True
            with contextlib.suppress(ValueError, TypeError):
                known |= set(json.loads(entry.new_value or "[]"))
    if not recorded and report.had_audit_rows:
        known |= {name for name, table in guards.items() if table == "audit_entries"}
    restored = [name for name in report.replaced if name in known]
    new = [name for name in (guards if not recorded else report.replaced) if name not in known]
    if new:
        await audit.record(
            actor,
            GUARDS_INSTALLED,
            "database",
            "append-only guards",
            new_value=new,
            detail=f"installed on {db.describe()}",
        )
    if not restored:
        return None
    finding = (
        f"Append-only guards were missing or altered at start-up and have been re-installed: "
        f"{', '.join(restored)}. Someone with write access to the database worked around them; "
        "run `hmi audit verify` and review the database's access."
    )
    await audit.record(actor, GUARDS_RESTORED, "database", "append-only guards", new_value=restored, detail=finding)
    return finding

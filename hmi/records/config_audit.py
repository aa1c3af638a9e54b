"""Configuration change audit: the plant file loaded at start-up is compared with the last one, and audited.

Only the redacted text (`redact_config_text`: inline secrets replaced by their fingerprint) is hashed, kept as a
snapshot or diffed into the audit trail: a password must not become readable to everyone who reads the trail.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import socket
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.clock import Clock
from hmi.config import redact_config_text
from hmi.records.audit import AuditLog, system_context
from hmi.store.database import Database
from hmi.store.models import AuditEntry, ConfigSnapshot

OBJECT_TYPE = "config"
# A diff longer than this goes into the audit row cut short (the full before and after texts stay in the
# snapshots); a whole rewritten plant file would otherwise make one audit row megabytes long.
MAX_DIFF_CHARS = 20_000
# pg_advisory_xact_lock key: instances sharing PostgreSQL that start together read and write snapshots in turn.
_SNAPSHOT_LOCK_KEY = 0x686D695F636667  # "hmi_cfg"


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the file text as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_diff(old: str, new: str, path: str, *, limit: int = MAX_DIFF_CHARS) -> str:
    """A unified diff from `old` to `new`, cut at a line boundary after `limit` characters with a note saying so."""
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (before)",
            tofile=f"{path} (after)",
        )
    )
    out: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        if not line.endswith("\n"):
            line += "\n"
        if size + len(line) > limit:
            out.append(
                f"… diff cut here: {len(lines) - i} more lines; both full versions are kept in the config snapshots\n"
            )
            break
        out.append(line)
        size += len(line)
    return "".join(out)


async def record_config(db: Database, audit: AuditLog, path: Path, text: str, clock: Clock) -> AuditEntry | None:
    """Audit the plant file read at start-up: `config.load` the first time, `config.change` when it differs from
    the last snapshot of the same path (old/new hash and the diff), nothing when unchanged. Secrets written in
    the file are redacted before anything is hashed, stored or diffed."""
    # The absolute path names the file: instances serving different areas from one PostgreSQL each keep their own.
    key = str(path.expanduser().absolute())  # noqa: ASYNC240 - reads only the cwd and $HOME, no file
    # scrypt fingerprints are CPU work: off the event loop.
    text = await asyncio.to_thread(redact_config_text, text)
    digest = sha256_text(text)
    actor = system_context("runtime", station=socket.gethostname(), full_name="HMI runtime")
    # One transaction for the snapshot and its audit row: either both are kept or neither, and the write lock
    # (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL) keeps two instances starting together from
    # both reading the old snapshot and auditing the same change twice.
    async with audit.transaction() as session:
        last = await _last_snapshot(session, db, key)
        if last is not None and last.sha256 == digest:
            return None
        now = clock()
        # A snapshot from before redaction holds the secret in clear: compare and diff its redacted form.
        before = await asyncio.to_thread(redact_config_text, last.text) if last is not None else ""
        if last is not None and before == text:
            # Only the stored form changed (secrets now redacted): keep the new form, nothing to audit.
            session.add(ConfigSnapshot(at=now, path=key, sha256=digest, text=text))
            await session.flush()
            return None
        if last is None:
            entry = await audit.record(
                actor,
                "config.load",
                OBJECT_TYPE,
                key,
                new_value=digest,
                detail=f"first start with this plant file (sha256 {digest})",
                session=session,
            )
        else:
            entry = await audit.record(
                actor,
                "config.change",
                OBJECT_TYPE,
                key,
                old_value=last.sha256,
                new_value=digest,
                reason="plant file changed since the last start",
                detail=config_diff(before, text, key),
                session=session,
            )
        session.add(ConfigSnapshot(at=now, path=key, sha256=digest, text=text))
        await session.flush()
        return entry


async def record_reload(
    db: Database,
    audit: AuditLog,
    actor: ActionContext,
    path: Path,
    text: str,
    changes: Sequence[str],
    *,
    errors: Sequence[str] = (),
    clock: Clock,
) -> AuditEntry:
    """Audit a plant reload (21 CFR 11.10(e), EU GMP Annex 11 §10): `plant.reload` with the hashes before and
    after, the structural changes and the text diff, and the new snapshot (so the next start does not audit the
    same change again); or, with `errors`, `plant.reload.refused` with them (no snapshot: nothing changed)."""
    key = str(path.expanduser().absolute())  # noqa: ASYNC240 - reads only the cwd and $HOME, no file
    text = await asyncio.to_thread(redact_config_text, text)
    digest = sha256_text(text)
    async with audit.transaction() as session:
        last = await _last_snapshot(session, db, key)
        before = await asyncio.to_thread(redact_config_text, last.text) if last is not None else ""
        old_digest = last.sha256 if last is not None else None
        if errors:
            return await audit.record(
                actor,
                "plant.reload.refused",
                OBJECT_TYPE,
                key,
                old_value=old_digest,
                new_value=digest,
                reason="the edited plant file was not applied",
                detail=_cut("\n".join(errors)),
                session=session,
            )
        listed = "\n".join(f"- {c}" for c in changes) or "- no change to the plant model (comments or layout only)"
        entry = await audit.record(
            actor,
            "plant.reload",
            OBJECT_TYPE,
            key,
            old_value=old_digest,
            new_value=digest,
            reason="plant file reloaded into the running HMI",
            detail=_cut(f"Changes applied:\n{listed}\n\n{config_diff(before, text, key)}"),
            session=session,
        )
        if old_digest != digest:
            session.add(ConfigSnapshot(at=clock(), path=key, sha256=digest, text=text))
            await session.flush()
        return entry


async def _last_snapshot(session: AsyncSession, db: Database, key: str) -> ConfigSnapshot | None:
    """The newest snapshot of the file `key`, read under the snapshot lock on PostgreSQL (on SQLite the transaction's
    write lock already serialises instances)."""
    if db.dialect == "postgresql":
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SNAPSHOT_LOCK_KEY})
    statement = (
        select(ConfigSnapshot).where(ConfigSnapshot.path == key).order_by(col(ConfigSnapshot.id).desc()).limit(1)
    )
    return (await session.execute(statement)).scalars().first()


def _cut(text: str, limit: int = MAX_DIFF_CHARS + 5_000) -> str:
    return text if len(text) <= limit else text[:limit] + "\n… cut here; the config snapshots keep both versions"

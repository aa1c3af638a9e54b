"""SQLModel tables: users, the alarm journal, acknowledgements, shift notes and the hash-chained audit trail.

Every datetime column is timezone-aware UTC on the way in and on the way out, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from hmi.access.roles import Role
from hmi.alarms.states import AlarmEventKind as AlarmEventKind  # re-exported: AlarmEvent.kind's type

GENESIS_HASH = "0" * 64
"""`prev_hash` of the first audit row."""

SCHEME_SHA256 = "sha256"
"""Audit rows written before the HMAC key existed: a plain SHA-256 chain (anyone could recompute it)."""
SCHEME_HMAC = "hmac-sha256"
"""Audit rows whose `row_hash` is an HMAC-SHA256 under the key kept outside the database (hmi.records.audit_key)."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware, even from SQLite (which keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time is ambiguous (plant local? client?); refuse it rather than guess.
            raise ValueError(f"naive datetime {value.isoformat()} given; the store only accepts timezone-aware times")
        value = value.astimezone(UTC)
        # SQLite renders the offset into its text only sometimes; store plain UTC text so it sorts and compares.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EnumText(TypeDecorator[Any]):
    """A StrEnum stored as its plain text value (no database enum type, so adding a member needs no migration)."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 32) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def _utc(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, index=index, nullable=nullable)


class User(SQLModel, table=True):
    """A person who signs in. Never deleted, only disabled, so every record stays attributable."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(default="", max_length=200)
    role: Role = Field(sa_type=EnumText(Role, 16))
    # Kept out of repr so a logged or printed User never shows the hash.
    password_hash: str = Field(max_length=255, repr=False)
    disabled: bool = False
    created_at: datetime = _utc()
    # Lockout (21 CFR 11.300(d)). Server defaults so Database.start() can add them to an existing users table.
    failed_logins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    locked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # The person's own screen theme and language ("" = the station's, else the plant's); see hmi.access.appearance.
    theme: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": sa.text("''")})
    language: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": sa.text("''")})
    # Where the person's identity and password live: "local" (this table's hash) or "ldap" (the directory, which
    # checks the password at every sign-in; the hash here never verifies). `external_id` is the directory's
    # immutable id of the person (entryUUID, objectGUID): a rename in the directory keeps this row.
    source: str = Field(default="local", max_length=16, sa_column_kwargs={"server_default": sa.text("'local'")})
    external_id: str | None = Field(default=None, max_length=255, nullable=True)


class Station(SQLModel, table=True):
    """A registered touch panel or PC; every record made there carries its name. Disabled, never deleted."""

    __tablename__ = "stations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True, index=True)
    area: str = Field(default="", max_length=120)
    registered_at: datetime = _utc()
    registered_by: str = Field(max_length=64)
    disabled: bool = False
    # The panel's proof of being this station: SHA-256 of a random secret only that panel holds (a cookie set at
    # enrolment). None when no panel is enrolled, or after revoke/disable: then no browser can claim the name.
    secret_hash: str | None = Field(default=None, max_length=64, nullable=True)
    enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    enrolled_by: str | None = Field(default=None, max_length=64, nullable=True)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # What this panel shows before anyone chooses otherwise: a control room at night, a line in Germany.
    theme: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": sa.text("''")})
    language: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": sa.text("''")})
    # A view-only wall screen (docs/sign-in-and-stations.md, "Kiosk"): shows /kiosk without a sign-in, refuses
    # every other page and every sign-in. A server default, so Database.start() adds it to an existing table.
    kiosk: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class UserSession(SQLModel, table=True):
    """A signed-in browser session, kept server-side so it can be checked at every command and ended everywhere.

    Only a hash of the session id is stored: someone who can read the database cannot take over a session.
    """

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(index=True)
    station: str = Field(default="", max_length=120)
    created_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    expires_at: datetime = _utc()
    # The idle screen lock: while set, the session's commands are refused and its pages show only the lock.
    locked: bool = False
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True, index=True)
    ended_reason: str | None = Field(default=None, max_length=32)


class AlarmEvent(SQLModel, table=True):
    """One line of the alarm journal: activation, clearing, acknowledgement or escalation of an alarm."""

    __tablename__ = "alarm_events"
    __table_args__ = (
        sa.Index("ix_alarm_events_alarm_time", "alarm_id", "server_time"),
        sa.Index("ix_alarm_events_line_time", "line", "server_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alarm_id: str = Field(max_length=200)
    tag: str = Field(default="", max_length=200)
    area: str = Field(default="", max_length=120)
    line: str = Field(default="", max_length=120)
    priority: str = Field(default="", max_length=16)
    kind: AlarmEventKind = Field(sa_type=EnumText(AlarmEventKind, 32))
    state: str = Field(max_length=32, description="alarm state after the event")
    value: str | None = Field(default=None, sa_type=sa.Text)
    message: str = Field(default="", sa_type=sa.Text)
    source_time: datetime | None = _utc(nullable=True)
    server_time: datetime = _utc(index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    username: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_type=sa.Text)
    action_id: str | None = Field(default=None, max_length=64, index=True)


class Acknowledgement(SQLModel, table=True):
    """Who acknowledged which activation of an alarm, when (server time), from where, and why."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        # One activation is acknowledged once, even when two instances sharing PostgreSQL race for it.
        sa.UniqueConstraint("alarm_id", "activation_source_time", name="uq_acknowledgements_activation"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alarm_id: str = Field(max_length=200, index=True)
    activation_source_time: datetime = _utc()
    user_id: int = Field(foreign_key="users.id")
    username: str = Field(max_length=64)
    at: datetime = _utc(index=True)
    comment: str = Field(default="", sa_type=sa.Text)
    station: str = Field(default="", max_length=120)
    action_id: str = Field(max_length=64, index=True)


class NoteCategory(StrEnum):
    """What a shift note is about."""

    PRODUCTION = "production"
    QUALITY = "quality"
    SAFETY = "safety"
    MAINTENANCE = "maintenance"


class ShiftNote(SQLModel, table=True):
    """One version of a note written during a shift for the next one; never edited in place.

    An amendment or a (logical) deletion is a new row with the same `note_key`, the next `version`, the id it
    supersedes and a reason; the newest version of a key is the note as it stands.
    """

    __tablename__ = "shift_notes"
    __table_args__ = (
        sa.Index("ix_shift_notes_line_created", "line", "created_at"),
        # A version is superseded once: two people amending the same version at once cannot fork the note.
        sa.UniqueConstraint("supersedes_id", name="uq_shift_notes_supersedes"),
    )

    id: int | None = Field(default=None, primary_key=True)
    line: str = Field(max_length=120)
    shift_name: str = Field(max_length=64)
    shift_date: date
    author_id: int = Field(foreign_key="users.id")
    author_name: str = Field(max_length=64)
    created_at: datetime = _utc(index=True)
    text: str = Field(sa_type=sa.Text)
    station: str = Field(default="", max_length=120)
    action_id: str = Field(max_length=64, index=True)
    note_key: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32, index=True)
    version: int = 1
    supersedes_id: int | None = Field(default=None, foreign_key="shift_notes.id")
    category: NoteCategory = Field(default=NoteCategory.PRODUCTION, sa_type=EnumText(NoteCategory, 16))
    machine: str = Field(default="", max_length=120)
    alarm_id: str | None = Field(default=None, max_length=200, index=True)
    deleted: bool = False
    reason: str | None = Field(default=None, sa_type=sa.Text)


class Signature(SQLModel, table=True):
    """An electronic signature: who, when (server UTC), what it means (21 CFR 11.50), and the hash of what was
    signed, so it cannot be moved to other content (21 CFR 11.70)."""

    __tablename__ = "signatures"
    __table_args__ = (sa.Index("ix_signatures_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    username: str = Field(max_length=64)
    printed_name: str = Field(max_length=200)
    signed_at: datetime = _utc(index=True)
    meaning: str = Field(max_length=64)
    object_type: str = Field(max_length=64)
    object_id: str = Field(max_length=200)
    content_hash: str = Field(max_length=64)
    action_id: str = Field(max_length=64, index=True)


class HandoverState(StrEnum):
    """Where a shift handover report stands."""

    DRAFT = "draft"
    HANDED_OVER = "handed_over"
    ACCEPTED = "accepted"


class Handover(SQLModel, table=True):
    """A shift handover report: drafted by the system, completed and signed by the outgoing lead, reviewed and
    signed by the incoming lead. Frozen once handed over: the signatures are bound to its content."""

    __tablename__ = "handovers"
    __table_args__ = (sa.Index("ix_handovers_scope_shift", "scope", "shift_date", "shift_name"),)

    id: int | None = Field(default=None, primary_key=True)
    shift_name: str = Field(max_length=64)
    shift_date: date
    shift_start: datetime = _utc()
    shift_end: datetime = _utc()
    scope: str = Field(default="", max_length=120, description="area or line name; empty for the whole site")
    content: str = Field(sa_type=sa.Text, description="the drafted report as sorted JSON")
    open_items: str = Field(default="[]", sa_type=sa.Text, description="JSON list of open items handed on")
    state: HandoverState = Field(default=HandoverState.DRAFT, sa_type=EnumText(HandoverState, 16))
    created_at: datetime = _utc(index=True)
    created_by: str = Field(max_length=64)
    outgoing_signature_id: int | None = Field(default=None, foreign_key="signatures.id")
    incoming_signature_id: int | None = Field(default=None, foreign_key="signatures.id")
    action_id: str = Field(max_length=64, index=True)


class RecipeStatus(StrEnum):
    """Where a recipe version stands (ISA-88 master recipe life cycle, reduced to what an HMI needs)."""

    DRAFT = "draft"
    APPROVED = "approved"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"


class Recipe(SQLModel, table=True):
    """A named set of parameter values for one line or one machine of a line (ISA-88 recipe); its values live in
    versions. Never changed or deleted once saved: a new description is a new recipe."""

    __tablename__ = "recipes"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True, index=True)
    line: str = Field(max_length=120, index=True)
    machine: str = Field(default="", max_length=120, description="empty: the recipe targets the whole line")
    description: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = _utc()
    created_by: str = Field(max_length=64)
    action_id: str = Field(max_length=64, index=True)


class RecipeVersion(SQLModel, table=True):
    """One version of a recipe: its parameters ({tag: value}) are frozen when it is saved (the database refuses any
    change to them); only its status moves, draft -> approved or rejected, approved -> superseded."""

    __tablename__ = "recipe_versions"
    __table_args__ = (sa.UniqueConstraint("recipe_id", "version", name="uq_recipe_versions_recipe_version"),)

    id: int | None = Field(default=None, primary_key=True)
    recipe_id: int = Field(foreign_key="recipes.id", index=True)
    version: int
    parameters: str = Field(sa_type=sa.Text, description="{tag: value} as sorted JSON")
    content_hash: str = Field(max_length=64, description="SHA-256 of the version's content (recipe_content)")
    note: str = Field(default="", sa_type=sa.Text, description="what changed and why, by the author")
    author_id: int | None = Field(default=None, foreign_key="users.id")
    author: str = Field(max_length=64)
    created_at: datetime = _utc(index=True)
    action_id: str = Field(max_length=64, index=True)
    status: RecipeStatus = Field(default=RecipeStatus.DRAFT, sa_type=EnumText(RecipeStatus, 16))
    # The decision on the draft: who approved (or rejected) it, when (server clock), and the signature.
    approver: str | None = Field(default=None, max_length=64)
    approver_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = _utc(nullable=True)
    signature_id: int | None = Field(default=None, foreign_key="signatures.id")
    reject_reason: str | None = Field(default=None, sa_type=sa.Text)


class AuditEntry(SQLModel, table=True):
    """One append-only audit row; `row_hash` chains it to the row before so any later edit is detectable."""

    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_entries_object", "object_type", "object_id"),)

    # Assigned by AuditLog (previous id + 1) rather than the database, because the id is part of the hash.
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = _utc(index=True)
    # No foreign key: failed logins for unknown names and system actions have no user row.
    user_id: int | None = Field(default=None)
    username: str = Field(max_length=64, index=True)
    station: str = Field(default="", max_length=120)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(max_length=64)
    object_id: str = Field(max_length=200)
    old_value: str | None = Field(default=None, sa_type=sa.Text)
    new_value: str | None = Field(default=None, sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    detail: str | None = Field(default=None, sa_type=sa.Text)
    action_id: str | None = Field(default=None, max_length=64, index=True)
    prev_hash: str = Field(max_length=64)
    row_hash: str = Field(max_length=64, unique=True)
    # Which function made row_hash; rows of databases older than the key read as SHA-256 (the server default).
    scheme: str = Field(
        default=SCHEME_SHA256, max_length=16, sa_column_kwargs={"server_default": sa.text(f"'{SCHEME_SHA256}'")}
    )


class ConfigSnapshot(SQLModel, table=True):
    """The plant file as it was at a start-up, so the next start can audit what changed (hashes and the diff)."""

    __tablename__ = "config_snapshots"
    __table_args__ = (sa.Index("ix_config_snapshots_path_id", "path", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc()
    path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    text: str = Field(sa_type=sa.Text)


APPEND_ONLY_TABLES = ("audit_entries", "alarm_events", "acknowledgements", "signatures", "recipes")
"""Tables whose rows are records (21 CFR 11.10(e), ISA-18.2 §16 alarm history): the database refuses UPDATE and
DELETE (and TRUNCATE on PostgreSQL). The application only ever inserts into them."""

_AUDIT_MESSAGE = "audit_entries is append-only: audit rows are never changed or deleted"
# The audit table's function keeps its original text so databases of earlier versions do not see it as changed.
_PG_AUDIT_FUNCTION = "hmi_audit_append_only"
_PG_RECORDS_FUNCTION = "hmi_records_append_only"
_PG_RECIPE_FUNCTION = "hmi_recipe_versions_frozen"
# Recipe versions: never deleted; their content never changes; their status only moves forward.
_RECIPE_FROZEN = (
    "id",
    "recipe_id",
    "version",
    "parameters",
    "content_hash",
    "note",
    "author_id",
    "author",
    "created_at",
    "action_id",
)
_RECIPE_DECISION = ("approver", "approver_id", "approved_at", "signature_id", "reject_reason")
_RECIPE_MESSAGE = (
    "recipe_versions are frozen: a version is never deleted, its parameters never change, and its status only "
    "moves draft -> approved or rejected, approved -> superseded"
)


def _recipe_sqlite_triggers() -> list[tuple[str, str]]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _RECIPE_FROZEN)
    kept = " AND ".join(f"OLD.{c} IS NEW.{c}" for c in _RECIPE_DECISION)
    allowed = (
        "(OLD.status = 'draft' AND NEW.status IN ('approved', 'rejected')) OR "
        f"(OLD.status = 'approved' AND NEW.status = 'superseded' AND {kept})"
    )
    raise_ = f"BEGIN SELECT RAISE(ABORT, '{_RECIPE_MESSAGE}'); END"
    return [
        (
            "recipe_versions_frozen",
            f"CREATE TRIGGER recipe_versions_frozen BEFORE UPDATE ON recipe_versions "
            f"WHEN {changed} OR NOT ({allowed}) {raise_}",
        ),
        (
            "recipe_versions_no_delete",
            f"CREATE TRIGGER recipe_versions_no_delete BEFORE DELETE ON recipe_versions {raise_}",
        ),
    ]


def _recipe_pg_function() -> str:
    new = ", ".join(f"NEW.{c}" for c in _RECIPE_FROZEN)
    old = ", ".join(f"OLD.{c}" for c in _RECIPE_FROZEN)
    new_d = ", ".join(f"NEW.{c}" for c in _RECIPE_DECISION)
    old_d = ", ".join(f"OLD.{c}" for c in _RECIPE_DECISION)
    return (
        f"CREATE OR REPLACE FUNCTION {_PG_RECIPE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'UPDATE' AND "
        f"({new}) IS NOT DISTINCT FROM ({old}) AND ("
        "(OLD.status = 'draft' AND NEW.status IN ('approved', 'rejected')) OR "
        f"(OLD.status = 'approved' AND NEW.status = 'superseded' AND ({new_d}) IS NOT DISTINCT FROM ({old_d}))"
        f") THEN RETURN NEW; END IF; RAISE EXCEPTION '{_RECIPE_MESSAGE}'; END $$"
    )


def _sqlite_trigger(table: str, op: str) -> tuple[str, str]:
    message = (
        _AUDIT_MESSAGE
        if table == "audit_entries"
        else (f"{table} is append-only: recorded rows are never changed or deleted")
    )
    name = f"{table}_no_{op.lower()}"
    return name, f"CREATE TRIGGER {name} BEFORE {op} ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"


def append_only_guards(dialect: str) -> dict[str, str]:
    """Every guard (trigger, or PostgreSQL trigger function as `function NAME()`) by name, with its table."""
    guards: dict[str, str] = {}
    for table in APPEND_ONLY_TABLES:
        if dialect == "sqlite":
            guards.update({_sqlite_trigger(table, op)[0]: table for op in ("UPDATE", "DELETE")})
        elif dialect == "postgresql":
            guards.update({f"{table}_append_only": table, f"{table}_no_truncate": table})
    if dialect == "sqlite":
        guards.update({name: "recipe_versions" for name, _ in _recipe_sqlite_triggers()})
    elif dialect == "postgresql":
        guards.update({"recipe_versions_frozen": "recipe_versions", "recipe_versions_no_truncate": "recipe_versions"})
    if dialect == "postgresql":
        guards[f"function {_PG_AUDIT_FUNCTION}()"] = "audit_entries"
        guards[f"function {_PG_RECORDS_FUNCTION}()"] = APPEND_ONLY_TABLES[1]
        guards[f"function {_PG_RECIPE_FUNCTION}()"] = "recipe_versions"
    return guards


def append_only_ddl(dialect: str) -> list[str]:
    """Statements that (re)install the guards exactly as they should be: missing, changed or disabled ones alike."""
    statements: list[str] = []
    if dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for op in ("UPDATE", "DELETE"):
                name, create = _sqlite_trigger(table, op)
                # Dropped and created every start: a same-named trigger that does nothing must not survive.
                statements += [f"DROP TRIGGER IF EXISTS {name}", create]
        for name, create in _recipe_sqlite_triggers():
            statements += [f"DROP TRIGGER IF EXISTS {name}", create]
        return statements
    if dialect != "postgresql":
        return statements
    statements += [
        f"CREATE OR REPLACE FUNCTION {_PG_AUDIT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{_AUDIT_MESSAGE}'; END $$",
        f"CREATE OR REPLACE FUNCTION {_PG_RECORDS_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '% is append-only: recorded rows are never changed or deleted', TG_TABLE_NAME; "
        "END $$",
    ]
    for table in APPEND_ONLY_TABLES:
        function = _PG_AUDIT_FUNCTION if table == "audit_entries" else _PG_RECORDS_FUNCTION
        statements += [
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            # CREATE OR REPLACE keeps a trigger's disabled state; ALTER TABLE ... DISABLE TRIGGER is one command.
            f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only",
            f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_truncate",
        ]
    statements += [
        _recipe_pg_function(),
        "CREATE OR REPLACE TRIGGER recipe_versions_frozen BEFORE UPDATE OR DELETE ON recipe_versions "
        f"FOR EACH ROW EXECUTE FUNCTION {_PG_RECIPE_FUNCTION}()",
        "CREATE OR REPLACE TRIGGER recipe_versions_no_truncate BEFORE TRUNCATE ON recipe_versions "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_RECORDS_FUNCTION}()",
        "ALTER TABLE recipe_versions ENABLE TRIGGER recipe_versions_frozen",
        "ALTER TABLE recipe_versions ENABLE TRIGGER recipe_versions_no_truncate",
    ]
    return statements


def append_only_definitions_sql(dialect: str) -> str:
    """A query of (name, definition) for the installed guards, to tell intact from missing or changed ones."""
    if dialect == "sqlite":
        return "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
    return (
        "SELECT t.tgname, pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = current_schema() "
        "UNION ALL SELECT 'function ' || p.proname || '()', p.prosrc FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() "
        f"AND p.proname IN ('{_PG_AUDIT_FUNCTION}', '{_PG_RECORDS_FUNCTION}', '{_PG_RECIPE_FUNCTION}')"
    )


# ------------------------------------------------------------------------------------------------------ historian


class Sample(SQLModel, table=True):
    """One recorded value of a tag at its source time (historian); the key makes replays idempotent.

    Time is integer microseconds since the Unix epoch (UTC): compact, the same on SQLite and PostgreSQL, and
    bucketable with integer arithmetic in SQL for downsampling.
    """

    __tablename__ = "samples"
    # On SQLite the primary key is the table (no rowid): range scans per tag read one B-tree, in time order.
    # On PostgreSQL a table per day (hmi.historian.partitions), so retention drops whole days.
    __table_args__ = {"sqlite_with_rowid": False, "postgresql_partition_by": "RANGE (t_us)"}

    tag: str = Field(primary_key=True, max_length=200)
    t_us: int = Field(sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    value: float | None = Field(default=None, description="numbers and booleans (0/1); None for text or no value")
    text: str | None = Field(default=None, max_length=200, description="string values (e.g. PackML state names)")
    quality: str = Field(max_length=10, description="good | uncertain | bad | stale")
    status: int = Field(default=0, sa_type=sa.BigInteger, description="OPC UA status code")


class SampleRollup(SQLModel, table=True):
    """Per tag and minute: count, extremes with their times, and bad/stale count; kept by the historian writer.

    Long ranges are downsampled from these (a week of 1-s samples is 10,080 rollups per tag instead of 604,800).
    """

    __tablename__ = "sample_rollups"
    __table_args__ = {"sqlite_with_rowid": False, "postgresql_partition_by": "RANGE (bucket_us)"}

    tag: str = Field(primary_key=True, max_length=200)
    bucket_us: int = Field(sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    n: int = Field(default=0, description="good numeric samples in the minute")
    n_bad: int = Field(default=0, description="bad, uncertain-without-value or stale samples in the minute")
    vmin: float | None = None
    vmax: float | None = None
    t_min_us: int | None = Field(default=None, sa_type=sa.BigInteger)
    t_max_us: int | None = Field(default=None, sa_type=sa.BigInteger)


PARTITIONED = {"samples": "t_us", "sample_rollups": "bucket_us"}
"""The history tables partitioned by day on PostgreSQL, and their time columns (microseconds since the epoch)."""


def partition_ddl(dialect: str) -> list[str]:
    """The DEFAULT partitions of the history tables, made with the schema on PostgreSQL: a row outside the day
    tables lands there. Only where the table is partitioned, so a database made before partitioning stays as it is."""
    if dialect != "postgresql":
        return []
    return [
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        f"WHERE c.relname = '{table}' AND pg_table_is_visible(c.oid)) THEN "
        f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT; END IF; END $$"
        for table in PARTITIONED
    ]


class TrendView(SQLModel, table=True):
    """A trend someone saved: pens and time range, private to its owner."""

    __tablename__ = "trend_views"
    __table_args__ = (sa.UniqueConstraint("owner", "name", name="uq_trend_views_owner_name"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64, index=True)
    name: str = Field(max_length=80)
    pens: str = Field(sa_type=sa.Text, description="JSON list of tag names")
    range_key: str = Field(default="10m", max_length=16, description="10m | shift | 24h | 7d | custom")
    start: datetime | None = _utc(nullable=True)
    end: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class DowntimeAssignment(SQLModel, table=True):
    """A reason given to a line stop (identified by line and stop start); a newer row for the same stop wins."""

    __tablename__ = "downtime_assignments"
    __table_args__ = (sa.Index("ix_downtime_assignments_line_stop", "line", "stop_start_us"),)

    id: int | None = Field(default=None, primary_key=True)
    line: str = Field(max_length=120)
    stop_start_us: int = Field(sa_type=sa.BigInteger, description="source time the stop began, µs since epoch")
    reason: str = Field(max_length=64, description="code from the plant's downtime_reasons")
    comment: str = Field(default="", sa_type=sa.Text)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    username: str = Field(max_length=64)
    station: str = Field(default="", max_length=120)
    at: datetime = _utc(index=True)
    action_id: str = Field(max_length=64, index=True)


# ------------------------------------------------------------------------------------------- redundant pair


class ClusterCommand(SQLModel, table=True):
    """An alarm command or a write given on a standby, for the active instance to run once (hmi/cluster/commands.py).

    The standby checked the person's permission and password; the row names the person, never a password. The active
    instance claims a row once (`claimed_at`), runs it through the same services as a local command, and writes the
    result back; a row not claimed by `expires_at` (database time) is never run.
    """

    __tablename__ = "cluster_commands"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32, unique=True)
    kind: str = Field(max_length=40, description="e.g. alarm.acknowledge, control.write")
    args: str = Field(sa_type=sa.Text, description="the command's arguments as JSON")
    user_id: int
    username: str = Field(max_length=64)
    full_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)
    station: str = Field(default="", max_length=120)
    action_id: str = Field(max_length=64)
    signer: str | None = Field(default=None, sa_type=sa.Text, description="the checked signer as JSON, or null")
    origin: str = Field(max_length=200, description="the instance the person gave the command on")
    session_key: str | None = Field(
        default=None, max_length=64, description="the stored key of the browser session it was given in, if any"
    )
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = _utc(nullable=True)
    done_at: datetime | None = _utc(nullable=True)
    outcome: str | None = Field(default=None, max_length=16, description="ok | error | expired | interrupted")
    reply: str | None = Field(default=None, sa_type=sa.Text, description="the result as JSON")
    mac: str | None = Field(default=None, max_length=64, description="HMAC-SHA256 under the audit key, when keyed")


# ----------------------------------------------------------------------------------------------------- quarantine


class QuarantinedRow(SQLModel, table=True):
    """A row the database refused for a reason other than being unavailable (a too-long name, a violated
    constraint), set aside with the error so an engineer can see and repair it while the writers go on."""

    __tablename__ = "quarantined_rows"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    source: str = Field(max_length=64, description="the table the row was meant for, e.g. alarm_events")
    error: str = Field(sa_type=sa.Text)
    row: str = Field(sa_type=sa.Text, description="the refused row as JSON")


# -------------------------------------------------------------------------------------------- alarm notifications


class NotificationStatus(StrEnum):
    """Where a notification's delivery stands (hmi/notify/)."""

    PENDING = "pending"  # waiting for its first attempt or for a retry after a failure
    SENT = "sent"  # the mail server took the e-mail, or the webhook answered 2xx
    DEAD = "dead"  # every attempt failed: a dead letter, shown to engineers for a retry
    UNDELIVERABLE = "undeliverable"  # no address to try (no on-call group for the shift running)


class NotificationDelivery(SQLModel, table=True):
    """One notification to one recipient about one alarm, with its delivery result (the notification journal)."""

    __tablename__ = "notification_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32, unique=True, index=True)
    created_at: datetime = _utc(index=True)
    alarm_id: str = Field(max_length=200, index=True)
    activation: int = 0
    priority: int
    rule: str = Field(max_length=120)
    step: int = Field(description="0: the rule's first notification; 1, 2...: its escalations")
    channel: str = Field(max_length=16, description="email or webhook")
    recipient: str = Field(max_length=120, description="the person or webhook notified")
    via: str = Field(default="", max_length=120, description="the group (or on-call group) the person was told as")
    address: str = Field(max_length=500, description="the e-mail address, or the webhook URL without its query")
    subject: str = Field(max_length=300)
    body: str = Field(sa_type=sa.Text, description="the e-mail text, or the signed JSON body of the webhook")
    status: NotificationStatus = Field(sa_type=EnumText(NotificationStatus), index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    next_attempt_at: datetime | None = _utc(nullable=True)
    delivered_at: datetime | None = _utc(nullable=True)
    updated_at: datetime = _utc()


class NotificationEscalation(SQLModel, table=True):
    """An escalation under way: the alarm and rule it is for, when its steps count from and the next step. Kept so a
    restart continues it where it was instead of telling the first group again (the row goes when it ends)."""

    __tablename__ = "notification_escalations"
    __table_args__ = (sa.UniqueConstraint("alarm_id", "rule"),)

    id: int | None = Field(default=None, primary_key=True)
    alarm_id: str = Field(max_length=200)
    rule: str = Field(max_length=120)
    since: datetime = _utc()  # when the alarm began waiting: the rule's steps count from here
    next_step: int = Field(description="0: nothing sent yet; 1: the first notification went out; ...")
    updated_at: datetime = _utc()


class NotificationAttempt(SQLModel, table=True):
    """One try to deliver a notification and what came of it."""

    __tablename__ = "notification_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_uid: str = Field(max_length=32, index=True)
    at: datetime = _utc(index=True)
    attempt: int
    ok: bool
    error: str | None = Field(default=None, sa_type=sa.Text)

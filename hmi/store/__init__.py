"""Persistence: SQLModel tables, the async engine and session factory, and the DatabaseUnavailable error."""

# Imported here so its table is in the metadata whenever the store is used (Database.start creates it).
from hmi.store.api_tokens import ApiToken
from hmi.store.database import Database, DatabaseUnavailable, normalise_db_url, resolve_db_url
from hmi.store.models import Acknowledgement, AlarmEvent, AlarmEventKind, AuditEntry, ShiftNote, User

__all__ = [
    "Acknowledgement",
    "AlarmEvent",
    "AlarmEventKind",
    "ApiToken",
    "AuditEntry",
    "Database",
    "DatabaseUnavailable",
    "ShiftNote",
    "User",
    "normalise_db_url",
    "resolve_db_url",
]

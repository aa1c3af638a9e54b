"""The API token table: a named bearer secret bound to a user account, stored only as a hash."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from hmi.store.models import UTCDateTime


class ApiToken(SQLModel, table=True):
    """A token an MES or ERP system calls the REST API with, acting as the user it is bound to.

    Only SHA-256 of the secret is kept: the secret is 256 random bits, so a stretched hash (argon2) would add
    nothing but a slower lookup, and someone who reads the database cannot call the API. Never deleted, only
    revoked, so the audit rows made "via API <name>" stay attributable.
    """

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    secret_hash: str = Field(max_length=64, unique=True, index=True, repr=False)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    revoked_by: str | None = Field(default=None, max_length=64, nullable=True)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)

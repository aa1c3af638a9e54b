"""Stations: the touch panels and PCs people work at, enrolled once so every record says where it was made.

A panel becomes a station only when an administrator, signed in on that panel, enrols it: the panel gets a random
secret (kept in a long-lived cookie there) and the stations table keeps only its SHA-256. A browser without a
valid secret is its network address (`web:<address>`), whatever it claims; revoking or disabling the station makes
its secret worthless. 21 CFR 11.10(d) (limit access to authorised persons) and 11.10(e) (the audit trail names
where an action was taken) depend on this binding not being a choice any browser can make.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import Station
from hmi.texts import Text

MAX_STATION_LENGTH = 120
# A token_urlsafe(32) secret is 43 characters; anything much longer is not one of ours.
MAX_SECRET_LENGTH = 200
# "Last seen" is for the administrator's list, not a record: written at most this often per station.
LAST_SEEN_EVERY = timedelta(minutes=1)
_NAME = re.compile(r"^\w[\w.:@-]*$")


class StationExists(ValueError):
    """A station with this name is already registered (names are never reused: stations are only disabled)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            Text("station {name!r} is already registered; choose another name or enable that one", name=name)
        )


class UnknownStation(LookupError):
    """No station has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(Text("there is no station {name!r}", name=name))

    def __str__(self) -> str:
        return str(self.args[0])


def secret_digest(secret: str) -> str:
    """SHA-256 of a panel secret: 256 random bits need no slow hash, and the table never holds the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_station_name(name: str) -> str:
    """The normalised station name (trimmed, lower case), or ValueError saying what is wrong with it."""
    clean = name.strip().lower()
    if not clean:
        raise ValueError(Text("a station name cannot be empty"))
    if len(clean) > MAX_STATION_LENGTH:
        raise ValueError(Text("a station name can be at most {most} characters", most=MAX_STATION_LENGTH))
    if not _NAME.match(clean):
        raise ValueError(
            Text("station name {name!r} may only hold letters, digits and . _ : @ - (no spaces)", name=clean)
        )
    if clean == "web" or clean.startswith("web:"):
        # Panels that are not enrolled are recorded as web:<address>; a station must not pass for one.
        raise ValueError(
            Text("station name {name!r} is reserved for panels that are not enrolled; choose another", name=clean)
        )
    return clean


class StationService:
    """Registers, enrols, revokes, lists and disables stations; needs MANAGE_STATIONS for changes, audits each."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def register(self, actor: ActionContext, name: str, area: str = "") -> Station:
        """Register a station; StationExists when the name is taken, ValueError for a bad name."""
        clean = check_station_name(name)
        await self._audit.require(
            actor, Permission.MANAGE_STATIONS, action="station.register", object_type="station", object_id=clean
        )
        if await self.get(clean) is not None:
            raise StationExists(clean)
        station = Station(
            name=clean,
            area=area.strip()[:MAX_STATION_LENGTH],
            registered_at=self._clock(),
            registered_by=actor.username,
            disabled=False,
        )
        try:
            async with self._audit.transaction() as session:
                session.add(station)
                await session.flush()
                await self._audit.record(
                    actor,
                    "station.register",
                    "station",
                    clean,
                    session=session,
                    new_value={"name": clean, "area": station.area, "disabled": False},
                )
        except IntegrityError as exc:
            # Two administrators raced past the check above; the unique index decided.
            raise StationExists(clean) from exc
        return station

    async def enrol(self, actor: ActionContext, name: str, area: str = "", *, address: str = "") -> tuple[Station, str]:
        """Enrol the panel `actor` is at (from `address`) as station `name`, registering it if new.

        Returns the station and the panel's secret (to be kept by that panel only); a panel enrolled earlier
        under this name loses the station. Needs MANAGE_STATIONS; audited as `station.enrol`.
        """
        clean = check_station_name(name)
        await self._audit.require(
            actor, Permission.MANAGE_STATIONS, action="station.enrol", object_type="station", object_id=clean
        )
        secret = secrets.token_urlsafe(32)
        digest = secret_digest(secret)
        now = self._clock()
        try:
            async with self._audit.transaction() as session:
                station = (await session.execute(select(Station).where(Station.name == clean))).scalar_one_or_none()
                if station is None:
                    station = Station(
                        name=clean,
                        area=area.strip()[:MAX_STATION_LENGTH],
                        registered_at=now,
                        registered_by=actor.username,
                        disabled=False,
                    )
                    session.add(station)
                elif station.disabled:
                    raise ValueError(
                        Text("station {name!r} is disabled; enable it first, then enrol this panel", name=clean)
                    )
                elif area.strip():
                    station.area = area.strip()[:MAX_STATION_LENGTH]
                replaced = station.secret_hash is not None
                station.secret_hash = digest
                station.enrolled_at = now
                station.enrolled_by = actor.username
                station.last_seen_at = now
                await session.flush()
                detail = f"panel at {address or 'an unknown address'} enrolled"
                if replaced:
                    detail += "; the panel enrolled before under this name no longer is this station"
                await self._audit.record(
                    actor,
                    "station.enrol",
                    "station",
                    clean,
                    session=session,
                    detail=detail,
                    # A prefix of the digest only: enough to see that the secret changed, never the secret.
                    new_value={
                        "name": clean,
                        "area": station.area,
                        "enrolled_by": actor.username,
                        "secret_sha256_8": digest[:8],
                    },
                )
        except IntegrityError as exc:
            # Two administrators created the same new station at once; the unique index decided.
            raise StationExists(clean) from exc
        return station, secret

    async def identify(self, secret: str | None) -> Station | None:
        """The enrolled, enabled station whose secret this is, or None: what a panel's records are stamped with."""
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return None
        digest = secret_digest(secret)
        async with self._db.session() as session:
            statement = select(Station).where(Station.secret_hash == digest, col(Station.disabled).is_(False))
            station = (await session.execute(statement)).scalar_one_or_none()
        if station is None:
            return None
        now = self._clock()
        if station.last_seen_at is None or now - station.last_seen_at >= LAST_SEEN_EVERY:
            async with self._db.session(write=True) as session:
                stored = await session.get(Station, station.id)
                if stored is not None and stored.secret_hash == digest:
                    stored.last_seen_at = now
                    await session.commit()
            station.last_seen_at = now
        return station

    async def revoke(self, actor: ActionContext, name: str, *, reason: str | None = None) -> Station:
        """Make the enrolled panel's secret worthless (it is `web:<address>` again); needs MANAGE_STATIONS."""
        clean = name.strip().lower()
        await self._audit.require(
            actor, Permission.MANAGE_STATIONS, action="station.revoke", object_type="station", object_id=clean
        )
        async with self._audit.transaction() as session:
            station = await _station_in(session, clean)
            if station.secret_hash is None:
                raise ValueError(Text("station {name!r} has no enrolled panel; nothing to revoke", name=clean))
            await self._audit.record(
                actor,
                "station.revoke",
                "station",
                clean,
                reason=reason,
                session=session,
                old_value={
                    "enrolled": True,
                    "enrolled_by": station.enrolled_by,
                    "secret_sha256_8": station.secret_hash[:8],
                },
                new_value={"enrolled": False},
            )
            station.secret_hash = None
        return station

    async def set_disabled(
        self, actor: ActionContext, name: str, disabled: bool = True, *, reason: str | None = None
    ) -> Station:
        """Disable (or re-enable) a station; disabling also revokes its panel secret (enabling does not restore it)."""
        clean = name.strip().lower()
        action = "station.disable" if disabled else "station.enable"
        await self._audit.require(
            actor, Permission.MANAGE_STATIONS, action=action, object_type="station", object_id=clean
        )
        async with self._audit.transaction() as session:
            station = await _station_in(session, clean)
            if station.disabled != disabled:
                old: dict[str, object] = {"disabled": station.disabled}
                new: dict[str, object] = {"disabled": disabled}
                if disabled and station.secret_hash is not None:
                    old["enrolled"], new["enrolled"] = True, False
                    station.secret_hash = None
                await self._audit.record(
                    actor, action, "station", clean, old_value=old, new_value=new, reason=reason, session=session
                )
                station.disabled = disabled
        return station

    async def set_kiosk(
        self, actor: ActionContext, name: str, kiosk: bool = True, *, reason: str | None = None
    ) -> Station:
        """Make a station a view-only kiosk (wall screen), or a normal station again; needs MANAGE_STATIONS.

        Audited as `station.kiosk` with the old and new setting. A kiosk shows /kiosk without a sign-in and refuses
        every other page, sign-in and command (screens.kiosk); sessions started there earlier act no more.
        """
        clean = name.strip().lower()
        await self._audit.require(
            actor, Permission.MANAGE_STATIONS, action="station.kiosk", object_type="station", object_id=clean
        )
        async with self._audit.transaction() as session:
            station = await _station_in(session, clean)
            if station.kiosk != kiosk:
                await self._audit.record(
                    actor,
                    "station.kiosk",
                    "station",
                    clean,
                    old_value={"kiosk": station.kiosk},
                    new_value={"kiosk": kiosk},
                    reason=reason,
                    session=session,
                )
                station.kiosk = kiosk
        return station

    async def is_kiosk(self, name: str) -> bool:
        """True when `name` is a registered, enabled kiosk station (a browser's `web:` address never is)."""
        if not name.strip():
            return False
        station = await self.active(name)
        return station is not None and station.kiosk

    async def list(self, *, include_disabled: bool = True) -> list[Station]:
        """Stations by name."""
        statement = select(Station).order_by(col(Station.name))
        if not include_disabled:
            statement = statement.where(col(Station.disabled).is_(False))
        async with self._db.session() as session:
            return list((await session.execute(statement)).scalars())

    async def get(self, name: str) -> Station | None:
        """The station with this name, or None."""
        async with self._db.session() as session:
            statement = select(Station).where(Station.name == name.strip().lower())
            return (await session.execute(statement)).scalar_one_or_none()

    async def active(self, name: str) -> Station | None:
        """The station if it is registered and not disabled (a panel still needs its secret to be it)."""
        station = await self.get(name) if name.strip() else None
        return station if station is not None and not station.disabled else None


async def _station_in(session: AsyncSession, name: str) -> Station:
    """The station named `name` (normalised) as read in `session`; UnknownStation when there is none."""
    station = (await session.execute(select(Station).where(Station.name == name))).scalar_one_or_none()
    if station is None:
        raise UnknownStation(name)
    return station

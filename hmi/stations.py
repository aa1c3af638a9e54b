"""Stations: the touch panels and PCs people work at, registered once so every record says where it was made."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hmi.audit import AuditLog
from hmi.clock import Clock, utc_now
from hmi.context import ActionContext
from hmi.roles import Permission
from hmi.store.database import Database
from hmi.store.models import Station

MAX_STATION_LENGTH = 120
_NAME = re.compile(r"^\w[\w.:@-]*$")


class StationExists(ValueError):
    """A station with this name is already registered (names are never reused: stations are only disabled)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"station {name!r} is already registered; choose another name or enable that one")


class UnknownStation(LookupError):
    """No station has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no station {name!r}")

    def __str__(self) -> str:
        return str(self.args[0])


def check_station_name(name: str) -> str:
    """The normalised station name (trimmed, lower case), or ValueError saying what is wrong with it."""
    clean = name.strip().lower()
    if not clean:
        raise ValueError("a station name cannot be empty")
    if len(clean) > MAX_STATION_LENGTH:
        raise ValueError(f"a station name can be at most {MAX_STATION_LENGTH} characters")
    if not _NAME.match(clean):
        raise ValueError(f"station name {clean!r} may only hold letters, digits and . _ : @ - (no spaces)")
    return clean


class StationService:
    """Registers, lists and disables stations; needs MANAGE_STATIONS for changes and audits each one."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def register(self, actor: ActionContext, name: str, area: str = "") -> Station:
        """Register a station; StationExists when the name is taken, ValueError for a bad name."""
        clean = check_station_name(name)
        await self._audit.require(actor, Permission.MANAGE_STATIONS, action="station.register",
                                  object_type="station", object_id=clean)
        if await self.get(clean) is not None:
            raise StationExists(clean)
        station = Station(name=clean, area=area.strip()[:MAX_STATION_LENGTH], registered_at=self._clock(),
                          registered_by=actor.username, disabled=False)
        try:
            async with self._audit.transaction() as session:
                session.add(station)
                await session.flush()
                await self._audit.record(actor, "station.register", "station", clean, session=session,
                                         new_value={"name": clean, "area": station.area, "disabled": False})
        except IntegrityError as exc:
            # Two administrators raced past the check above; the unique index decided.
            raise StationExists(clean) from exc
        return station

    async def set_disabled(
        self, actor: ActionContext, name: str, disabled: bool = True, *, reason: str | None = None
    ) -> Station:
        """Disable (or re-enable) a station; a disabled station cannot be chosen by a panel."""
        clean = name.strip().lower()
        action = "station.disable" if disabled else "station.enable"
        await self._audit.require(actor, Permission.MANAGE_STATIONS, action=action, object_type="station",
                                  object_id=clean)
        async with self._audit.transaction() as session:
            station = (await session.execute(select(Station).where(Station.name == clean))).scalar_one_or_none()
            if station is None:
                raise UnknownStation(clean)
            if station.disabled != disabled:
                await self._audit.record(actor, action, "station", clean, old_value={"disabled": station.disabled},
                                         new_value={"disabled": disabled}, reason=reason, session=session)
                station.disabled = disabled
        return station

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
        """The station if it is registered and not disabled: what a panel may claim to be."""
        station = await self.get(name) if name.strip() else None
        return station if station is not None and not station.disabled else None

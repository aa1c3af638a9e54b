"""Appearance: the screen theme (grey day, dark control-room night) and language, per person and per station.

A person's own choice wins, then the station's (a control room at night, a panel in a German plant), then the
plant's `site.theme` / `site.language`. Both themes follow ISA-101 (colour only for abnormal and alarm states), so
the choice is comfort, not meaning. A station's choice is station configuration: only MANAGE_STATIONS may change
it, and every change of either kind is in the audit trail (21 CFR 11.10(e): who changed what, when).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.access.stations import UnknownStation
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import Station, User
from hmi.texts import Text

THEMES = ("day", "night")
LANGUAGES = ("en", "de")
# "" in a person's or station's column: no choice of its own, the next level decides.
INHERIT = ""


@dataclass(frozen=True, slots=True)
class Appearance:
    """What a page shows: its theme and language, and where each came from (person, station or plant)."""

    theme: str
    language: str
    theme_from: str = "plant"
    language_from: str = "plant"


def check_choice(kind: str, value: str) -> str:
    """`value` as stored (trimmed, lower case), or ValueError naming the choices."""
    clean = value.strip().lower()
    choices = THEMES if kind == "theme" else LANGUAGES
    if clean != INHERIT and clean not in choices:
        shown = ", ".join(choices)
        if kind == "theme":
            raise ValueError(
                Text(
                    "unknown theme {value!r}; choose one of {shown}, or nothing to use the station's or plant's",
                    value=value,
                    shown=shown,
                )
            )
        raise ValueError(
            Text(
                "unknown language {value!r}; choose one of {shown}, or nothing to use the station's or plant's",
                value=value,
                shown=shown,
            )
        )
    return clean


def resolve(
    plant_theme: str,
    plant_language: str,
    station: tuple[str, str] = (INHERIT, INHERIT),
    person: tuple[str, str] = (INHERIT, INHERIT),
) -> Appearance:
    """The appearance from the person's (theme, language), else the station's, else the plant's."""
    theme, theme_from = plant_theme, "plant"
    language, language_from = plant_language, "plant"
    for source, (their_theme, their_language) in (("station", station), ("person", person)):
        if their_theme in THEMES:
            theme, theme_from = their_theme, source
        if their_language in LANGUAGES:
            language, language_from = their_language, source
    return Appearance(theme, language, theme_from, language_from)


class AppearanceService:
    """Reads and changes the theme and language choices of people and stations; every change is audited."""

    def __init__(self, db: Database, audit: AuditLog, plant_defaults: Callable[[], tuple[str, str]]) -> None:
        self._db = db
        self._audit = audit
        # A callable, not values: the plant file can change while the HMI runs (hmi reload).
        self._plant_defaults = plant_defaults

    async def for_page(self, user_id: int | None, station: str) -> Appearance:
        """The appearance of a page for person `user_id` (None: nobody signed in) at `station`."""
        async with self._db.session() as session:
            user = await session.get(User, user_id) if user_id is not None else None
            found = (await session.execute(select(Station).where(Station.name == station))).scalar_one_or_none()
        return resolve(
            *self._plant_defaults(),
            (found.theme, found.language) if found is not None and not found.disabled else (INHERIT, INHERIT),
            (user.theme, user.language) if user is not None else (INHERIT, INHERIT),
        )

    async def choices(self, user_id: int, station: str) -> tuple[tuple[str, str], tuple[str, str] | None]:
        """The person's own (theme, language) and the station's (None when `station` is not registered)."""
        async with self._db.session() as session:
            user = await session.get(User, user_id)
            found = (await session.execute(select(Station).where(Station.name == station))).scalar_one_or_none()
        mine = (user.theme, user.language) if user is not None else (INHERIT, INHERIT)
        return mine, ((found.theme, found.language) if found is not None else None)

    async def set_person(self, actor: ActionContext, *, theme: str, language: str) -> bool:
        """Set the signed-in person's own theme and language ("" for either: use the station's or plant's); False
        when nothing changed."""
        theme, language = check_choice("theme", theme), check_choice("language", language)
        await self._audit.require(
            actor, Permission.VIEW, action="appearance.person", object_type="user", object_id=actor.username
        )
        async with self._audit.transaction() as session:
            user = await session.get(User, actor.user_id)
            if user is None:
                raise LookupError(Text("there is no user {username!r}", username=actor.username))
            old = {"theme": user.theme, "language": user.language}
            new = {"theme": theme, "language": language}
            if old == new:
                return False
            user.theme, user.language = theme, language
            await session.flush()
            await self._audit.record(
                actor, "appearance.person", "user", actor.username, old_value=old, new_value=new, session=session
            )
        return True

    async def set_station(self, actor: ActionContext, name: str, *, theme: str, language: str) -> bool:
        """Set station `name`'s theme and language; needs MANAGE_STATIONS (audited, a refusal too); False when
        nothing changed."""
        clean = name.strip().lower()
        theme, language = check_choice("theme", theme), check_choice("language", language)
        await self._audit.require(
            actor, Permission.MANAGE_STATIONS, action="appearance.station", object_type="station", object_id=clean
        )
        async with self._audit.transaction() as session:
            station = (await session.execute(select(Station).where(Station.name == clean))).scalar_one_or_none()
            if station is None:
                raise UnknownStation(clean)
            old = {"theme": station.theme, "language": station.language}
            new = {"theme": theme, "language": language}
            if old == new:
                return False
            station.theme, station.language = theme, language
            await session.flush()
            await self._audit.record(
                actor, "appearance.station", "station", clean, old_value=old, new_value=new, session=session
            )
        return True

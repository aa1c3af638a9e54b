"""Saved trend views: a person's own pens and time range, kept by name so they can be opened again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import TrendView
from hmi.texts import Text

MAX_PENS = 8
MAX_VIEW_NAME = 80
RANGE_KEYS = ("10m", "shift", "24h", "7d", "custom")


@dataclass(frozen=True, slots=True)
class SavedView:
    """A saved trend as the screens use it."""

    id: int
    name: str
    pens: tuple[str, ...]
    range_key: str
    start: datetime | None
    end: datetime | None


def _view(row: TrendView) -> SavedView:
    assert row.id is not None
    return SavedView(row.id, row.name, tuple(json.loads(row.pens)), row.range_key, row.start, row.end)


class TrendViews:
    """Each person's saved trends; nobody sees or changes another person's views."""

    def __init__(self, plant: PlantConfig, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._plant = plant
        self._db = db
        self._audit = audit
        self._clock = clock

    def use_plant(self, plant: PlantConfig) -> None:
        """Take over a reloaded plant (hmi/plant_reload.py)."""
        self._plant = plant

    async def save(
        self,
        ctx: ActionContext,
        name: str,
        pens: Sequence[str],
        range_key: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> SavedView:
        """Save (or replace, by name) a view of `pens`; ValueError names what is wrong with the input."""
        await self._audit.require(
            ctx, Permission.VIEW, action="trend_view.save", object_type="trend_view", object_id=name
        )
        name = " ".join(name.split())
        if not name:
            raise ValueError(Text("give the view a name"))
        if len(name) > MAX_VIEW_NAME:
            raise ValueError(Text("a view name has at most {most} characters; shorten it", most=MAX_VIEW_NAME))
        unknown = [p for p in pens if p not in self._plant.tags]
        if unknown:
            raise ValueError(Text("unknown tag(s): {tags}; pick pens from the tag tree", tags=", ".join(unknown)))
        if not pens:
            raise ValueError(Text("choose at least one pen before saving"))
        if len(pens) > MAX_PENS:
            raise ValueError(
                Text("a trend has at most {most} pens; remove {extra}", most=MAX_PENS, extra=len(pens) - MAX_PENS)
            )
        if range_key not in RANGE_KEYS:
            raise ValueError(
                Text("unknown time range {key!r}; use one of {keys}", key=range_key, keys=", ".join(RANGE_KEYS))
            )
        if range_key == "custom" and (start is None or end is None or end <= start):
            raise ValueError(Text("a custom range needs a start before its end"))
        if range_key != "custom":
            start = end = None
        async with self._audit.transaction() as session:
            row = (
                await session.execute(select(TrendView).where(TrendView.owner == ctx.username, TrendView.name == name))
            ).scalar_one_or_none()
            old = None if row is None else {"pens": json.loads(row.pens), "range": row.range_key}
            if row is None:
                row = TrendView(owner=ctx.username, name=name, pens="[]", created_at=self._clock())
            row.pens = json.dumps(list(pens))
            row.range_key = range_key
            row.start, row.end = start, end
            session.add(row)
            await session.flush()
            await self._audit.record(
                ctx,
                "trend_view.save",
                "trend_view",
                f"{ctx.username}/{name}",
                session=session,
                old_value=old,
                new_value={"pens": list(pens), "range": range_key},
            )
            return _view(row)

    async def list(self, ctx: ActionContext) -> list[SavedView]:
        """The person's own views, by name."""
        statement = select(TrendView).where(TrendView.owner == ctx.username).order_by(col(TrendView.name))
        async with self._db.session() as session:
            return [_view(row) for row in (await session.execute(statement)).scalars()]

    async def get(self, ctx: ActionContext, view_id: int) -> SavedView | None:
        """One of the person's own views; None for another person's or a missing view."""
        async with self._db.session() as session:
            row = await session.get(TrendView, view_id)
        return None if row is None or row.owner != ctx.username else _view(row)

    async def delete(self, ctx: ActionContext, view_id: int) -> None:
        """Delete one of the person's own views; LookupError when it is not theirs or gone."""
        async with self._audit.transaction() as session:
            row = await session.get(TrendView, view_id)
            if row is None or row.owner != ctx.username:
                raise LookupError(Text("that saved view does not exist (or belongs to someone else)"))
            await session.execute(sa.delete(TrendView).where(col(TrendView.id) == view_id))
            await self._audit.record(
                ctx,
                "trend_view.delete",
                "trend_view",
                f"{ctx.username}/{row.name}",
                session=session,
                old_value={"pens": json.loads(row.pens), "range": row.range_key},
            )

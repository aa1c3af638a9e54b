"""Alarm commands from people: acknowledge, with the permission check, the record and its audit entry."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.alarms.journal import journal_row
from hmi.alarms.states import Trigger, transition
from hmi.audit import AuditLog
from hmi.clock import Clock, utc_now
from hmi.context import ActionContext
from hmi.roles import Permission
from hmi.store.database import Database
from hmi.store.models import Acknowledgement, AlarmEvent

log = logging.getLogger(__name__)

MAX_COMMENT = 1000


@dataclass(frozen=True, slots=True)
class AckResult:
    """What an acknowledge command did: how many were stored, and those that needed no acknowledgement."""

    acknowledged: list[AlarmChange]
    skipped: list[str]


class AlarmService:
    """Every alarm command passes here: permission check, store (record + journal + audit in one
    transaction), and only then the engine changes state, so nothing shows as acknowledged that was not saved."""

    def __init__(self, engine: AlarmEngine, db: Database, audit: AuditLog, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._db = db
        self._audit = audit
        self._clock = clock

    async def acknowledge(self, ctx: ActionContext, alarm_ids: Sequence[str], comment: str = "") -> AckResult:
        """Acknowledge the listed, unacknowledged alarms among `alarm_ids` with an optional comment."""
        comment = (comment or "").strip()
        await self._audit.require(ctx, Permission.ACKNOWLEDGE_ALARM, action="alarm.acknowledge", object_type="alarm",
                                  object_id=",".join(alarm_ids)[:200])
        if len(comment) > MAX_COMMENT:
            raise ValueError(f"the comment is {len(comment)} characters long; at most {MAX_COMMENT} are kept")
        targets = self._engine.unacknowledged(alarm_ids)
        skipped = [i for i in alarm_ids if i not in {a.id for a in targets}]
        if not targets:
            return AckResult([], skipped)
        now = self._clock()
        async with self._audit.transaction() as session:
            for alarm in targets:
                session.add(Acknowledgement(alarm_id=alarm.id, activation_source_time=alarm.activated_at,
                                            user_id=ctx.user_id, username=ctx.username, at=now, comment=comment,
                                            station=ctx.station, action_id=ctx.id))
            try:
                await session.flush()
            except IntegrityError:
                # Another instance acknowledged one of them first; the engine learns of it on the next refresh.
                await session.rollback()
                raise ValueError("one of these alarms was just acknowledged by someone else; refresh and retry"
                                 ) from None
            previews = [AlarmChange("acknowledged", replace(a, state=transition(a.state, Trigger.ACKNOWLEDGE),
                                                            acked_by=ctx.username, acked_at=now,
                                                            ack_comment=comment or None),
                                    now, ctx.username, comment or None, ctx.id) for a in targets]
            await session.execute(sa.insert(AlarmEvent), [journal_row(c, now, ctx.user_id) for c in previews])
            await self._audit.record(ctx, "alarm.acknowledge", "alarm", targets[0].id if len(targets) == 1
                                     else f"{len(targets)} alarms", new_value=", ".join(a.id for a in targets)[:4000],
                                     reason=comment or None, session=session)
        # Stored: only now does the alarm list show the acknowledgement.
        changes = self._engine.acknowledge(targets, ctx.username, now, comment or None, ctx.id)
        return AckResult(changes, skipped)

    async def history(self, alarm_id: str | None = None, limit: int = 200) -> list[AlarmEvent]:
        """Journal rows, newest first."""
        async with self._db.session() as session:
            query = sa.select(AlarmEvent).order_by(AlarmEvent.server_time.desc(), AlarmEvent.id.desc())  # type: ignore[attr-defined,union-attr]
            if alarm_id is not None:
                query = query.where(AlarmEvent.alarm_id == alarm_id)
            rows = (await session.execute(query.limit(limit))).scalars().all()
        return list(rows)

    async def acknowledgements(self, limit: int = 200) -> list[Acknowledgement]:
        """Stored acknowledgements, newest first."""
        async with self._db.session() as session:
            query = sa.select(Acknowledgement).order_by(Acknowledgement.at.desc()).limit(limit)  # type: ignore[attr-defined]
            return list((await session.execute(query)).scalars().all())

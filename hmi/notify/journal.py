"""The notification journal: every notification, each attempt to deliver it and its result, in the database."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from hmi.store.database import Database
from hmi.store.models import NotificationAttempt, NotificationDelivery, NotificationEscalation, NotificationStatus

Escalations = dict[tuple[str, str], tuple[datetime, int] | None]
"""(alarm id, rule) -> (since, next step) of an escalation under way, or None for one that ended."""


class NotificationJournal:
    """Reads and writes the notification_deliveries, notification_attempts and notification_escalations tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, rows: list[NotificationDelivery]) -> None:
        """Journal new notifications (before their first attempt, so none is lost unseen)."""
        if not rows:
            return
        async with self._db.session(write=True) as session:
            session.add_all(rows)
            await session.commit()

    async def attempted(
        self,
        uid: str,
        attempt: int,
        at: datetime,
        error: str | None,
        status: NotificationStatus,
        next_attempt_at: datetime | None,
    ) -> None:
        """Record one attempt and the delivery's resulting status in one transaction."""
        values: dict[str, object] = {
            "status": status,
            "attempts": attempt,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "updated_at": at,
        }
        if error is None:
            values["delivered_at"] = at
        async with self._db.session(write=True) as session:
            session.add(NotificationAttempt(delivery_uid=uid, at=at, attempt=attempt, ok=error is None, error=error))
            await session.execute(
                sa.update(NotificationDelivery).where(col(NotificationDelivery.uid) == uid).values(**values)
            )
            await session.commit()

    async def get(self, uid: str) -> NotificationDelivery | None:
        """The notification with this id, or None."""
        async with self._db.session() as session:
            return (
                await session.execute(select(NotificationDelivery).where(col(NotificationDelivery.uid) == uid))
            ).scalar_one_or_none()

    async def recent(self, limit: int = 200, *, status: NotificationStatus | None = None) -> list[NotificationDelivery]:
        """The newest notifications first (only those in `status` when given)."""
        query = select(NotificationDelivery)
        if status is not None:
            query = query.where(col(NotificationDelivery.status) == status)
        query = query.order_by(col(NotificationDelivery.created_at).desc(), col(NotificationDelivery.id).desc())
        async with self._db.session() as session:
            return list((await session.execute(query.limit(limit))).scalars().all())

    async def pending(self) -> list[NotificationDelivery]:
        """Notifications still to be tried (after a restart), oldest first."""
        query = (
            select(NotificationDelivery)
            .where(col(NotificationDelivery.status) == NotificationStatus.PENDING)
            .order_by(col(NotificationDelivery.id))
        )
        async with self._db.session() as session:
            return list((await session.execute(query)).scalars().all())

    async def attempts(self, uid: str) -> list[NotificationAttempt]:
        """Every attempt to deliver notification `uid`, oldest first."""
        query = (
            select(NotificationAttempt)
            .where(col(NotificationAttempt.delivery_uid) == uid)
            .order_by(col(NotificationAttempt.id))
        )
        async with self._db.session() as session:
            return list((await session.execute(query)).scalars().all())

    async def escalations(self) -> dict[tuple[str, str], tuple[datetime, int]]:
        """The escalations a previous run left under way: (alarm id, rule) -> (since, next step)."""
        async with self._db.session() as session:
            rows = (await session.execute(select(NotificationEscalation))).scalars().all()
        return {(r.alarm_id, r.rule): (r.since, r.next_step) for r in rows}

    async def save_escalations(self, changes: Escalations, at: datetime) -> None:
        """Store the escalations that began or moved on and forget the ones that ended, in one transaction."""
        if not changes:
            return
        async with self._db.session(write=True) as session:
            for (alarm_id, rule), progress in changes.items():
                await session.execute(
                    sa.delete(NotificationEscalation).where(
                        col(NotificationEscalation.alarm_id) == alarm_id, col(NotificationEscalation.rule) == rule
                    )
                )
                if progress is not None:
                    since, step = progress
                    session.add(
                        NotificationEscalation(alarm_id=alarm_id, rule=rule, since=since, next_step=step, updated_at=at)
                    )
            await session.commit()

    async def last_sent(self, since: datetime) -> dict[tuple[str, str, int], datetime]:
        """When each (rule, alarm id, step) last went out at or after `since`: the rules' quiet repeats."""
        keys = (col(NotificationDelivery.rule), col(NotificationDelivery.alarm_id), col(NotificationDelivery.step))
        query = (
            select(*keys, sa.func.max(col(NotificationDelivery.created_at)))
            .where(col(NotificationDelivery.created_at) >= since)
            .group_by(*keys)
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        return {(rule, alarm_id, step): at for rule, alarm_id, step, at in rows}

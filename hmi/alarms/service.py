"""Alarm commands from people: acknowledge, shelve, out of service, reset. Each is permission-checked, stored
(record + journal + audit in one transaction) and only then applied, so nothing shows as done that was not saved."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.alarms.journal import journal_row
from hmi.alarms.states import AlarmState, Event, Shelf, Trigger
from hmi.clock import Clock, utc_now
from hmi.cluster import Forward
from hmi.config import SignaturePolicy
from hmi.records.audit import AuditLog
from hmi.records.signatures import (
    ACKNOWLEDGED,
    REMOVED_FROM_SERVICE,
    SHELVED,
    SignatureRequest,
    SignatureRequired,
    SignatureService,
    Signer,
    canonical_json,
)
from hmi.sources.server_alarms import ConditionError, ConditionMonitor
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import Acknowledgement, AlarmEvent
from hmi.texts import Text

log = logging.getLogger(__name__)

MAX_COMMENT = 1000
# Existing callers (and plants without regulated records) sign nothing unless the plant's policy says so.
NO_SIGNATURES = SignaturePolicy(
    acknowledge_priority_1=False, shelve=False, out_of_service=False, sign_note=False, handover=False
)


@dataclass(frozen=True, slots=True)
class AckFailure:
    """A server alarm an OPC UA server did not acknowledge: `status` is its status code name (BadEventIdUnknown);
    `tried` is False for the alarms after the first refusal, which were not sent."""

    alarm_id: str
    name: str
    status: str
    message: str
    tried: bool = True


@dataclass(frozen=True, slots=True)
class AckResult:
    """What a command did: the changes stored, the ids that needed nothing, and server alarms not acknowledged."""

    changes: list[AlarmChange]
    skipped: list[str]
    failed: list[AckFailure] = field(default_factory=list)


class AlarmService:
    """Every alarm command passes here."""

    def __init__(
        self,
        engine: AlarmEngine,
        db: Database,
        audit: AuditLog,
        clock: Clock = utc_now,
        *,
        max_shelve: timedelta = timedelta(hours=8),
        conditions: Mapping[str, ConditionMonitor] | None = None,
        signature_policy: SignaturePolicy = NO_SIGNATURES,
        signatures: SignatureService | None = None,
        acting: Callable[[], bool] = lambda: True,
    ) -> None:
        self._engine = engine
        # False on a standby of a redundant pair: its alarms are the active instance's, shown, not commanded here.
        self._acting = acting
        # Set on a pair (hmi/cluster/commands.py): a standby checks the person here and hands the command to the
        # active instance, which runs it through this same service. Without it a standby refuses alarm commands.
        self.forward: Forward | None = None
        self.signature_policy = signature_policy
        self.signatures = signatures
        self._db = db
        self._audit = audit
        self._clock = clock
        self.max_shelve = max_shelve
        self.conditions = dict(conditions or {})

    # --------------------------------------------------------------------------------------------- commands
    def needs_signature(self, action: str, alarm_ids: Sequence[str]) -> bool:
        """True when the plant's policy wants an electronic signature for `action` on these alarms (screens ask
        for the password only then): `acknowledge` (any priority-1 alarm to acknowledge), `shelve`,
        `remove_from_service`."""
        policy = self.signature_policy
        if action == "acknowledge":
            return policy.acknowledge_priority_1 and any(
                a.priority == 1 for a in self._engine.unacknowledged(alarm_ids)
            )
        if action == "shelve":
            return policy.shelve
        if action == "remove_from_service":
            return policy.out_of_service
        return False

    async def acknowledge(
        self,
        ctx: ActionContext,
        alarm_ids: Sequence[str],
        comment: str = "",
        *,
        signature: SignatureRequest | Signer | None = None,
    ) -> AckResult:
        """Acknowledge the unacknowledged alarms among `alarm_ids`, with an optional comment (and a signature
        when the policy asks for one on priority-1 alarms: SignatureRequired without it)."""
        comment = _clean(comment)
        await self._require(ctx, Permission.ACKNOWLEDGE_ALARM, "alarm.acknowledge", alarm_ids)
        targets = [a.id for a in self._engine.unacknowledged(alarm_ids)]
        signer = await self._signer(
            ctx, "acknowledge", Text("acknowledging a priority 1 alarm"), alarm_ids, signature, ACKNOWLEDGED
        )
        if self._forwards():
            return await self._forwarded(ctx, "alarm.acknowledge", signer, ids=list(alarm_ids), comment=comment)
        return await self._run(
            ctx,
            "alarm.acknowledge",
            targets,
            alarm_ids,
            Event(Trigger.ACKNOWLEDGE),
            comment,
            acknowledgement=True,
            signer=signer,
        )

    async def shelve(
        self,
        ctx: ActionContext,
        alarm_ids: Sequence[str],
        reason: str,
        duration: timedelta | None,
        *,
        signature: SignatureRequest | Signer | None = None,
    ) -> AckResult:
        """Shelve for `duration` (at most the configured maximum) or one-shot (None: until the alarm clears)."""
        reason = _clean(reason)
        await self._require(ctx, Permission.SHELVE_ALARM, "alarm.shelve", alarm_ids)
        if not reason:
            raise ValueError(Text("shelving needs a reason; say why the alarm may be set aside"))
        if duration is not None and not timedelta(0) < duration <= self.max_shelve:
            hours = self.max_shelve.total_seconds() / 3600
            raise ValueError(
                Text("shelving lasts more than 0 and at most {hours:g} h (the plant's maximum)", hours=hours)
            )
        now = self._clock()
        shelf = Shelf(None if duration is None else now + duration)
        what = "one-shot (until it clears)" if duration is None else f"for {duration}"
        signer = await self._signer(ctx, "shelve", Text("shelving"), alarm_ids, signature, SHELVED)
        if self._forwards():
            seconds = None if duration is None else duration.total_seconds()
            return await self._forwarded(
                ctx, "alarm.shelve", signer, ids=list(alarm_ids), reason=reason, duration_s=seconds
            )
        return await self._run(
            ctx,
            "alarm.shelve",
            alarm_ids,
            alarm_ids,
            Event(Trigger.SHELVE, shelf),
            reason,
            detail=f"shelved {what}",
            signer=signer,
        )

    async def unshelve(self, ctx: ActionContext, alarm_ids: Sequence[str], reason: str = "") -> AckResult:
        """End a shelving early."""
        await self._require(ctx, Permission.SHELVE_ALARM, "alarm.unshelve", alarm_ids)
        if self._forwards():
            return await self._forwarded(ctx, "alarm.unshelve", None, ids=list(alarm_ids), reason=_clean(reason))
        return await self._run(ctx, "alarm.unshelve", alarm_ids, alarm_ids, Event(Trigger.UNSHELVE), _clean(reason))

    async def remove_from_service(
        self,
        ctx: ActionContext,
        alarm_ids: Sequence[str],
        reason: str,
        *,
        signature: SignatureRequest | Signer | None = None,
    ) -> AckResult:
        """Take alarms out of service (maintenance); needs a higher role than shelving and a reason."""
        reason = _clean(reason)
        await self._require(ctx, Permission.REMOVE_FROM_SERVICE, "alarm.out_of_service", alarm_ids)
        if not reason:
            raise ValueError(Text("taking an alarm out of service needs a reason, e.g. the work order"))
        signer = await self._signer(
            ctx,
            "remove_from_service",
            Text("taking an alarm out of service"),
            alarm_ids,
            signature,
            REMOVED_FROM_SERVICE,
        )
        if self._forwards():
            return await self._forwarded(ctx, "alarm.out_of_service", signer, ids=list(alarm_ids), reason=reason)
        return await self._run(
            ctx, "alarm.out_of_service", alarm_ids, alarm_ids, Event(Trigger.REMOVE_FROM_SERVICE), reason, signer=signer
        )

    async def return_to_service(self, ctx: ActionContext, alarm_ids: Sequence[str], reason: str = "") -> AckResult:
        """Put alarms back in service."""
        await self._require(ctx, Permission.REMOVE_FROM_SERVICE, "alarm.return_to_service", alarm_ids)
        if self._forwards():
            return await self._forwarded(
                ctx, "alarm.return_to_service", None, ids=list(alarm_ids), reason=_clean(reason)
            )
        return await self._run(
            ctx, "alarm.return_to_service", alarm_ids, alarm_ids, Event(Trigger.RETURN_TO_SERVICE), _clean(reason)
        )

    async def reset(self, ctx: ActionContext, alarm_ids: Sequence[str], comment: str = "") -> AckResult:
        """Reset latched alarms that are acknowledged and whose process condition has cleared."""
        await self._require(ctx, Permission.RESET_LATCHED, "alarm.reset", alarm_ids)
        waiting = [
            i for i in alarm_ids if (a := self._engine.get(i)) is not None and a.state is AlarmState.LATCHED_UNACK
        ]
        if waiting and len(waiting) == len(alarm_ids):
            raise ValueError(Text("acknowledge a latched alarm before resetting it"))
        if self._forwards():
            return await self._forwarded(ctx, "alarm.reset", None, ids=list(alarm_ids), comment=_clean(comment))
        return await self._run(ctx, "alarm.reset", alarm_ids, alarm_ids, Event(Trigger.RESET), _clean(comment))

    # ------------------------------------------------------------------------------------------------ core
    async def _require(self, ctx: ActionContext, permission: Permission, action: str, alarm_ids: Sequence[str]) -> None:
        """Refuse (and audit the refusal) unless `ctx` may do `action` on these alarms; refuse on a standby that
        cannot hand commands to the active instance."""
        if not self._acting() and self.forward is None:
            # A command here would change a copy: the active instance's engine and journal would not know it.
            raise ValueError(
                Text(
                    "this server stands by for the active one: alarm commands are taken on the active server; "
                    "use a panel of the active server (the banner names it)"
                )
            )
        await self._audit.require(
            ctx, permission, action=action, object_type="alarm", object_id=",".join(alarm_ids)[:200]
        )

    def _forwards(self) -> bool:
        """True on a standby that hands commands to the active instance (checked here, run there)."""
        return self.forward is not None and not self._acting()

    async def _forwarded(self, ctx: ActionContext, kind: str, signer: Signer | None, **args: Any) -> AckResult:
        """The active instance's result of the command (its refusal raised as it raised it there)."""
        assert self.forward is not None
        result = await self.forward(ctx, kind, args, signer)
        if not isinstance(result, AckResult):
            raise TypeError(f"the active instance answered {kind} with {type(result).__name__}")
        return result

    async def _signer(
        self,
        ctx: ActionContext,
        action: str,
        what: Text,
        alarm_ids: Sequence[str],
        signature: SignatureRequest | Signer | None,
        meaning: str,
    ) -> Signer | None:
        """The checked signer when the policy asks for a signature (or one was given anyway), else None. A Signer
        given is one a standby already checked (a forwarded command, hmi/cluster/commands.py): taken as it is.

        The password is checked before the transaction opens: argon2 runs off the loop without holding the
        audit lock, and a refusal is audited on its own instead of being rolled back with the command.
        """
        if isinstance(signature, Signer):
            return signature
        required = self.needs_signature(action, alarm_ids)
        if signature is None:
            if required:
                raise SignatureRequired(what)
            return None
        if self.signatures is None:
            raise SignatureRequired(Text("{what} (no signature service is configured)", what=what))
        return await self.signatures.prepare(
            ctx,
            username=signature.username,
            password=signature.password,
            meaning=signature.meaning or meaning,
            object_type="alarm",
            object_id=",".join(alarm_ids)[:200],
        )

    async def _run(
        self,
        ctx: ActionContext,
        action: str,
        targets: Sequence[str],
        asked: Sequence[str],
        event: Event,
        comment: str,
        *,
        acknowledgement: bool = False,
        detail: str | None = None,
        signer: Signer | None = None,
    ) -> AckResult:
        now = self._clock()
        planned = self._engine.plan(
            targets, event, at=now, username=ctx.username, comment=comment or None, action_id=ctx.id
        )
        done = {c.alarm.id for c in planned}
        skipped = [i for i in asked if i not in done]
        failed: list[AckFailure] = []
        if acknowledgement:
            # Server conditions are acknowledged on their server first, one by one, holding no lock: a slow server
            # must not stop anyone else's audited action (IEC 62541-9 §5.7.3 Acknowledge can take seconds).
            planned, failed = await self._acknowledge_on_servers(planned, comment)
        if not planned:
            return AckResult([], skipped, failed)
        try:
            return await self._store(
                ctx,
                action,
                planned,
                skipped,
                failed,
                now,
                comment,
                acknowledgement=acknowledgement,
                detail=detail,
                signer=signer,
            )
        except Exception as exc:
            on_server = [c for c in planned if c.alarm.source == "server"]
            for change in on_server:
                # Acknowledged on the server but not stored here: the journal writer keeps it (who, comment).
                self._engine.forget_server_ack(change.alarm.id, journal=True)
            if on_server and isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(
                    Text(
                        "{count} server alarm(s) were acknowledged on their OPC UA server "
                        "but the acknowledgement is not recorded here: {exc}",
                        count=len(on_server),
                        exc=exc,
                    ),
                    url=exc.url,
                    reason=exc.reason,
                ) from exc
            raise

    async def _store(
        self,
        ctx: ActionContext,
        action: str,
        planned: list[AlarmChange],
        skipped: list[str],
        failed: list[AckFailure],
        now: datetime,
        comment: str,
        *,
        acknowledgement: bool,
        detail: str | None,
        signer: Signer | None,
    ) -> AckResult:
        if failed:
            refused = "; ".join(f"{f.alarm_id}: {f.status}" + ("" if f.tried else " (not sent)") for f in failed)
            detail = f"{detail + '; ' if detail else ''}not acknowledged by the OPC UA server: {refused}"[:4000]
        async with self._audit.transaction() as session:
            if acknowledgement:
                for change in planned:
                    assert change.before is not None
                    session.add(
                        Acknowledgement(
                            alarm_id=change.alarm.id,
                            activation_source_time=change.before.activated_at or change.before.changed_at,
                            user_id=ctx.user_id,
                            username=ctx.username,
                            at=now,
                            comment=comment,
                            station=ctx.station,
                            action_id=ctx.id,
                        )
                    )
                try:
                    await session.flush()
                except IntegrityError:
                    # Another instance acknowledged one of them first.
                    await session.rollback()
                    raise ValueError(
                        Text("one of these alarms was just acknowledged by someone else; refresh and retry")
                    ) from None
            await session.execute(sa.insert(AlarmEvent), [journal_row(c, now, ctx.user_id) for c in planned])
            ids = [c.alarm.id for c in planned]
            if signer is not None and self.signatures is not None:
                # Bound to what was done: the alarms actually changed, the action, the reason and the time.
                await self.signatures.write(
                    ctx,
                    signer,
                    object_type="alarm",
                    object_id=",".join(ids)[:200],
                    content=command_content(action, ids, comment, now, detail),
                    session=session,
                )
            await self._audit.record(
                ctx,
                action,
                "alarm",
                ids[0] if len(ids) == 1 else f"{len(ids)} alarms",
                old_value=", ".join(f"{c.alarm.id}: {c.before.state.value}" for c in planned if c.before)[:4000],
                new_value=", ".join(f"{c.alarm.id}: {c.alarm.state.value}" for c in planned)[:4000],
                reason=comment or None,
                detail=detail,
                session=session,
            )
        # Stored: only now do the lists show it.
        return AckResult(self._engine.commit(planned), skipped, failed)

    async def _acknowledge_on_servers(
        self, planned: list[AlarmChange], comment: str
    ) -> tuple[list[AlarmChange], list[AckFailure]]:
        """Acknowledge the server alarms among `planned` on their servers, in order, until one is refused (never
        retried, IEC 62541-9 §5.7.3); returns the changes to record (local ones and those acknowledged) and the
        server alarms not acknowledged: the refused one with its status, the rest as not sent."""
        keep: list[AlarmChange] = []
        failed: list[AckFailure] = []
        for change in planned:
            alarm = change.alarm
            server = alarm.server
            if alarm.source != "server" or server is None:
                keep.append(change)
                continue
            if failed:
                first = failed[0]
                failed.append(
                    AckFailure(
                        alarm.id,
                        alarm.name,
                        first.status,
                        f"not sent: the server refused {first.name} first",
                        tried=False,
                    )
                )
                continue
            monitor = self.conditions.get(server.endpoint)
            if monitor is None:
                failed.append(
                    AckFailure(
                        alarm.id,
                        alarm.name,
                        "BadNotConnected",
                        f"no Alarms & Conditions connection to endpoint {server.endpoint!r}",
                    )
                )
                continue
            self._engine.expect_server_ack(change)
            try:
                await monitor.acknowledge(server.condition_id, comment, event_id=server.event_id)
            except ConditionError as exc:
                self._engine.forget_server_ack(alarm.id)
                log.warning("alarm %s not acknowledged: %s", alarm.id, exc)
                failed.append(AckFailure(alarm.id, alarm.name, exc.status, str(exc)))
                continue
            except BaseException:
                self._engine.forget_server_ack(alarm.id)
                raise
            keep.append(change)
        return keep, failed

    # ----------------------------------------------------------------------------------------------- reads
    async def history(self, alarm_id: str | None = None, limit: int = 200) -> list[AlarmEvent]:
        """Journal rows, newest first."""
        async with self._db.session() as session:
            query = sa.select(AlarmEvent).order_by(col(AlarmEvent.server_time).desc(), col(AlarmEvent.id).desc())
            if alarm_id is not None:
                query = query.where(col(AlarmEvent.alarm_id) == alarm_id)
            rows = (await session.execute(query.limit(limit))).scalars().all()
        return list(rows)


def command_content(action: str, alarm_ids: Sequence[str], reason: str, at: datetime, detail: str | None = None) -> str:
    """The canonical text an alarm command's signature is bound to (alarm ids, action, reason, server time)."""
    return canonical_json(
        {
            "action": action,
            "alarm_ids": sorted(alarm_ids),
            "reason": reason,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "detail": detail,
        }
    )


def _clean(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise ValueError(
            Text("the text is {length} characters long; at most {most} are kept", length=len(text), most=MAX_COMMENT)
        )
    return text

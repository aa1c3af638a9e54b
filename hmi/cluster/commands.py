"""Alarm commands, writes and recipe downloads given on a standby, run once by the active instance
(docs/deployment.md, redundant pair).

Why a table beside NOTIFY, not a message alone: a NOTIFY reaches whoever listens at that moment and is gone, while a
row is claimed by exactly one instance with one `UPDATE ... WHERE claimed_at IS NULL` (PostgreSQL re-checks the
condition on a row it had to wait for, so two claimers never both get it: manual §13.2.1), carries the result back,
and is expired when nobody claimed it in time, so a command nobody took is never run later by an instance that
comes up afterwards. NOTIFY only wakes the other side at once; both sides also look every second.

The standby resolves the person and checks their permission and, when a signature is asked for, their password
itself (it has the same users table): the row carries the person's id, station and the checked signer, never a
password. The active instance takes name and role from the users table again (a row cannot raise anyone's role),
refuses a disabled or locked account and, when the audit key is configured, a row whose HMAC does not match: someone
who can write the database but does not hold the key cannot forge a command. It runs the command through the same
service as a local one, so the journal and the audit trail record it once, attributed to the person with their
station and the command's action id (which this table keeps beside the instance it was given on). It records each
row it carries out in the audit trail, and refuses a row recorded there already: the claim lives in this table, which
a database writer could reset, the record in the hash-chained trail, which it cannot change unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import sqlalchemy as sa

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission, Role
from hmi.alarms.engine import AlarmChange
from hmi.alarms.service import AckFailure, AckResult, AlarmService
from hmi.alarms.states import AlarmEventKind
from hmi.cluster.alarm_feed import alarm_of, alarm_row, iso, when
from hmi.cluster.connection import OwnConnection
from hmi.config import PlantConfig
from hmi.control.outcome import Refusal, Result, WriteOutcome
from hmi.control.writes import NOT_GIVEN, WriteService
from hmi.records.audit import SYSTEM_USER_ID, AuditLog
from hmi.records.signatures import SignatureRefused, SignatureRequired, Signer, UserIdRequired, canonical_json
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import ClusterCommand, User
from hmi.supervise import stop_tasks, wait_event
from hmi.texts import Text

log = logging.getLogger(__name__)

CHANNEL = "hmi_commands"  # standby -> active: a new row (its id)
REPLIES = "hmi_command_replies"  # active -> standby: a row answered (its id)
LISTENER_NAME = "factory-hmi commands"
# A row the active instance has not claimed within this (database time) is expired and never runs: the person was
# told it did not happen, so it must not happen later.
CLAIM_S = 5.0
# Once claimed, how long the standby waits for the result (a write's read-back, a server's Acknowledge take seconds).
RUN_S = 60.0
LOOK_S = 1.0
KEEP = timedelta(days=1)  # answered rows are kept this long (the audit trail is the record; these are the mail)
MAC_PURPOSE = "factory-hmi cluster command"
RAN = "cluster.command.run"  # the audit action recording that the active instance carried a row out

_TABLE = ClusterCommand.__table__  # type: ignore[attr-defined]


class NotForwarded(ValueError):
    """No active instance took a forwarded command in time: it was not run and will not be run later."""


# ----------------------------------------------------------------------------------------------- the wire format
def encode(value: Any) -> Any:
    """A value as JSON carries it, keeping what a screen needs: a Text's template and fields (so it is translated
    where shown), times, and dicts told apart from these markers."""
    if isinstance(value, Text):
        return {"$text": value.template, "fields": {k: encode(v) for k, v in value.fields.items()}}
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {"$map": {str(k): encode(v) for k, v in value.items()}}
    return str(value)


def decode(value: Any) -> Any:
    """What `encode` made, back."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "$text" in value:
            return Text(value["$text"], **{k: decode(v) for k, v in value["fields"].items()})
        if "$time" in value:
            return datetime.fromisoformat(value["$time"])
        return {k: decode(v) for k, v in value["$map"].items()}
    return value


def _change_row(c: AlarmChange) -> dict[str, Any]:
    return {
        "kind": c.kind.value,
        "alarm": alarm_row(c.alarm),
        "at": iso(c.at),
        "username": c.username,
        "comment": c.comment,
        "action_id": c.action_id,
        "before": None if c.before is None else alarm_row(c.before),
    }


def encode_result(result: AckResult | WriteOutcome | list[WriteOutcome]) -> dict[str, Any]:
    """An alarm command's, a write's or a download's (several writes) result for the reply."""
    if isinstance(result, list):
        return {"writes": [encode_result(outcome) for outcome in result]}
    if isinstance(result, AckResult):
        failed = [{k: encode(v) for k, v in asdict(f).items()} for f in result.failed]
        changes = [_change_row(c) for c in result.changes]
        return {"ack": {"changes": changes, "skipped": result.skipped, "failed": failed}}
    return {"write": {f.name: encode(getattr(result, f.name)) for f in fields(result)}}


def decode_result(data: dict[str, Any], plant: PlantConfig) -> AckResult | WriteOutcome | list[WriteOutcome]:
    """What `encode_result` made; alarms get this plant's definitions (as the standby's engine holds them)."""
    if "writes" in data:
        return [_write_outcome(w["write"]) for w in data["writes"]]

    def alarm(row: dict[str, Any]) -> Any:
        a = alarm_of(row)
        return replace(a, ref=plant.alarms.get(a.id))

    if "ack" in data:
        ack = data["ack"]
        changes = [
            AlarmChange(
                kind=AlarmEventKind(c["kind"]),
                alarm=alarm(c["alarm"]),
                at=when(c["at"]) or datetime.fromisoformat(c["alarm"]["changed_at"]),
                username=c["username"],
                comment=c["comment"],
                action_id=c["action_id"],
                before=None if c["before"] is None else alarm(c["before"]),
            )
            for c in ack["changes"]
        ]
        failed = [AckFailure(**{k: decode(v) for k, v in f.items()}) for f in ack["failed"]]
        return AckResult(changes, [str(i) for i in ack["skipped"]], failed)
    return _write_outcome(data["write"])


def _write_outcome(data: dict[str, Any]) -> WriteOutcome:
    w = {k: decode(v) for k, v in data.items()}
    w["result"] = Result(w["result"])
    w["refusal"] = None if w["refusal"] is None else Refusal(w["refusal"])
    return WriteOutcome(**w)


def encode_error(exc: BaseException) -> dict[str, Any]:
    """A refusal or failure on the active instance, for the standby to raise as the same kind of error."""
    text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
    data: dict[str, Any] = {"type": type(exc).__name__, "text": encode(text)}
    data["value_error"] = isinstance(exc, ValueError)
    if isinstance(exc, PermissionDenied):
        data["permission"] = exc.permission.value
    if isinstance(exc, SignatureRequired):
        data["what"] = encode(exc.what)
    return data


def raise_error(data: dict[str, Any], ctx: ActionContext) -> None:
    """Raise what `encode_error` described, as the service on this instance would have raised it."""
    kind, text = data["type"], decode(data["text"])
    if kind == "PermissionDenied":
        raise PermissionDenied(ctx, Permission(data["permission"]))
    if kind == "SignatureRequired":
        raise SignatureRequired(decode(data["what"]))
    if kind == "UserIdRequired":
        raise UserIdRequired(text)
    if kind == "SignatureRefused":
        raise SignatureRefused(text)
    if kind == "DatabaseUnavailable":
        raise DatabaseUnavailable(text)
    if data.get("value_error"):
        raise ValueError(text)
    raise ValueError(Text("the active server could not run it: {why}", why=text))


# ------------------------------------------------------------------------------------------------- the channel
class CommandChannel:
    """On every instance of a pair: a standby's `send` puts a command in the table and waits for its result; while
    this instance is active it claims and runs the commands the standbys put there."""

    def __init__(
        self,
        db: Database,
        instance: str,
        audit: AuditLog,
        users: UserService,
        alarm_service: AlarmService,
        control: WriteService,
        plant: Callable[[], PlantConfig],
        *,
        acting: Callable[[], bool],
        claim_s: float = CLAIM_S,
        run_s: float = RUN_S,
    ) -> None:
        self._db = db
        self._instance = instance
        self._audit = audit
        self._users = users
        self._alarm_service = alarm_service
        self._control = control
        self._plant = plant
        self._acting = acting
        self._claim_s = claim_s
        self._run_s = run_s
        self._link = OwnConnection(db, LISTENER_NAME, {CHANNEL: self._notified, REPLIES: self._replied})
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._answered: dict[int, asyncio.Event] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._was_acting = False
        self._tidied = 0.0
        self.ran = 0  # commands this instance ran for others (tests, the soak bench)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cluster-commands")

    async def stop(self) -> None:
        """Stop claiming; commands under way finish (each within its service's own bounds), then the listener ends."""
        task, self._task = self._task, None
        await stop_tasks(task)
        if self._running:
            await asyncio.wait(list(self._running), timeout=self._run_s)
        await stop_tasks(*self._running)
        await self._link.close()

    # ------------------------------------------------------------------------------------------ standby side
    async def send(self, ctx: ActionContext, kind: str, args: dict[str, Any], signer: Signer | None) -> Any:
        """Have the active instance run `kind` for `ctx` and return its result (an AckResult or WriteOutcome), or
        raise its refusal; NotForwarded when no active instance took it within the claim time (then it never runs)."""
        loop = asyncio.get_running_loop()
        row_id = await self._put(ctx, kind, args, signer)
        answered = self._answered[row_id] = asyncio.Event()
        try:
            claim_by = loop.time() + self._claim_s + 0.5
            run_by: float | None = None
            while True:
                await wait_event(answered, LOOK_S)
                answered.clear()
                row = await self._row(row_id)
                if row["outcome"] is not None:
                    return self._result(row, ctx)
                if row["claimed_at"] is None:
                    if loop.time() >= claim_by and await self._expire(row_id):
                        raise NotForwarded(
                            Text(
                                "no active server took the command within {seconds:g} s; it was not carried out "
                                "and will not be later: check the banner for the active server and try again",
                                seconds=self._claim_s,
                            )
                        )
                    continue
                run_by = run_by or loop.time() + self._run_s
                if loop.time() >= run_by:
                    raise ValueError(
                        Text(
                            "the active server {server} took the command but gave no result within {seconds:g} s: "
                            "look in the audit trail whether it was carried out before trying again",
                            server=row["claimed_by"],
                            seconds=self._run_s,
                        )
                    )
        finally:
            self._answered.pop(row_id, None)

    async def _put(self, ctx: ActionContext, kind: str, args: dict[str, Any], signer: Signer | None) -> int:
        row = ClusterCommand(
            kind=kind,
            args=json.dumps(encode(args), separators=(",", ":")),
            user_id=ctx.user_id,
            username=ctx.username,
            full_name=ctx.full_name,
            role=ctx.role.value,
            station=ctx.station,
            action_id=ctx.id,
            signer=None if signer is None else json.dumps(asdict(signer)),
            origin=self._instance,
            session_key=ctx.session_key,
        )
        row.mac = self._audit.seal(MAC_PURPOSE, _sealed(row))
        now = sa.func.clock_timestamp()
        values = row.model_dump(exclude={"id", "created_at", "expires_at", "claimed_at", "done_at"})
        async with self._db.session(write=True) as session:
            row_id = (
                await session.execute(
                    sa.insert(_TABLE)
                    .values(**values, created_at=now, expires_at=now + timedelta(seconds=self._claim_s))
                    .returning(_TABLE.c.id)
                )
            ).scalar_one()
            # Delivered at the commit, so the active instance never looks before the row is there.
            await session.execute(sa.select(sa.func.pg_notify(CHANNEL, str(row_id))))
            await session.commit()
        return int(row_id)

    async def _row(self, row_id: int) -> Mapping[str, Any]:
        async with self._db.session() as session:
            query = sa.select(_TABLE.c.claimed_by, _TABLE.c.claimed_at, _TABLE.c.outcome, _TABLE.c.reply)
            return dict((await session.execute(query.where(_TABLE.c.id == row_id))).mappings().one())

    async def _expire(self, row_id: int) -> bool:
        """True when the row was still unclaimed and is now expired (no instance will run it); False when it was
        claimed meanwhile (only one of the two updates can win the row)."""
        async with self._db.session(write=True) as session:
            done = await session.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.id == row_id, _TABLE.c.claimed_at.is_(None), _TABLE.c.outcome.is_(None))
                .values(outcome="expired", done_at=sa.func.clock_timestamp())
                .returning(_TABLE.c.id)
            )
            expired = done.first() is not None
            await session.commit()
        return expired

    def _result(self, row: Mapping[str, Any], ctx: ActionContext) -> Any:
        reply = json.loads(row["reply"] or "{}")
        if "error" in reply:
            raise_error(reply["error"], ctx)
        if "ok" not in reply:  # expired by the new active instance at its takeover, or interrupted
            raise NotForwarded(decode(reply.get("why")) or Text("the command was not carried out"))
        return decode_result(reply["ok"], self._plant())

    # ------------------------------------------------------------------------------------------- active side
    def _notified(self, _payload: str) -> None:
        self._wake.set()

    def _replied(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            if (event := self._answered.get(int(payload))) is not None:
                event.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._link.get()
                acting = self._acting()
                if acting:
                    await self._tidy(takeover=not self._was_acting)
                    await self._claim()
                self._was_acting = acting
            except Exception as exc:  # the database is away: look again on a new connection
                log.warning("forwarded commands cannot be looked at: %s", exc)
                await self._link.close()
            await wait_event(self._wake, LOOK_S)
            self._wake.clear()

    async def _claim(self) -> None:
        """Claim every fresh unclaimed row (each once, whoever else tries) and run each in a task of its own."""
        now = sa.func.clock_timestamp()
        async with self._db.session(write=True) as session:
            claimed = (
                (
                    await session.execute(
                        sa.update(_TABLE)
                        .where(_TABLE.c.claimed_at.is_(None), _TABLE.c.outcome.is_(None), _TABLE.c.expires_at > now)
                        .values(claimed_by=self._instance, claimed_at=now)
                        .returning(_TABLE)
                    )
                )
                .mappings()
                .all()
            )
            await session.commit()
        for row in sorted(claimed, key=lambda r: r["id"]):
            task = asyncio.create_task(self._execute(dict(row)), name=f"cluster-command:{row['id']}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _tidy(self, *, takeover: bool) -> None:
        """At a takeover: the rows the instance active before had claimed and not answered are answered as
        interrupted (never run again: they may have run). Every minute: expired rows marked, old rows deleted."""
        loop = asyncio.get_running_loop()
        if not takeover and loop.time() - self._tidied < 60:
            return
        self._tidied = loop.time()
        now = sa.func.clock_timestamp()
        async with self._db.session(write=True) as session:
            if takeover:
                interrupted = (
                    (
                        await session.execute(
                            sa.update(_TABLE)
                            .where(
                                _TABLE.c.claimed_at.is_not(None),
                                _TABLE.c.outcome.is_(None),
                                _TABLE.c.claimed_by != self._instance,
                            )
                            .values(outcome="interrupted", done_at=now)
                            .returning(_TABLE.c.id, _TABLE.c.claimed_by)
                        )
                    )
                    .mappings()
                    .all()
                )
                for row in interrupted:
                    why = Text(
                        "the active server {server} stopped while carrying it out; look in the audit trail whether "
                        "it was done before trying again",
                        server=row["claimed_by"],
                    )
                    reply = {"why": encode(why)}
                    await session.execute(
                        sa.update(_TABLE).where(_TABLE.c.id == row["id"]).values(reply=json.dumps(reply))
                    )
                    await session.execute(sa.select(sa.func.pg_notify(REPLIES, str(row["id"]))))
            await session.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.claimed_at.is_(None), _TABLE.c.outcome.is_(None), _TABLE.c.expires_at <= now)
                .values(outcome="expired", done_at=now)
            )
            await session.execute(sa.delete(_TABLE).where(_TABLE.c.created_at < now - KEEP))
            await session.commit()

    async def _execute(self, row: dict[str, Any]) -> None:
        """Run one claimed row and write its result back (with a NOTIFY to the standby waiting for it)."""
        try:
            result = await self._dispatch(row)
            reply: dict[str, Any] = {"ok": encode_result(result)}
            outcome = "ok"
        except Exception as exc:
            if not isinstance(exc, ValueError | PermissionDenied | DatabaseUnavailable):
                log.exception("forwarded command %s (%s) failed", row["id"], row["kind"])
            reply, outcome = {"error": encode_error(exc)}, "error"
        self.ran += 1
        try:
            async with self._db.session(write=True) as session:
                await session.execute(
                    sa.update(_TABLE)
                    .where(_TABLE.c.id == row["id"])
                    .values(outcome=outcome, reply=json.dumps(reply), done_at=sa.func.clock_timestamp())
                )
                await session.execute(sa.select(sa.func.pg_notify(REPLIES, str(row["id"]))))
                await session.commit()
        except Exception as exc:  # the standby tells its person there was no result, and to look in the audit trail
            log.error("the result of forwarded command %s could not be written back: %s", row["id"], exc)

    async def _person(self, row: Mapping[str, Any]) -> ActionContext:
        """The person of a row as the users table has them now (role included); refused when unknown, disabled or
        locked. A non-person actor (user id 0) is taken as the row names it."""
        if row["user_id"] == SYSTEM_USER_ID:
            return ActionContext(
                SYSTEM_USER_ID, row["username"], row["full_name"], Role(row["role"]), row["station"], row["action_id"]
            )
        async with self._db.session() as session:
            user = await session.get(User, row["user_id"])
        if user is None or user.id is None or user.disabled or user.locked_at is not None:
            raise ValueError(
                Text(
                    "the account of {username} is unknown, disabled or locked: the command was not carried out",
                    username=row["username"],
                )
            )
        if row["session_key"] is not None:
            # The browser session may have ended between the touch on the standby and the run here (signed out on
            # another panel, expired, its screen locked): 21 CFR 11.10(d), as for a command given here.
            why = await self._users.sessions.refusal_of(row["session_key"], user.id)
            if why is not None:
                raise ValueError(Text("{why}: the command was not carried out", why=why))
        return ActionContext(
            user.id,
            user.username,
            user.full_name,
            user.role,
            row["station"],
            row["action_id"],
            source=user.source,
            session_key=row["session_key"],
        )

    async def _dispatch(self, row: Mapping[str, Any]) -> AckResult | WriteOutcome | list[WriteOutcome]:
        expected = self._audit.seal(MAC_PURPOSE, _sealed(row))
        if expected is not None and not hmac.compare_digest(expected, row["mac"] or ""):
            detail = f"cluster command {row['id']} ({row['kind']}) from {row['origin']}: its HMAC does not match"
            await self._audit.record(None, "cluster.command.refused", "cluster_command", row["uid"], detail=detail)
            raise ValueError(
                Text("the command's seal does not match the audit key: it was not made by a server of this plant")
            )
        if not self._acting():
            raise ValueError(Text("this server no longer acts for the plant: the command was not carried out"))
        # A row is run once. Its claim lives in the table, which a database writer could reset; the run is recorded
        # in the hash-chained audit trail, which it cannot change unseen, so a reset row is refused, not run again.
        if await self._audit.query(action=RAN, object_type="cluster_command", object_id=row["uid"], limit=1):
            detail = f"cluster command {row['id']} ({row['kind']}) from {row['origin']}: it already ran"
            await self._audit.record(None, "cluster.command.refused", "cluster_command", row["uid"], detail=detail)
            raise ValueError(Text("the command was carried out already: it is not carried out twice"))
        ctx = await self._person(row)
        await self._audit.record(
            ctx,
            RAN,
            "cluster_command",
            row["uid"],
            detail=f"{row['kind']} given on {row['origin']}, carried out by {self._instance}",
        )
        signer = None if row["signer"] is None else Signer(**json.loads(row["signer"]))
        if signer is not None and signer.user_id != ctx.user_id:
            raise ValueError(Text("a signature is the signed-in person's own: the command was not carried out"))
        a: dict[str, Any] = decode(json.loads(row["args"]))
        kind = row["kind"]
        alarms, control = self._alarm_service, self._control
        ids = [str(i) for i in a.get("ids", [])]
        if kind == "alarm.acknowledge":
            return await alarms.acknowledge(ctx, ids, a["comment"], signature=signer)
        if kind == "alarm.shelve":
            duration = None if a["duration_s"] is None else timedelta(seconds=a["duration_s"])
            return await alarms.shelve(ctx, ids, a["reason"], duration, signature=signer)
        if kind == "alarm.unshelve":
            return await alarms.unshelve(ctx, ids, a["reason"])
        if kind == "alarm.out_of_service":
            return await alarms.remove_from_service(ctx, ids, a["reason"], signature=signer)
        if kind == "alarm.return_to_service":
            return await alarms.return_to_service(ctx, ids, a["reason"])
        if kind == "alarm.reset":
            return await alarms.reset(ctx, ids, a["comment"])
        if kind == "control.write":
            expect = a.get("expected", NOT_GIVEN)
            return await control.write(ctx, a["tag"], a["value"], expected=expect, reason=a["reason"], signature=signer)
        if kind == "control.write_many":
            changes = [(str(name), value) for name, value in a["changes"]]
            return await control.write_many(
                ctx, changes, reason=a["reason"], parent=a["parent"], signature_id=a["signature_id"]
            )
        if kind == "control.command":
            return await control.command(ctx, a["command"], args=a["args"], reason=a["reason"], signature=signer)
        raise ValueError(Text("this server does not know the command {kind!r}", kind=kind))


def _sealed(row: Any) -> str:
    """The text a row's HMAC covers: everything the standby decided (not the times, which the database sets)."""
    get = row.__getitem__ if isinstance(row, Mapping) else lambda name: getattr(row, name)
    names = (
        *("uid", "kind", "args", "user_id", "username", "full_name", "role", "station", "action_id", "signer"),
        "session_key",
    )
    return canonical_json({name: get(name) for name in (*names, "origin")})

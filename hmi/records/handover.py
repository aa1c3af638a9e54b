"""Shift handover: the system drafts a report at the end of a shift, the outgoing lead adds open items and signs
("Handed over"), the incoming lead reviews and signs ("Reviewed / accepted"); both signatures are bound to the
report's content, and the report exports to PDF with the signature manifestations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.engine import AlarmEngine
from hmi.alarms.states import AlarmState
from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig
from hmi.records.audit import AuditLog
from hmi.records.notes import ShiftNotes
from hmi.records.signatures import (
    ACCEPTED,
    HANDED_OVER,
    SignatureRequest,
    SignatureRequired,
    SignatureService,
    canonical_json,
    manifestation,
)
from hmi.shifts import ShiftSlot, current_shift
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, AlarmEventKind, Handover, HandoverState, Signature
from hmi.tags import TagCache
from hmi.texts import Text

MAX_OPEN_ITEMS = 50
MAX_ITEM_LENGTH = 500
RECORDED_COUNTS_NOTE = (
    "Counts are the counter values at drafting time; the shift's quantity is the sum of the "
    "counters' increases recorded by the historian from the shift's start (a counter reset adds "
    "its new value), so a restart of the HMI does not lose any."
)


CountsFn = Callable[[str, datetime, datetime], Awaitable[tuple[float, float]]]
"""Good and reject quantities of a line in [start, end) (OeeService.counts)."""


class HandoverError(ValueError):
    """The handover cannot do this in its present state; the message says why."""


# A handover's state as a refusal names it ("handover 3 is handed over; it cannot be accepted now").
STATE_WORDS: dict[HandoverState, Text] = {
    HandoverState.DRAFT: Text("draft"),
    HandoverState.HANDED_OVER: Text("handed over"),
    HandoverState.ACCEPTED: Text("accepted"),
}


def signed_content(handover: Handover) -> str:
    """The exact text both signatures are bound to: the report, the open items and what it covers."""
    return canonical_json(
        {
            "id": handover.id,
            "shift_name": handover.shift_name,
            "shift_date": handover.shift_date.isoformat(),
            "scope": handover.scope,
            "content": json.loads(handover.content),
            "open_items": json.loads(handover.open_items),
        }
    )


class HandoverService:
    """Drafts, completes, signs, verifies and exports shift handovers; checks SIGN_HANDOVER and audits all."""

    def __init__(
        self,
        plant: PlantConfig,
        db: Database,
        audit: AuditLog,
        signatures: SignatureService,
        notes: ShiftNotes,
        alarms: AlarmEngine,
        cache: TagCache,
        clock: Clock = utc_now,
        *,
        counts: CountsFn,
        signature_required: bool | None = None,
    ) -> None:
        self._plant = plant
        self._db = db
        self._audit = audit
        self._signatures = signatures
        self._notes = notes
        self._alarms = alarms
        self._cache = cache
        self._clock = clock
        # The shift's quantities come from the historian's record (the runtime passes OeeService.counts).
        self.counts = counts
        self.signature_required = plant.signatures.handover if signature_required is None else signature_required

    def use_plant(self, plant: PlantConfig) -> None:
        """Take over a reloaded plant (hmi/plant_reload.py): its lines and its signature policy."""
        self._plant = plant
        self.signature_required = plant.signatures.handover

    # ------------------------------------------------------------------------------------------- drafting
    async def draft(self, ctx: ActionContext, scope: str = "", slot: ShiftSlot | None = None) -> Handover:
        """Draft (or redraft) the report of `slot` (default: the running shift) for a line, an area or the
        whole site (""); open items of the last signed handover of the same scope are carried over."""
        await self._audit.require(
            ctx, Permission.SIGN_HANDOVER, action="handover.draft", object_type="handover", object_id=scope
        )
        scope = scope.strip()
        lines = self._lines(scope)
        slot = slot or current_shift(self._plant.site, self._clock())
        previous = await self._previous(scope, slot)
        carried: list[str] = json.loads(previous.open_items) if previous is not None else []
        content = await self._content(scope, lines, slot, carried, previous)
        async with self._audit.transaction() as session:
            existing = (
                await session.execute(
                    select(Handover)
                    .where(Handover.scope == scope, Handover.shift_name == slot.name, Handover.shift_date == slot.date)
                    .order_by(col(Handover.id).desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if existing is not None and existing.state is not HandoverState.DRAFT:
                raise HandoverError(
                    Text(
                        "the {shift} shift of {date} was already handed over",
                        shift=slot.name,
                        date=slot.date.isoformat(),
                    )
                )
            if existing is not None:
                old = existing.content
                existing.content = content
                await session.flush()
                await self._audit.record(
                    ctx,
                    "handover.redraft",
                    "handover",
                    str(existing.id),
                    session=session,
                    old_value=old,
                    new_value=content,
                )
                return existing
            handover = Handover(
                shift_name=slot.name,
                shift_date=slot.date,
                shift_start=slot.start,
                shift_end=slot.end,
                scope=scope,
                content=content,
                open_items=json.dumps(carried, ensure_ascii=False),
                created_at=self._clock(),
                created_by=ctx.username,
                action_id=ctx.id,
            )
            session.add(handover)
            await session.flush()
            await self._audit.record(
                ctx,
                "handover.draft",
                "handover",
                str(handover.id),
                session=session,
                new_value=content,
                detail=f"{scope or 'site'}, {slot.name} {slot.date}",
            )
        return handover

    async def set_open_items(self, ctx: ActionContext, handover_id: int, items: list[str]) -> Handover:
        """Replace the open items of a draft (the outgoing lead's list for the next shift)."""
        await self._audit.require(
            ctx,
            Permission.SIGN_HANDOVER,
            action="handover.open_items",
            object_type="handover",
            object_id=str(handover_id),
        )
        cleaned = [i.strip() for i in items if i.strip()]
        if len(cleaned) > MAX_OPEN_ITEMS or any(len(i) > MAX_ITEM_LENGTH for i in cleaned):
            raise ValueError(
                Text(
                    "at most {items} open items of at most {most} characters each",
                    items=MAX_OPEN_ITEMS,
                    most=MAX_ITEM_LENGTH,
                )
            )
        async with self._audit.transaction() as session:
            handover = await self._draft_in(session, handover_id)
            old = handover.open_items
            handover.open_items = json.dumps(cleaned, ensure_ascii=False)
            await session.flush()
            await self._audit.record(
                ctx,
                "handover.open_items",
                "handover",
                str(handover_id),
                session=session,
                old_value=old,
                new_value=handover.open_items,
            )
        return handover

    # -------------------------------------------------------------------------------------------- signing
    async def hand_over(self, ctx: ActionContext, handover_id: int, signature: SignatureRequest | None) -> Handover:
        """The outgoing lead signs the draft ("Handed over"); from now on its content is frozen."""
        return await self._sign(
            ctx,
            handover_id,
            signature,
            HandoverState.DRAFT,
            HandoverState.HANDED_OVER,
            HANDED_OVER,
            "handover.hand_over",
        )

    async def accept(self, ctx: ActionContext, handover_id: int, signature: SignatureRequest | None) -> Handover:
        """The incoming lead (another person) reviews and signs ("Reviewed / accepted")."""
        return await self._sign(
            ctx, handover_id, signature, HandoverState.HANDED_OVER, HandoverState.ACCEPTED, ACCEPTED, "handover.accept"
        )

    async def _sign(
        self,
        ctx: ActionContext,
        handover_id: int,
        request: SignatureRequest | None,
        before: HandoverState,
        after: HandoverState,
        meaning: str,
        action: str,
    ) -> Handover:
        await self._audit.require(
            ctx, Permission.SIGN_HANDOVER, action=action, object_type="handover", object_id=str(handover_id)
        )
        current = await self.get(handover_id)
        if current is None:
            raise HandoverError(Text("there is no handover {handover_id}", handover_id=handover_id))
        if current.state is not before:
            raise HandoverError(
                Text(
                    "handover {handover_id} is {state}; it cannot be {after} now",
                    handover_id=handover_id,
                    state=STATE_WORDS[current.state],
                    after=STATE_WORDS[after],
                )
            )
        if after is HandoverState.ACCEPTED and await self.handed_over_by(current) == ctx.user_id:
            raise HandoverError(Text("the incoming lead must be another person than the one who handed over"))
        if request is None and self.signature_required:
            raise SignatureRequired(Text("signing the handover"))
        signer = None
        if request is not None:
            signer = await self._signatures.prepare(
                ctx,
                username=request.username,
                password=request.password,
                meaning=request.meaning or meaning,
                object_type="handover",
                object_id=str(handover_id),
            )
        async with self._audit.transaction() as session:
            handover = await session.get(Handover, handover_id)
            if handover is None or handover.state is not before:
                raise HandoverError(
                    Text("handover {handover_id} changed meanwhile; reload it", handover_id=handover_id)
                )
            signature_id = None
            if signer is not None:
                signature = await self._signatures.write(
                    ctx,
                    signer,
                    object_type="handover",
                    object_id=str(handover_id),
                    content=signed_content(handover),
                    session=session,
                )
                signature_id = signature.id
            if after is HandoverState.HANDED_OVER:
                handover.outgoing_signature_id = signature_id
            else:
                handover.incoming_signature_id = signature_id
            handover.state = after
            await session.flush()
            await self._audit.record(
                ctx,
                action,
                "handover",
                str(handover_id),
                session=session,
                old_value=before.value,
                new_value=after.value,
            )
        return handover

    # ---------------------------------------------------------------------------------------------- reads
    async def handed_over_by(self, handover: Handover) -> int | None:
        """The user id of the outgoing lead, or None before it was handed over.

        From the signature when there is one, else from the `handover.hand_over` audit row: with signatures off
        the four-eyes rule (outgoing and incoming are two people) must hold all the same.
        """
        if handover.state is HandoverState.DRAFT or handover.id is None:
            return None
        if handover.outgoing_signature_id is not None:
            outgoing = await self._signatures.get(handover.outgoing_signature_id)
            if outgoing is not None:
                return outgoing.user_id
        rows = await self._audit.query(
            action="handover.hand_over", object_type="handover", object_id=str(handover.id), limit=1
        )
        return rows[0].user_id if rows else None

    async def get(self, handover_id: int) -> Handover | None:
        """One handover by id."""
        async with self._db.session() as session:
            return await session.get(Handover, handover_id)

    async def recent(self, scope: str | None = None, limit: int = 50) -> list[Handover]:
        """The latest `limit` handovers (of one scope, or all), newest shift first."""
        statement = select(Handover)
        if scope is not None:
            statement = statement.where(Handover.scope == scope)
        statement = statement.order_by(col(Handover.shift_start).desc(), col(Handover.id).desc()).limit(limit)
        async with self._db.session() as session:
            return list((await session.execute(statement)).scalars())

    async def signatures_of(self, handover: Handover) -> list[Signature]:
        """The outgoing and incoming signatures that exist, in that order."""
        ids = [i for i in (handover.outgoing_signature_id, handover.incoming_signature_id) if i is not None]
        return [s for i in ids if (s := await self._signatures.get(i)) is not None]

    async def verify(self, handover: Handover) -> bool:
        """True when every signature on the handover matches its present content (and a signed one has them)."""
        signatures = await self.signatures_of(handover)
        if self.signature_required and handover.state is not HandoverState.DRAFT and not signatures:
            return False
        content = signed_content(handover)
        return all(self._signatures.verify(s, content) for s in signatures)

    async def pdf(self, handover: Handover, zone: ZoneInfo | None = None) -> bytes:
        """The handover as a PDF (built in a worker thread: reportlab is CPU work)."""
        signatures = await self.signatures_of(handover)
        zone = zone or self._plant.site.zone
        return await asyncio.to_thread(
            render_pdf, self._plant.site.name, handover, signatures, zone, await self.verify(handover)
        )

    # ------------------------------------------------------------------------------------------- internal
    def _lines(self, scope: str) -> list[str]:
        names = [(area.name, line.name) for area, line in self._plant.lines()]
        if not scope:
            return [ln for _, ln in names]
        chosen = [ln for area, ln in names if scope in (area, ln)]
        if not chosen:
            raise ValueError(Text("{scope!r} is neither an area nor a line of this plant", scope=scope))
        return chosen

    async def _draft_in(self, session: Any, handover_id: int) -> Handover:
        handover: Handover | None = await session.get(Handover, handover_id)
        if handover is None:
            raise HandoverError(Text("there is no handover {handover_id}", handover_id=handover_id))
        if handover.state is not HandoverState.DRAFT:
            raise HandoverError(
                Text("handover {handover_id} is signed; its content can no longer change", handover_id=handover_id)
            )
        return handover

    async def _previous(self, scope: str, slot: ShiftSlot) -> Handover | None:
        statement = (
            select(Handover)
            .where(
                Handover.scope == scope, col(Handover.shift_start) < slot.start, Handover.state != HandoverState.DRAFT
            )
            .order_by(col(Handover.shift_start).desc(), col(Handover.id).desc())
            .limit(1)
        )
        async with self._db.session() as session:
            return (await session.execute(statement)).scalar_one_or_none()

    async def _content(
        self, scope: str, lines: list[str], slot: ShiftSlot, carried: list[str], previous: Handover | None
    ) -> str:
        in_scope = set(lines)
        statement = (
            select(AlarmEvent)
            .where(
                AlarmEvent.kind == AlarmEventKind.ACTIVATED,
                col(AlarmEvent.server_time) >= slot.start,
                col(AlarmEvent.server_time) < slot.end,
                col(AlarmEvent.line).in_(lines),
            )
            .order_by(col(AlarmEvent.server_time), col(AlarmEvent.id))
        )
        async with self._db.session() as session:
            raised = list((await session.execute(statement)).scalars())
            count = (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(AlarmEvent)
                    .where(
                        col(AlarmEvent.kind) == AlarmEventKind.ACTIVATED,
                        col(AlarmEvent.server_time) >= slot.start,
                        col(AlarmEvent.server_time) < slot.end,
                        col(AlarmEvent.line).in_(lines),
                    )
                )
            ).scalar_one()

        def row(a: Any) -> dict[str, Any]:
            return {
                "id": a.id,
                "priority": a.priority,
                "line": a.line,
                "message": a.message,
                "state": a.state.value,
                "since": (a.activated_at or a.changed_at).astimezone(UTC).isoformat(),
                "by": a.mode_by,
                "reason": a.mode_reason,
                "until": a.shelved_until.astimezone(UTC).isoformat() if a.shelved_until else None,
            }

        standing = [row(a) for a in self._alarms.active() if a.line in in_scope]
        shelved = [row(a) for a in self._alarms.in_state(AlarmState.SHELVED) if a.line in in_scope]
        oos = [row(a) for a in self._alarms.in_state(AlarmState.OUT_OF_SERVICE) if a.line in in_scope]
        notes = [n for n in await self._notes.list(since=slot.start, until=slot.end, limit=500) if n.line in in_scope]
        production = []
        for _, line in self._plant.lines():
            if line.name not in in_scope:
                continue
            entry: dict[str, Any] = {"line": line.name}
            for key, tag in (("good", line.good_count_tag), ("reject", line.reject_count_tag)):
                if tag is None:
                    continue
                state = self._cache.get(tag)
                entry[key] = state.value if state is not None and state.good else None
                entry[f"{key}_quality"] = state.quality.value if state is not None else "missing"
            if line.good_count_tag or line.reject_count_tag:
                good, reject = await self.counts(line.name, slot.start, min(slot.end, self._clock()))
                if line.good_count_tag:
                    entry["good_delta"] = good
                if line.reject_count_tag:
                    entry["reject_delta"] = reject
            production.append(entry)
        return canonical_json(
            {
                "shift": {
                    "name": slot.name,
                    "date": slot.date.isoformat(),
                    "start": slot.start.isoformat(),
                    "end": slot.end.isoformat(),
                },
                "scope": scope or "site",
                "drafted_at": self._clock().astimezone(UTC).isoformat(),
                "alarms_raised": {
                    "count": count,
                    "rows": [
                        {
                            "alarm_id": e.alarm_id,
                            "priority": e.priority,
                            "line": e.line,
                            "message": e.message,
                            "at": e.server_time.astimezone(UTC).isoformat(),
                        }
                        for e in raised[-200:]
                    ],
                },
                "alarms_standing": standing,
                "alarms_shelved": shelved,
                "alarms_out_of_service": oos,
                "notes": [
                    {
                        "id": n.id,
                        "key": n.note_key,
                        "version": n.version,
                        "line": n.line,
                        "machine": n.machine,
                        "category": n.category.value,
                        "author": n.author_name,
                        "text": n.text,
                        "at": n.created_at.astimezone(UTC).isoformat(),
                    }
                    for n in reversed(notes)
                ],
                "production": production,
                "production_note": RECORDED_COUNTS_NOTE,
                "carried_open_items": carried,
                "carried_from": previous.id if previous is not None else None,
            }
        )


def render_pdf(site: str, handover: Handover, signatures: list[Signature], zone: ZoneInfo, valid: bool) -> bytes:
    """The handover report as PDF bytes, signature manifestations at the end (call off the event loop)."""
    from hmi.records.pdf import PdfReport

    data = json.loads(handover.content)
    items: list[str] = json.loads(handover.open_items)
    shift = data["shift"]
    state = handover.state.value.replace("_", " ")

    def local(iso: str | None) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if iso else ""

    report = PdfReport(
        f"Shift handover {handover.id} · {site}",
        meta=[f"{shift['name']} shift of {shift['date']} ({data['scope']}) · {state}"],
        footer=[f"Times are plant local time ({zone.key})."],
        author=site,
        cell_size=10,
    )
    report.paragraph(
        f"{site} — shift handover: {shift['name']} shift of {shift['date']} ({data['scope']})", report.styles.title
    )
    report.paragraph(
        f"{local(shift['start'])} to {local(shift['end'])}; state: {state}; drafted {local(data['drafted_at'])}"
    )
    for title, key in (
        ("Alarms standing", "alarms_standing"),
        ("Shelved alarms", "alarms_shelved"),
        ("Out of service", "alarms_out_of_service"),
    ):
        report.heading(title)
        report.table(
            ["P", "Line", "Alarm", "State", "Since", "By / reason"],
            [
                [
                    a["priority"],
                    a["line"],
                    a["message"],
                    a["state"],
                    local(a["since"]),
                    " ".join(x for x in (a["by"], a["reason"]) if x),
                ]
                for a in data[key]
            ],
        )
    raised = data["alarms_raised"]
    report.heading(f"Alarms raised during the shift: {raised['count']}")
    report.table(
        ["Time", "P", "Line", "Alarm"],
        [[local(e["at"]), e["priority"], e["line"], e["message"]] for e in raised["rows"]],
    )
    report.heading("Shift notes")
    report.table(
        ["Time", "Line", "Category", "Author", "Note"],
        [
            [
                local(n["at"]),
                f"{n['line']} {n['machine']}".strip(),
                n["category"],
                n["author"],
                n["text"] + (f" (version {n['version']})" if n["version"] > 1 else ""),
            ]
            for n in data["notes"]
        ],
    )
    report.heading("Production counts")
    report.table(
        ["Line", "Good now", "Good this shift", "Reject now", "Reject this shift"],
        [
            [p["line"], p.get("good"), p.get("good_delta"), p.get("reject"), p.get("reject_delta")]
            for p in data["production"]
        ],
    )
    report.paragraph(data["production_note"])
    report.heading("Open items carried from the last handover")
    report.table(["Item"], [[i] for i in data["carried_open_items"]])
    report.heading("Open items handed on")
    report.table(["Item"], [[i] for i in items])
    report.heading("Signatures")
    if not signatures:
        report.paragraph("not signed")
    for s in signatures:
        report.paragraph(manifestation(s, zone) + f" (UTC {s.signed_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')})")
    report.spacer(2)
    report.paragraph(
        "Signatures verified against this content."
        if valid
        else "WARNING: the content does not match the signatures: the report was changed after signing."
    )
    return report.build()

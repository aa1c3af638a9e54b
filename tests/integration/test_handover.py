"""Shift handover on real databases: the draft, both signatures, binding to content, the PDF."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.access.auth import UserService
from hmi.access.roles import Role
from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.alarms.journal import journal_row
from hmi.alarms.service import AlarmService
from hmi.clock import ManualClock
from hmi.oee.service import OeeService
from hmi.records.audit import AuditLog
from hmi.records.handover import HandoverError, HandoverService
from hmi.records.notes import ShiftNotes
from hmi.records.signatures import SignatureRefused, SignatureRequest, SignatureRequired, SignatureService
from hmi.shifts import current_shift
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, AlarmEventKind, Handover, HandoverState
from hmi.tags import Quality, TagCache, TagState
from tests.integration.test_notes import sign_in
from tests.plant_fixture import small_plant

PASSWORD = "a good password"


class World:
    def __init__(self, db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> None:
        self.plant = small_plant("opc.tcp://127.0.0.1:4840")
        self.cache = TagCache()
        self.engine = AlarmEngine(self.plant, self.cache, clock)
        self.notes = ShiftNotes(db, audit, clock)
        self.signatures = SignatureService(db, audit, users, clock)
        self.alarms = AlarmService(self.engine, db, audit, clock)
        # No historian runs here: the shift's quantities are zero (test_production_counts_come_from_the_historian).
        self.handover = HandoverService(
            self.plant,
            db,
            audit,
            self.signatures,
            self.notes,
            self.engine,
            self.cache,
            clock,
            counts=OeeService(self.plant, db, audit, clock).counts,
        )
        self.clock = clock
        self.db = db

    def set(self, **values: object) -> None:
        now = self.clock.now()
        self.cache.update(
            [TagState(name.replace("_", "."), v, 0, Quality.GOOD, now, now, now) for name, v in values.items()]
        )


@pytest.fixture
def world(db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> World:
    w = World(db, audit, users, clock)
    w.engine.start()
    yield w  # type: ignore[misc]
    w.engine.stop()


@pytest.mark.req("REC-013")
async def test_draft_sign_accept_and_pdf(world: World, users: UserService, audit: AuditLog, clock: ManualClock) -> None:
    # The Berlin early shift runs 05:00-13:00 UTC in January.
    clock.set(datetime(2025, 1, 6, 5, 30, tzinfo=UTC))
    lena = await sign_in(users, "lena", Role.LEAD)
    kai = await sign_in(users, "kai", Role.LEAD)
    olga = await sign_in(users, "olga", Role.OPERATOR)
    world.set(L1_Good=1000, L1_Reject=10)
    world.set(L1_M1_Temp=85.0, L1_M1_Jam=True)
    async with world.db.session(write=True) as session:
        # The journal writer is not running here; store the activations the engine made, as it would.
        for alarm in world.engine.active():
            await session.execute(
                sa.insert(AlarmEvent),
                [journal_row(AlarmChange(AlarmEventKind.ACTIVATED, alarm, clock.now()), clock.now())],
            )
        await session.commit()
    await world.alarms.shelve(lena, ["L1.M1.Temp.H"], "sensor check", timedelta(hours=2))
    await world.notes.add(olga, "L1", "Jam at M1 twice", "Early", clock.now().date(), category="production")
    clock.advance(3600)
    world.set(L1_Good=1500, L1_Reject=12)

    with pytest.raises(Exception, match="may not sign handover"):
        await world.handover.draft(olga, "L1")
    draft = await world.handover.draft(lena, "L1")
    content = json.loads(draft.content)
    assert content["shift"]["name"] == "Early"
    assert content["alarms_raised"]["count"] == 2
    assert {a["id"] for a in content["alarms_shelved"]} == {"L1.M1.Temp.H"}
    assert {a["id"] for a in content["alarms_standing"]} == {"L1.M1.Jam.discrete"}
    assert [n["text"] for n in content["notes"]] == ["Jam at M1 twice"]
    [line] = content["production"]
    assert (line["good"], line["good_delta"], line["reject"], line["reject_delta"]) == (1500, 0, 12, 0)
    assert "recorded by the historian" in content["production_note"]
    assert content["carried_open_items"] == []

    draft = await world.handover.set_open_items(lena, draft.id or 0, ["Order seal for M1", " "])
    with pytest.raises(SignatureRequired):
        await world.handover.hand_over(lena, draft.id or 0, None)
    with pytest.raises(SignatureRefused):
        await world.handover.hand_over(lena, draft.id or 0, SignatureRequest("nope", "lena"))
    handed = await world.handover.hand_over(lena, draft.id or 0, SignatureRequest(PASSWORD, "lena"))
    assert handed.state is HandoverState.HANDED_OVER
    with pytest.raises(HandoverError):
        await world.handover.set_open_items(lena, draft.id or 0, ["sneaked in"])
    with pytest.raises(HandoverError, match="another person"):
        await world.handover.accept(lena, draft.id or 0, SignatureRequest(PASSWORD))
    clock.advance(60)
    accepted = await world.handover.accept(kai, draft.id or 0, SignatureRequest(PASSWORD, "kai"))
    assert accepted.state is HandoverState.ACCEPTED
    out, inc = await world.handover.signatures_of(accepted)
    assert (out.meaning, out.username, inc.meaning, inc.username) == (
        "Handed over",
        "lena",
        "Reviewed / accepted",
        "kai",
    )
    assert await world.handover.verify(accepted)

    pdf = await world.handover.pdf(accepted)
    assert pdf.startswith(b"%PDF")
    assert await audit.verify() is None

    # The next shift's draft carries the open items over.
    clock.set(datetime(2025, 1, 6, 13, 30, tzinfo=UTC))
    nxt = await world.handover.draft(kai, "L1")
    assert json.loads(nxt.content)["carried_open_items"] == ["Order seal for M1"]
    assert json.loads(nxt.open_items) == ["Order seal for M1"]
    assert nxt.shift_name == current_shift(world.plant.site, clock.now()).name == "Late"


@pytest.mark.req("REC-010")
async def test_changing_content_after_signing_fails_verification(world: World, users: UserService) -> None:
    lena = await sign_in(users, "lena", Role.LEAD)
    draft = await world.handover.draft(lena, "")
    handed = await world.handover.hand_over(lena, draft.id or 0, SignatureRequest(PASSWORD, "lena"))
    assert await world.handover.verify(handed)
    # A direct edit in the database (the application offers no path for it) breaks the binding.
    async with world.db.session(write=True) as session:
        stored = await session.get(Handover, handed.id)
        assert stored is not None
        stored.open_items = json.dumps(["nothing open, honestly"])
        await session.commit()
    tampered = await world.handover.get(handed.id or 0)
    assert tampered is not None
    assert not await world.handover.verify(tampered)
    pdf = await world.handover.pdf(tampered)
    assert pdf.startswith(b"%PDF")


@pytest.mark.req("REC-013")
async def test_production_counts_come_from_the_historian(
    world: World, users: UserService, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    # The historian records the counters; the handover's quantities are then exact across an HMI restart and a
    # counter reset.
    from hmi.historian import Historian

    clock.set(datetime(2025, 1, 6, 4, 50, tzinfo=UTC))  # before the early shift (05:00-13:00 UTC)
    historian = Historian(world.plant, world.cache, world.db, tmp_path / "spool", clock)
    await historian.start()
    try:
        world.set(L1_Good=900, L1_Reject=9)
        for minutes, good, reject in ((20, 1000, 10), (60, 1400, 11), (90, 50, 11), (120, 300, 13)):
            clock.set(datetime(2025, 1, 6, 4, 50, tzinfo=UTC) + timedelta(minutes=minutes))
            world.set(L1_Good=good, L1_Reject=reject)
            await historian.flush()
    finally:
        await historian.stop()
    clock.advance(60)
    lena = await sign_in(users, "lena", Role.LEAD)
    restarted = HandoverService(
        world.plant,
        world.db,
        audit,
        world.signatures,
        world.notes,
        world.engine,
        world.cache,
        clock,
        counts=OeeService(world.plant, world.db, audit, clock).counts,
    )
    content = json.loads((await restarted.draft(lena, "L1")).content)
    [line] = content["production"]
    # 900 before the shift is the baseline: +100, +400, reset to 50 (+50), +250; rejects 9 -> 10 -> 11 -> 11 -> 13.
    assert (line["good_delta"], line["reject_delta"]) == (800, 4)
    assert "recorded by the historian" in content["production_note"]


@pytest.mark.req("REC-013")
async def test_with_signatures_off_the_incoming_lead_is_still_another_person(
    world: World, users: UserService, audit: AuditLog, clock: ManualClock
) -> None:
    clock.set(datetime(2025, 1, 6, 5, 30, tzinfo=UTC))
    lena = await sign_in(users, "lena", Role.LEAD)
    kai = await sign_in(users, "kai", Role.LEAD)
    world.handover.signature_required = False
    draft = await world.handover.draft(lena, "L1")
    handed = await world.handover.hand_over(lena, draft.id or 0, None)
    assert handed.outgoing_signature_id is None
    with pytest.raises(HandoverError, match="another person"):
        await world.handover.accept(lena, draft.id or 0, None)
    assert await world.handover.handed_over_by(handed) == lena.user_id
    accepted = await world.handover.accept(kai, draft.id or 0, None)
    assert accepted.state is HandoverState.ACCEPTED
    assert await audit.verify() is None

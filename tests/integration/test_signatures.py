"""Electronic signatures on real databases: password checks, refusals audited, binding to content, alarms."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.access.sessions import SessionEnd
from hmi.alarms.engine import AlarmEngine
from hmi.alarms.service import AlarmService, command_content
from hmi.clock import ManualClock
from hmi.config import SignaturePolicy
from hmi.records.audit import AuditLog
from hmi.records.signatures import (
    SignatureRefused,
    SignatureRequest,
    SignatureRequired,
    SignatureService,
    UserIdRequired,
)
from hmi.store.database import Database
from hmi.tags import Quality, TagCache, TagState
from tests.integration.test_notes import sign_in
from tests.plant_fixture import small_plant

PASSWORD = "a good password"


@pytest.fixture
def signatures(db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> SignatureService:
    return SignatureService(db, audit, users, clock)


@pytest.mark.req("REC-008", "REC-009")
async def test_first_signing_with_user_id_then_password_alone(
    users: UserService, audit: AuditLog, clock: ManualClock, signatures: SignatureService
) -> None:
    lena = await sign_in(users, "lena", Role.LEAD)
    first = await signatures.sign(
        lena,
        username="Lena",
        password=PASSWORD,
        meaning="Reviewed",
        object_type="note",
        object_id="7",
        content="the note text",
    )
    clock.advance(60)
    later = await signatures.sign(
        lena,
        username=None,
        password=PASSWORD,
        meaning="Approved",
        object_type="note",
        object_id="7",
        content="the note text",
    )
    assert (first.user_id, first.username, first.printed_name, first.meaning) == (
        lena.user_id,
        "lena",
        "Lena",
        "Reviewed",
    )
    assert first.signed_at.tzinfo is not None
    assert later.signed_at == clock.now()
    assert signatures.verify(first, "the note text")
    assert not signatures.verify(first, "the note text, changed")
    [stored] = [s for s in await signatures.of("note", "7") if s.id == first.id]
    assert stored.content_hash == first.content_hash
    entries = await audit.query(action="sign")
    assert [e.new_value for e in entries][-1] == (
        "Signed by Lena (lena) on 2025-01-06 06:00:00 UTC — meaning: Reviewed"
    )
    assert entries[-1].action_id == lena.id == first.action_id
    assert await audit.verify() is None


@pytest.mark.req("REC-012")
async def test_wrong_password_or_other_user_is_refused_and_audited(
    users: UserService, audit: AuditLog, signatures: SignatureService
) -> None:
    lena = await sign_in(users, "lena", Role.LEAD)
    await sign_in(users, "olga", Role.OPERATOR)
    with pytest.raises(SignatureRefused):
        await signatures.sign(
            lena, username=None, password="not it", meaning="Approved", object_type="note", object_id="1", content="x"
        )
    # Olga's right password does not let anyone sign as Olga on Lena's session.
    with pytest.raises(SignatureRefused):
        await signatures.sign(
            lena, username="olga", password=PASSWORD, meaning="Approved", object_type="note", object_id="1", content="x"
        )
    failed = await audit.query(action="sign.failed")
    assert [e.reason for e in reversed(failed)] == ["wrong password", "user id 'olga' is not the signed-in person"]
    assert all(e.username == "lena" for e in failed)
    assert await signatures.of("note", "1") == []


async def alarm_service(
    db: Database, audit: AuditLog, clock: ManualClock, signatures: SignatureService, policy: SignaturePolicy
) -> tuple[AlarmService, AlarmEngine, TagCache]:
    plant = small_plant("opc.tcp://127.0.0.1:4840")
    cache = TagCache()
    engine = AlarmEngine(plant, cache, clock)
    engine.start()
    return AlarmService(engine, db, audit, clock, signature_policy=policy, signatures=signatures), engine, cache


async def raise_alarms(cache: TagCache, clock: ManualClock) -> None:
    now = clock.now()
    cache.update(
        [
            TagState("L1.M1.Temp", 85.0, 0, Quality.GOOD, now, now, now),
            TagState("L1.M1.Jam", True, 0, Quality.GOOD, now, now, now),
        ]
    )


@pytest.mark.req("REC-010", "REC-011")
async def test_priority_1_acknowledge_needs_a_signature_bound_to_the_command(
    db: Database, users: UserService, audit: AuditLog, clock: ManualClock, signatures: SignatureService
) -> None:
    olga: ActionContext = await sign_in(users, "olga", Role.OPERATOR)
    service, engine, cache = await alarm_service(db, audit, clock, signatures, SignaturePolicy())
    await raise_alarms(cache, clock)
    jam = "L1.M1.Jam.discrete"
    alarm = engine.get(jam)
    assert alarm is not None
    assert alarm.priority == 1
    assert service.needs_signature("acknowledge", [jam])
    assert not service.needs_signature("acknowledge", ["L1.M1.Temp.H"])
    with pytest.raises(SignatureRequired):
        await service.acknowledge(olga, [jam], "seen")
    with pytest.raises(SignatureRefused):
        await service.acknowledge(olga, [jam], "seen", signature=SignatureRequest("wrong password", "olga"))
    assert engine.get(jam).state.unacknowledged  # type: ignore[union-attr]
    # Priority 2 needs none under the default policy.
    await service.acknowledge(olga, ["L1.M1.Temp.H"], "")
    ctx = olga.for_action()
    result = await service.acknowledge(ctx, [jam], "seen", signature=SignatureRequest(PASSWORD, "olga"))
    assert [c.alarm.id for c in result.changes] == [jam]
    [signature] = await signatures.of("alarm", jam)
    assert (signature.meaning, signature.action_id) == ("Acknowledged", ctx.id)
    assert signatures.verify(signature, command_content("alarm.acknowledge", [jam], "seen", clock.now()))
    assert not signatures.verify(signature, command_content("alarm.acknowledge", [jam], "other", clock.now()))

    lena = await sign_in(users, "lena", Role.LEAD)
    with pytest.raises(SignatureRequired):
        await service.shelve(lena, [jam], "sensor check", timedelta(hours=1))
    ctx = lena.for_action()
    await service.shelve(ctx, [jam], "sensor check", timedelta(hours=1), signature=SignatureRequest(PASSWORD, "lena"))
    _acknowledged, shelved = await signatures.of("alarm", jam)
    assert (shelved.meaning, shelved.action_id) == ("Shelved", ctx.id)
    assert (await audit.query(action="sign"))[0].action_id == ctx.id
    assert await audit.verify() is None
    engine.stop()


@pytest.mark.req("REC-011")
async def test_no_policy_means_no_signature_asked(
    db: Database, users: UserService, audit: AuditLog, clock: ManualClock, signatures: SignatureService
) -> None:
    olga = await sign_in(users, "olga", Role.OPERATOR)
    service, engine, cache = await alarm_service(
        db, audit, clock, signatures, SignaturePolicy(acknowledge_priority_1=False, shelve=False, out_of_service=False)
    )
    await raise_alarms(cache, clock)
    result = await service.acknowledge(olga, ["L1.M1.Jam.discrete"], "")
    assert len(result.changes) == 1
    assert await audit.query(action="sign") == []
    engine.stop()


@pytest.mark.req("REC-012")
async def test_wrong_signing_passwords_count_toward_the_lockout(
    users: UserService, audit: AuditLog, signatures: SignatureService
) -> None:
    lena = await sign_in(users, "lena", Role.LEAD)
    panel = await users.sessions.start(lena)
    for _ in range(users.policy.lockout_attempts):
        with pytest.raises(SignatureRefused):
            await signatures.sign(
                lena,
                username=None,
                password="guess",
                meaning="Approved",
                object_type="note",
                object_id="1",
                content="x",
            )
    assert [e.action for e in await audit.query(action="login.lockout")] == ["login.lockout"]
    # Whoever guessed at her unattended panel is signed out there as well.
    check = await users.sessions.check(panel)
    assert check.ctx is None
    assert check.ended is SessionEnd.LOCKOUT
    # Locked: even the right password neither signs nor signs in.
    with pytest.raises(SignatureRefused):
        await signatures.sign(
            lena, username=None, password=PASSWORD, meaning="Approved", object_type="note", object_id="1", content="x"
        )
    assert (await users.sign_in("lena", PASSWORD)).ctx is None


@pytest.mark.req("REC-008")
async def test_a_password_alone_needs_a_recent_full_signature_of_the_same_session(
    users: UserService, audit: AuditLog, clock: ManualClock, signatures: SignatureService
) -> None:
    lena = await sign_in(users, "lena", Role.LEAD)
    at_panel = replace(lena, station="panel-1")

    def sign(ctx: ActionContext, username: str | None) -> Any:
        return signatures.sign(
            ctx,
            username=username,
            password=PASSWORD,
            meaning="Approved",
            object_type="note",
            object_id="1",
            content="x",
        )

    # Whatever a screen believes, the first signing of a session needs the user id as well.
    assert signatures.first_signing(at_panel)
    with pytest.raises(UserIdRequired, match="give your user id as well as your password"):
        await sign(at_panel, None)
    await sign(at_panel, "lena")
    assert not signatures.first_signing(at_panel)
    clock.advance(60)
    await sign(at_panel, None)
    # Another station is another session.
    with pytest.raises(UserIdRequired):
        await sign(replace(lena, station="panel-2"), None)
    # Continuity ends after the idle logoff time without signing, and when the person's sessions end.
    clock.advance(users.policy.logoff_min * 60 + 1)
    with pytest.raises(UserIdRequired):
        await sign(at_panel, None)
    await sign(at_panel, "lena")
    signatures.end_signing("Lena")
    with pytest.raises(UserIdRequired):
        await sign(at_panel, None)
    refused = await audit.query(action="sign.failed")
    assert {e.reason for e in refused} == {"user id missing on the first signing of the session"}
    assert (await users.get("lena")).failed_logins == 0  # type: ignore[union-attr]  # not a wrong password

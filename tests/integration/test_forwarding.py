"""Commands given on a standby of a redundant pair are run once by the active instance, and shift notes written on
one instance reach the others' listeners (hmi/cluster/commands.py, hmi/cluster/notes_feed.py; docs/deployment.md).

Two in-process runtimes on one fresh PostgreSQL database and a real asyncua server, as in test_cluster.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asyncua.common.callback import CallbackType

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.access.sessions import SessionEnd
from hmi.alarms.states import AlarmState
from hmi.cluster.commands import NotForwarded, decode
from hmi.config import parse_config
from hmi.control.outcome import Refusal, Result
from hmi.records.audit import system_context
from hmi.records.notes import NoteChange
from hmi.records.signatures import SignatureRefused, SignatureRequest, SignatureRequired
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.store.models import Acknowledgement, ClusterCommand
from tests.conftest import PERSON_PASSWORD, sign_in
from tests.integration.conftest import PAIR_PLANT
from tests.integration.test_api_rest import app_of
from tests.opcua_server import SmallServer, free_port
from tests.waiting import until

pytestmark = pytest.mark.postgres

# The pair's plant with a setpoint to write.
PLANT = (
    PAIR_PLANT
    + """          - {{name: Setpoint, endpoint: e, node_id: "ns=2;s=Setpoint", unit: m/min, eng_range: [0, 200],
              write: {{min: 0, max: 150}}}}
"""
)


class Pair:
    """The active instance `a`, the standby `b`, and the writes the OPC UA server received."""

    def __init__(self, server: SmallServer, a: Runtime, b: Runtime) -> None:
        self.server, self.a, self.b = server, a, b
        self.writes: list[Any] = []

    def heard_write(self, event: Any, _dispatcher: Any) -> None:
        if not event.is_external:
            return  # the server's own (its status, the test's writes)
        for node in event.request_params.NodesToWrite:
            self.writes.append((node.NodeId.Identifier, node.Value.Value.Value))


@pytest.fixture
async def pair(pg_url: str, tmp_path: Path) -> AsyncIterator[Pair]:
    server = SmallServer(free_port(), {"Speed": 10.0, "Setpoint": 50.0})
    await server.start()
    plant = parse_config(PLANT.format(url=server.url), "pair.yaml")

    def instance(name: str) -> Runtime:
        return Runtime(
            plant, Database(pg_url), instance=name, data_dir=tmp_path / name, audit_key_file=tmp_path / "audit.key"
        )

    a, b = instance("hmi-a"), instance("hmi-b")
    await a.start()
    await b.start()
    pair = Pair(server, a, b)
    assert server.server is not None
    server.server.subscribe_server_callback(CallbackType.PostWrite, pair.heard_write)
    try:
        assert a.active
        assert not b.active
        await until(lambda: all(s.connected for s in a.sources), timeout=15, what="the active one to connect")
        await until(lambda: b.cache.get("Setpoint"), timeout=15, what="the feed to reach the standby")
        yield pair
    finally:
        await b.stop()
        if a.started:
            await a.stop()
        await server.stop()


async def _count(rt: Runtime, statement: Any) -> int:
    async with rt.db.session() as session:
        return int((await session.execute(statement)).scalar_one())


async def _person(rt: Runtime, name: str, role: Role) -> ActionContext:
    # Signed in on the standby's panel "panel-b": the station its commands are recorded with.
    return (await sign_in(rt.users, name, role, full_name=name.title(), station="panel-b")).for_action()


def _signed(password: str) -> SignatureRequest:
    return SignatureRequest(password=password, username="lena")


async def _raise_speed_h(pair: Pair) -> None:
    await pair.server.write("Speed", 120.0)
    await until(lambda: pair.b.alarms.get("Speed.H"), timeout=15, what="the alarm on the standby")


@pytest.mark.req("RED-009")
async def test_an_acknowledgement_and_a_shelving_on_the_standby_take_effect_once(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    await _raise_speed_h(pair)

    result = await b.alarm_service.acknowledge(lead, ["Speed.H"], "seen on the standby's panel")
    assert [(c.alarm.id, c.alarm.state, c.username) for c in result.changes] == [
        ("Speed.H", AlarmState.ACTIVE_ACK, "lena")
    ]
    assert result.changes[0].alarm.ref is not None, "the standby's own definition, for the screens"
    assert a.alarms.get("Speed.H").state is AlarmState.ACTIVE_ACK  # type: ignore[union-attr]
    acked = await until(
        lambda: (x := b.alarms.get("Speed.H")) and x.state is AlarmState.ACTIVE_ACK and x, timeout=5, what="the feed"
    )
    assert acked.acked_by == "lena"
    kinds = [e.kind for e in await a.alarm_service.history("Speed.H")]
    assert kinds.count("acknowledged") == 1
    assert await _count(a, sa.select(sa.func.count()).select_from(Acknowledgement)) == 1
    (entry,) = await a.audit.query(action="alarm.acknowledge")
    assert (entry.username, entry.station, entry.user_id, entry.action_id) == ("lena", "panel-b", lead.user_id, lead.id)
    # Acknowledging again on the standby needs nothing: the result says so (the active one's words).
    again = await b.alarm_service.acknowledge(lead.for_action(), ["Speed.H"], "twice")
    assert (again.changes, again.skipped) == ([], ["Speed.H"])

    # Shelving is signed (the plant's default policy): the password is checked on the standby, the signature
    # (without it) is written by the active instance, bound to what it did.
    shelve = b.alarm_service.shelve
    with pytest.raises(SignatureRequired):
        await shelve(lead.for_action(), ["Speed.H"], "sensor being replaced", timedelta(hours=1))
    with pytest.raises(SignatureRefused):
        await shelve(lead.for_action(), ["Speed.H"], "x", timedelta(hours=1), signature=_signed("wrong password"))
    shelved = await shelve(
        lead.for_action(), ["Speed.H"], "sensor being replaced", timedelta(hours=1), signature=_signed(PERSON_PASSWORD)
    )
    assert [c.alarm.state for c in shelved.changes] == [AlarmState.SHELVED]
    assert a.alarms.get("Speed.H").state is AlarmState.SHELVED  # type: ignore[union-attr]
    (shelving,) = await a.audit.query(action="alarm.shelve")
    (signature,) = await a.signatures.of("alarm", "Speed.H")
    assert (signature.username, signature.meaning) == ("lena", "Shelved")
    assert shelving.username == "lena"
    assert len(await b.audit.query(action="sign.failed")) == 1, "the wrong password, audited where it was typed"
    # What the standby can check itself (the same plant file) is refused there, before anything is forwarded.
    with pytest.raises(ValueError, match="at most 8 h"):
        await shelve(lead.for_action(), ["Speed.H"], "long", timedelta(hours=9), signature=_signed(PERSON_PASSWORD))
    unshelved = await b.alarm_service.unshelve(lead.for_action(), ["Speed.H"], "sensor back")
    # Its condition still stands: annunciated afresh (ISA-18.2 cl. 14), on both instances.
    assert [c.alarm.state for c in unshelved.changes] == [AlarmState.ACTIVE_UNACK]
    assert a.alarms.get("Speed.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
    # A person who may not shelve is refused on the standby itself (and that refusal audited), nothing forwarded.
    operator = await _person(b, "otto", Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        await shelve(operator, ["Speed.H"], "no", timedelta(hours=1), signature=_signed(PERSON_PASSWORD))
    # Forwarded and run once each: the two acknowledgements, the shelving and its end.
    assert [(r.kind, r.claimed_by, r.outcome) for r in await _rows(a)] == [
        ("alarm.acknowledge", "hmi-a", "ok"),
        ("alarm.acknowledge", "hmi-a", "ok"),
        ("alarm.shelve", "hmi-a", "ok"),
        ("alarm.unshelve", "hmi-a", "ok"),
    ]


@pytest.mark.req("RED-011")
async def test_a_write_on_the_standby_reaches_the_server_once_and_a_refusal_comes_back(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    assert b.control.blocked(lead, "Setpoint") == [], "the standby does not call its own endpoint down"

    outcome = await b.control.write(lead, "Setpoint", "72.5", expected=50.0, reason="new batch")
    assert outcome.result is Result.CONFIRMED, outcome
    assert outcome.message().startswith("confirmed at")
    assert pair.writes == [("Setpoint", 72.5)]
    (entry,) = await a.audit.query(action="tag.write")
    assert (entry.username, entry.station, entry.reason) == ("lena", "panel-b", "new batch")

    refused = await b.control.write(lead.for_action(), "Setpoint", "180", reason="too much")
    assert (refused.result, refused.refusal) == (Result.REFUSED, Refusal.LIMITS)
    assert "outside the limits 0 to 150" in refused.message()
    # Compare-before-write on the active instance's own value.
    changed = await b.control.write(lead.for_action(), "Setpoint", "80", expected=50.0)
    assert (changed.refusal, changed.current) == (Refusal.CHANGED, 72.5)
    assert pair.writes == [("Setpoint", 72.5)], "refused writes send nothing"


@pytest.mark.req("RED-011")
async def test_a_recipe_download_on_the_standby_is_written_once_by_the_active_one(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    parent = "recipe Mix version 3"
    outcomes = await b.control.write_many(lead, [("Setpoint", 61.0), ("Speed", 5.0)], reason="batch 7", parent=parent)
    # In the order given: the setpoint confirmed, the measured speed (no write rule) refused by the active instance.
    assert [(o.target, o.result) for o in outcomes] == [("Setpoint", Result.CONFIRMED), ("Speed", Result.REFUSED)]
    assert pair.writes == [("Setpoint", 61.0)]
    entries = await a.audit.query(action="tag.write") + await a.audit.query(action="tag.write.refused")
    assert [(e.action, e.object_id, e.username, e.station, e.reason) for e in entries] == [
        ("tag.write", "Setpoint", "lena", "panel-b", "batch 7"),
        ("tag.write.refused", "Speed", "lena", "panel-b", "batch 7"),
    ]
    assert all(parent in (e.detail or "") for e in entries)
    # Where it was given and who carried it out, in the audit trail beside the writes.
    (ran,) = await a.audit.query(action="cluster.command.run")
    assert ran.username == "lena"
    assert ran.detail == "control.write_many given on hmi-b, carried out by hmi-a"


@pytest.mark.req("RED-010")
async def test_a_command_whose_row_is_reset_in_the_database_is_not_run_again(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    outcome = await b.control.write(lead, "Setpoint", "70", reason="new batch")
    assert outcome.result is Result.CONFIRMED
    await pair.server.write("Setpoint", 50.0)  # back, so a second write would be seen
    # Someone who can write the database makes the answered row look new: its seal still matches, it is the same row.
    async with a.db.session(write=True) as session:
        await session.execute(
            sa.update(ClusterCommand).values(
                claimed_at=None,
                claimed_by=None,
                outcome=None,
                reply=None,
                done_at=None,
                expires_at=sa.func.clock_timestamp() + timedelta(seconds=30),
            )
        )
        await session.execute(sa.text("NOTIFY hmi_commands, '0'"))
        await session.commit()
    (row,) = await until(lambda: _rows_done(a), timeout=10, what="the reset row to be answered")
    assert row.outcome == "error"
    assert "carried out already" in (row.reply or "")
    assert pair.writes == [("Setpoint", 70.0)], "the write reached the server once"
    (refusal,) = await a.audit.query(action="cluster.command.refused")
    assert "already ran" in (refusal.detail or "")
    assert len(await a.audit.query(action="tag.write")) == 1


@pytest.mark.req("RED-012")
async def test_a_command_no_active_instance_takes_is_refused_and_never_runs_later(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    await _raise_speed_h(pair)
    assert a.commands is not None
    await a.commands.stop()  # the active one takes no commands (hung, or gone before the standby took over)

    with pytest.raises(NotForwarded, match="no active server took the command"):
        await b.control.write(lead, "Setpoint", "60")
    (row,) = await _rows(a)
    assert (row.kind, row.outcome, row.claimed_at) == ("control.write", "expired", None)
    # Through the standby's REST API: not the request's fault, so 503 (try again), not 422.
    token = (await b.api_tokens.create(system_context("test-admin"), "mes", "lena"))[1]
    transport = httpx.ASGITransport(app=app_of(b))
    async with httpx.AsyncClient(transport=transport, base_url="http://hmi") as client:
        answer = await client.post(
            "/api/v1/tags/Setpoint/write", json={"value": 61}, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 503, answer.text
    assert "no active server took the command" in answer.json()["detail"]
    assert [r.outcome for r in await _rows(a)] == ["expired", "expired"]

    await a.commands.start()  # it comes back: the expired command stays expired
    done = await b.alarm_service.acknowledge(lead.for_action(), ["Speed.H"], "after the gap")
    assert len(done.changes) == 1
    assert [r.outcome for r in await _rows(a)] == ["expired", "expired", "ok"]
    assert pair.writes == []
    assert await a.audit.query(action="tag.write") == []


@pytest.mark.req("RED-012")
async def test_a_command_the_instance_gone_had_taken_is_answered_at_the_takeover_and_never_run(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    await _raise_speed_h(pair)
    # An acknowledgement an active instance took and died with (it may or may not have run it).
    now = sa.func.clock_timestamp()
    await _put_ack(
        a, lead, "taken", role="lead", station="panel-b", origin="hmi-b", claimed_by="hmi-gone", claimed_at=now
    )
    await a.stop()
    await until(lambda: b.active, timeout=10, what="the standby to take over")
    (row,) = await until(lambda: _rows_done(b), timeout=10, what="the command to be answered at the takeover")
    assert (row.outcome, row.claimed_by) == ("interrupted", "hmi-gone")
    why = decode(json.loads(row.reply or "{}")["why"])
    assert why.startswith("the active server hmi-gone stopped while carrying it out")
    assert b.alarms.get("Speed.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
    assert await b.audit.query(action="alarm.acknowledge") == []


@pytest.mark.req("RED-010")
async def test_a_forged_command_or_one_of_a_disabled_account_is_not_run(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    await _raise_speed_h(pair)
    # Someone who can write the database but has not the audit key puts a command in the table for an admin.
    await _put_ack(a, lead, "forged", role="admin", station="nowhere", origin="intruder", mac="0" * 64)
    (row,) = await until(lambda: _rows_done(a), timeout=10, what="the forged command to be answered")
    assert (row.outcome, row.claimed_by) == ("error", "hmi-a")
    assert "seal does not match" in (row.reply or "")
    (refusal,) = await a.audit.query(action="cluster.command.refused")
    assert "intruder" in (refusal.detail or "")
    assert a.alarms.get("Speed.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]

    # A person disabled after signing in on the standby: the active instance reads the account and refuses.
    admin = await sign_in(a.users, "ada", Role.ADMIN)
    await a.users.set_disabled(admin, "lena", True, reason="left the company")
    with pytest.raises(ValueError, match="unknown, disabled or locked"):
        await b.alarm_service.acknowledge(lead.for_action(), ["Speed.H"], "still here?")
    assert a.alarms.get("Speed.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]


@pytest.mark.req("RED-010")
async def test_a_command_whose_browser_session_ended_meanwhile_is_not_run(pair: Pair) -> None:
    a, b = pair.a, pair.b
    lead = await _person(b, "lena", Role.LEAD)
    # The panel's session, as a command checks it at the touch (screens.session.command).
    sid = await b.users.sessions.start(lead)
    touched = (await b.users.sessions.check(sid)).ctx
    assert touched is not None
    assert touched.session_key is not None
    await _raise_speed_h(pair)
    # Signed out (on another panel, say) after the touch on the standby, before the active instance ran it.
    await a.users.sessions.end(sid, SessionEnd.LOGOUT)
    with pytest.raises(ValueError, match="not carried out"):
        await b.alarm_service.acknowledge(touched.for_action(), ["Speed.H"], "after the sign-out")
    assert a.alarms.get("Speed.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
    (row,) = await _rows(a)
    assert (row.outcome, row.claimed_by) == ("error", "hmi-a")

    # In a live session the same command runs.
    again = (await b.users.sessions.check(await b.users.sessions.start(lead))).ctx
    assert again is not None
    await b.alarm_service.acknowledge(again.for_action(), ["Speed.H"], "signed in again")
    await until(
        lambda: a.alarms.get("Speed.H").state is AlarmState.ACTIVE_ACK,  # type: ignore[union-attr]
        timeout=10,
        what="the acknowledgement on the active instance",
    )


async def _put_ack(rt: Runtime, person: ActionContext, comment: str, **row: Any) -> None:
    """A row acknowledging Speed.H for `person`, written straight into the table (as a database writer could), and
    the NOTIFY that wakes the active instance; `row` sets or overrides columns."""
    now = sa.func.clock_timestamp()
    values = {
        "uid": comment[0] * 32,
        "kind": "alarm.acknowledge",
        "args": json.dumps({"$map": {"ids": ["Speed.H"], "comment": comment}}),
        "user_id": person.user_id,
        "username": person.username,
        "full_name": "",
        "action_id": comment,
        "created_at": now,
        "expires_at": now + timedelta(seconds=30),
    }
    async with rt.db.session(write=True) as session:
        await session.execute(sa.insert(ClusterCommand).values(**values | row))
        await session.execute(sa.text("NOTIFY hmi_commands, '0'"))
        await session.commit()


async def _rows_done(rt: Runtime) -> list[ClusterCommand]:
    rows = await _rows(rt)
    return rows if rows and all(r.outcome is not None for r in rows) else []


async def _rows(rt: Runtime) -> list[ClusterCommand]:
    async with rt.db.session() as session:
        return list((await session.execute(sa.select(ClusterCommand).order_by(ClusterCommand.id))).scalars())


@pytest.mark.req("RED-013")
async def test_a_note_written_on_one_instance_is_heard_on_the_other(pair: Pair) -> None:
    a, b = pair.a, pair.b
    heard_on_a: list[NoteChange] = []
    heard_on_b: list[NoteChange] = []
    a.notes.changes.add(heard_on_a.append)
    b.notes.changes.add(heard_on_b.append)
    lead = await _person(a, "lena", Role.LEAD)
    slot = a.shift()
    note = await a.notes.add(lead, "L", "belt 3 squeaks", slot.name, slot.date)
    await until(lambda: heard_on_b, timeout=10, what="the note on the other instance")
    assert heard_on_b == [NoteChange(note.id or 0, "L", remote=True)]
    assert heard_on_a == [NoteChange(note.id or 0, "L")], "the writer hears its own once, not back from the feed"
    amended = await b.notes.amend(lead.for_action(), note.id or 0, "belt 3 squeaks louder", "worse")
    await until(lambda: len(heard_on_a) == 2, timeout=10, what="the amendment on the first instance")
    assert heard_on_a[-1] == NoteChange(amended.id or 0, "L", remote=True)
    assert [n.text for n in await b.notes.list(line="L")] == ["belt 3 squeaks louder"]

"""User journeys through the screens with NiceGUI's simulated user, on a real OPC UA server and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from asyncua import ua
from nicegui import Client

from hmi.access.context import PermissionDenied
from hmi.access.roles import Role
from hmi.alarms.states import AlarmState
from hmi.store.models import Acknowledgement, AlarmEvent, AuditEntry, ShiftNote
from tests.screens.conftest import PASSWORD, USERS, Harness


@pytest.mark.req("ACC-012")
async def test_pages_need_a_session(hmi: Harness) -> None:
    await hmi.user.open("/alarms")
    await hmi.user.should_see(marker="sign-in")
    await hmi.user.should_not_see(marker="alarm-table")


@pytest.mark.parametrize(("username", "role"), [(u, r.value) for u, r, _ in USERS])
@pytest.mark.req("SCR-001", "SCR-003")
async def test_login_per_role_shows_overview(hmi: Harness, username: str, role: str) -> None:
    await hmi.login(username)
    await hmi.user.should_see("L1", retries=50)
    await hmi.user.should_see(f"· {role}")
    await hmi.user.should_see("RUNNING (Execute)", retries=50)


@pytest.mark.req("ACC-004")
async def test_wrong_password_is_refused_and_audited(hmi: Harness) -> None:
    await hmi.user.open("/login")
    hmi.user.find(marker="username").type("olga")
    hmi.user.find(marker="password").type("not-the-password")
    hmi.user.find(marker="sign-in").click()
    await hmi.user.should_see("Wrong user name or password", retries=50)
    entries = await hmi.rt.audit.query(action="login.failed")
    assert [e.object_id for e in entries] == ["olga"]


@pytest.mark.req("SCR-001", "SCR-003")
async def test_overview_shows_lines_values_and_alarm_counts(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_see("300.0", retries=50)
    await hmi.user.should_see("1,000", retries=50)
    await hmi.server.write("L1.M1.Jam", True)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Jam.discrete") is not None)
    counts = hmi.user.find(marker="count-p1")
    await hmi.user.should_see("Jam at M1", retries=50)  # the banner names the highest-priority unacknowledged alarm
    assert any(el.text == "1" for el in counts.elements)


@pytest.mark.req("OPC-002")
async def test_bad_value_never_looks_like_a_good_number(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.server.write("L1.M1.Temp", 71.0, status=ua.StatusCodes.BadSensorFailure)
    await hmi.user.should_see("BAD Bad_SensorFailure", retries=50)


@pytest.mark.req("ALM-021", "SEC-006", "SCR-004")
async def test_operator_acknowledges_alarm_with_comment_and_it_is_stored(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.login("olga")
    await hmi.user.open("/alarms?focus=L1.M1.Temp.H")
    # Alarm text comes from the plant: shown literally, never as markup.
    await hmi.user.should_see("<b>Temp</b> high", retries=50)
    hmi.user.find(marker="ack-selected").click()
    hmi.user.find(marker="ack-comment").type("checked the cooling valve")
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("1 alarm(s) acknowledged and stored.", retries=50)
    alarm = hmi.rt.alarms.get("L1.M1.Temp.H")
    assert alarm is not None
    assert alarm.state is AlarmState.ACTIVE_ACK
    assert alarm.acked_by == "olga"
    async with hmi.rt.db.session() as s:
        acks = (await s.execute(sa.select(Acknowledgement))).scalars().all()
        events = (await s.execute(sa.select(AlarmEvent).where(AlarmEvent.kind == "acknowledged"))).scalars().all()
        audit = (await s.execute(sa.select(AuditEntry).where(AuditEntry.action == "alarm.acknowledge"))).scalars().all()
    assert [(a.alarm_id, a.username, a.comment) for a in acks] == [
        ("L1.M1.Temp.H", "olga", "checked the cooling valve")
    ]
    assert len(events) == 1
    assert events[0].action_id == acks[0].action_id == audit[0].action_id


@pytest.mark.req("REC-009", "REC-011", "SCR-004")
async def test_acknowledge_all_visible(hmi: Harness) -> None:
    await hmi.server.write("L1.M1.Temp", 99.0)
    await hmi.server.write("L1.M1.Jam", True)
    await hmi.until(lambda: len(hmi.rt.alarms.active()) == 3)
    await hmi.login("lena")
    await hmi.user.open("/alarms")
    hmi.user.find(marker="ack-all").click()
    # Two of them are priority 1: the plant's policy asks for an electronic signature, user id first.
    hmi.sign("lena")
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("3 alarm(s) acknowledged and stored.", retries=50)
    [signed] = await hmi.rt.audit.query(action="sign")
    # The audit row repeats the manifestation of the stored signature (its own time, which may be a few
    # milliseconds, and so possibly one displayed second, before the audit row's append time).
    [signature] = await hmi.rt.signatures.of(signed.object_type, signed.object_id)
    assert signed.new_value == hmi.rt.signatures.manifestation(signature)
    assert signed.new_value.endswith(
        "(lena) on " + signature.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC") + " — meaning: Acknowledged"
    )
    assert all(a.state is AlarmState.ACTIVE_ACK for a in hmi.rt.alarms.active())


@pytest.mark.req("ALM-023")
async def test_manager_cannot_acknowledge(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.login("max")
    await hmi.user.open("/alarms")
    await hmi.user.should_see("may view alarms but not acknowledge them", retries=50)
    await hmi.user.should_not_see(marker="ack-selected")
    # The service refuses on its own, whatever the screen shows, and audits the refusal.
    manager = (await hmi.rt.users.sign_in("max", PASSWORD)).ctx
    assert manager is not None
    with pytest.raises(PermissionDenied):
        await hmi.rt.alarm_service.acknowledge(manager, ["L1.M1.Temp.H"], "trying")
    assert hmi.rt.alarms.get("L1.M1.Temp.H").state is AlarmState.ACTIVE_UNACK  # type: ignore[union-attr]
    entries = await hmi.rt.audit.query(username="max")
    assert any(e.action == "alarm.acknowledge.denied" for e in entries)


@pytest.mark.req("SEC-006", "SCR-008")
async def test_note_is_saved_and_listed(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notes")
    await hmi.user.should_see("shift of", retries=50)
    hmi.user.find(marker="note-text").type("Filler on L1 <script>alert(1)</script> needs a new seal")
    hmi.user.find(marker="note-save").click()
    await hmi.user.should_see("Note saved.", retries=50)
    await hmi.user.should_see("Filler on L1 <script>alert(1)</script> needs a new seal", retries=50)
    await hmi.user.should_see("L1 · lena", retries=50)
    async with hmi.rt.db.session() as s:
        notes = (await s.execute(sa.select(ShiftNote))).scalars().all()
    assert [(n.line, n.author_name) for n in notes] == [("L1", "lena")]


@pytest.mark.req("SCR-008")
async def test_manager_cannot_write_notes(hmi: Harness) -> None:
    await hmi.login("max")
    await hmi.user.open("/notes")
    await hmi.user.should_see("may read the shift log but not write in it", retries=50)
    await hmi.user.should_not_see(marker="note-save")


@pytest.mark.req("OPC-004")
async def test_connection_loss_banner(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.server.stop()
    await hmi.user.should_see("Connection lost: endpoint test", retries=60)
    await hmi.user.should_see("STALE", retries=50)


@pytest.mark.parametrize(("username", "told"), [("ada", True), ("olga", False)])
@pytest.mark.req("REC-017")
async def test_engineers_are_told_how_many_records_are_quarantined(hmi: Harness, username: str, told: bool) -> None:
    await hmi.rt.quarantine.put("alarm_events", {"alarm_id": "X.H", "tag": "X" * 250}, ValueError("value too long"))
    await hmi.login(username)
    if told:
        await hmi.user.should_see("1 record(s) the database refused are set aside in quarantine", retries=50)
    else:
        await hmi.user.should_see(marker="clock")
        await hmi.user.should_not_see(marker="quarantine-banner")


@pytest.mark.req("OPS-006")
async def test_page_subscriptions_end_with_the_page(hmi: Harness) -> None:
    before = hmi.rt.cache.listener_count
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    assert hmi.rt.cache.listener_count > before
    for client in list(Client.instances.values()):
        client.delete()
    assert hmi.rt.cache.listener_count == before


@pytest.mark.req("OPC-007")
async def test_clock_skew_is_marked_and_its_endpoint_named_for_engineers(hmi: Harness) -> None:
    await hmi.server.write("L1.M1.Temp", 66.5, source_time=datetime.now(UTC) + timedelta(hours=1))
    await hmi.until(lambda: hmi.rt.cache.get("L1.M1.Temp").value == 66.5)  # type: ignore[union-attr]
    await hmi.rt.users.create_user("eve", PASSWORD, Role.ENGINEER, full_name="Eve Engineer")
    await hmi.login("eve")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see("CLOCK SKEW +", retries=50)
    await hmi.user.should_see(marker="skew-banner", retries=50)
    banner = hmi.user.find(marker="skew-banner").elements.pop()
    assert banner.text.startswith(f"Clock skew: endpoint {hmi.rt.plant.endpoints[0].name} (")
    # Operators see the marked value but not the engineers' banner.
    await hmi.logout()
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see("CLOCK SKEW +", retries=50)
    await hmi.user.should_not_see(marker="skew-banner")

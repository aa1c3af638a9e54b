"""Alarm management journeys on the screens: shelve, lists of hidden alarms, out of service, latching and reset,
suppression by design, and the alarm detail page."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hmi.alarms.states import AlarmState
from hmi.store.models import AlarmEvent
from tests.screens.conftest import Harness, table_fit, table_rows


@pytest.mark.req("ALM-007", "ALM-011")
async def test_lead_shelves_with_reason_and_duration_and_sees_it_in_the_shelved_list(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.login("lena")
    await hmi.user.open("/alarms?focus=L1.M1.Temp.H")
    await hmi.user.should_see("Temp", retries=50)
    hmi.user.find(marker="shelve").click()
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("A reason is required.")
    hmi.user.find(marker="ack-comment").type("sensor being recalibrated")
    # The plant's policy wants a signature for shelving: user id and password on the first signing.
    hmi.sign("lena")
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("1 alarm(s) shelved and stored.", retries=50)
    alarm = hmi.rt.alarms.get("L1.M1.Temp.H")
    assert alarm is not None
    assert alarm.state is AlarmState.SHELVED
    assert (alarm.mode_by, alarm.mode_reason) == ("lena", "sensor being recalibrated")
    assert alarm.shelved_until is not None
    assert all(a.id != "L1.M1.Temp.H" for a in hmi.rt.alarms.active())
    table = hmi.user.find(marker="shelved-table").elements.pop()
    assert [(r["by"], r["why"]) for r in table.rows] == [("lena", "sensor being recalibrated")]
    assert table.rows[0]["left"].endswith("min")


@pytest.mark.req("ALM-007")
async def test_operator_may_not_shelve(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.login("olga")
    await hmi.user.open("/alarms")
    await hmi.user.should_not_see(marker="shelve")
    await hmi.user.should_not_see(marker="oos")


@pytest.mark.req("ALM-009", "ALM-011")
async def test_manager_removes_from_service_and_returns_it(hmi: Harness) -> None:
    await hmi.login("max")
    await hmi.user.open("/alarm/L1.M1.Jam.discrete")
    await hmi.user.should_see("Jam at M1", retries=50)
    hmi.user.find(marker="oos").click()
    hmi.user.find(marker="ack-comment").type("WO-4711 replace jam sensor")
    hmi.sign("max")
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("1 alarm(s) removed from service and stored.", retries=50)
    assert hmi.rt.alarms.get("L1.M1.Jam.discrete").state is AlarmState.OUT_OF_SERVICE  # type: ignore[union-attr]
    await hmi.server.write("L1.M1.Jam", True)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Jam.discrete").status.condition)  # type: ignore[union-attr]
    assert all(a.id != "L1.M1.Jam.discrete" for a in hmi.rt.alarms.active()), "out of service is not annunciated"
    hmi.user.find(marker="return-to-service").click()
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("1 alarm(s) returned to service and stored.", retries=50)
    back = hmi.rt.alarms.get("L1.M1.Jam.discrete")
    assert back is not None
    assert back.state is AlarmState.ACTIVE_UNACK, "still jammed: annunciated afresh on return to service"
    async with hmi.rt.db.session() as s:
        kinds = [
            k
            for (k,) in (
                await s.execute(
                    sa.select(AlarmEvent.kind)
                    .where(AlarmEvent.alarm_id == "L1.M1.Jam.discrete")
                    .order_by(AlarmEvent.id)
                )
            ).all()
        ]
    assert kinds[:1] == ["out_of_service"]
    assert "returned_to_service" in kinds


@pytest.mark.req("ALM-004")
async def test_latched_alarm_needs_ack_then_reset(hmi: Harness) -> None:
    await hmi.server.write("L1.M1.Pressure", 7.0)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Pressure.H") is not None)
    await hmi.server.write("L1.M1.Pressure", 4.0)
    await hmi.until(
        lambda: (
            hmi.rt.alarms.get("L1.M1.Pressure.H").state  # type: ignore[union-attr]
            is AlarmState.LATCHED_UNACK
        )
    )
    await hmi.login("lena")
    await hmi.user.open("/alarm/L1.M1.Pressure.H")
    await hmi.user.should_see("Check the relief valve", retries=50)  # rationalisation shown
    hmi.user.find(marker="ack-selected").click()
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("1 alarm(s) acknowledged and stored.", retries=50)
    assert hmi.rt.alarms.get("L1.M1.Pressure.H").state is AlarmState.LATCHED_ACK  # type: ignore[union-attr]
    hmi.user.find(marker="reset").click()
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("1 alarm(s) reset and stored.", retries=50)
    assert hmi.rt.alarms.get("L1.M1.Pressure.H") is None


@pytest.mark.req("ALM-010")
async def test_suppressed_by_design_while_the_line_is_not_running(hmi: Harness) -> None:
    await hmi.server.write("L1.State", "Held")
    await hmi.server.write("L1.M1.Level", 5.0)
    await hmi.until(
        lambda: hmi.rt.alarms.get("L1.M1.Level.L") is not None and hmi.rt.alarms.get("L1.M1.Level.L").status.condition
    )  # type: ignore[union-attr]
    assert hmi.rt.alarms.get("L1.M1.Level.L").state is AlarmState.SUPPRESSED_BY_DESIGN  # type: ignore[union-attr]
    await hmi.login("olga")
    await hmi.user.open("/alarms?tab=suppressed")
    table = hmi.user.find(marker="suppressed-table").elements.pop()
    assert [r["why"] for r in table.rows] == ["L1.State = 'Held'"]
    await hmi.server.write("L1.State", "Execute")
    await hmi.until(
        lambda: (
            hmi.rt.alarms.get("L1.M1.Level.L").state  # type: ignore[union-attr]
            is AlarmState.ACTIVE_UNACK
        )
    )


@pytest.mark.req("ALM-012", "SCR-005")
async def test_detail_page_shows_definition_history_and_line_link(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.login("olga")
    await hmi.user.open("/alarm/L1.M1.Temp.H")
    await hmi.user.should_see("Definition and rationalisation")
    await hmi.user.should_see("80 °C")
    await hmi.user.should_see("Line L1")
    await hmi.user.should_see(marker="trend")
    await hmi.until(lambda: bool(hmi.user.find(marker="alarm-history").elements.pop().rows), timeout=10)
    rows = hmi.user.find(marker="alarm-history").elements.pop().rows
    assert rows[0]["kind"] == "activated"


@pytest.mark.req("SCR-005")
async def test_detail_history_says_states_in_the_words_used_elsewhere(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.server.write("L1.M1.Temp", 20.0)
    await hmi.until(
        lambda: (
            hmi.rt.alarms.get("L1.M1.Temp.H").state  # type: ignore[union-attr]
            is AlarmState.RTN_UNACK
        )
    )
    await hmi.login("olga")
    await hmi.user.open("/alarm/L1.M1.Temp.H")
    await hmi.until(lambda: len(hmi.user.find(marker="alarm-history").elements.pop().rows) >= 2, timeout=10)
    states = {r["state"] for r in hmi.user.find(marker="alarm-history").elements.pop().rows}
    # The same words as the alarm list and the state label, never the stored codes.
    assert states == {AlarmState.ACTIVE_UNACK.label, AlarmState.RTN_UNACK.label}
    assert not {"active_unack", "rtn_unack"} & states


@pytest.mark.req("UI-104")
async def test_detail_history_keeps_time_event_and_state_and_puts_the_rest_in_the_details_row(hmi: Harness) -> None:
    await hmi.raise_temp_h()
    await hmi.login("olga")
    await hmi.user.open("/alarm/L1.M1.Temp.H")
    await hmi.until(lambda: bool(table_rows(hmi, "alarm-history")), timeout=10)
    classes, details = table_fit(hmi, "alarm-history")
    # Time, event and state are never hidden; the others appear by width and show in the details row below it.
    assert not any("hmi-from" in classes[n] for n in ("time", "kind", "state"))
    assert details == {"value": 800, "user": 800, "comment": 1024, "source": 1280}
    assert all(f"hmi-from-{w}" in classes[n] for n, w in details.items())
    assert "hmi-below-1280" in classes["more"]
    [row] = table_rows(hmi, "alarm-history")
    assert row["kind"] == "activated"
    assert set(details) <= set(row)

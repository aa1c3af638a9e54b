"""Sentences made in the core (an alarm-service refusal, a refused plant reload) are shown in German to a German
person, while the core, its exception and the audit trail keep the English; NiceGUI User, real runtime and SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.access.context import ActionContext
from hmi.alarms.states import AlarmState
from hmi.records.audit import system_context
from hmi.store.models import AuditEntry
from tests.plant_fixture import PLANT_YAML
from tests.screens.conftest import PASSWORD, Harness, element

ENGINEER = system_context("cli:erin", station="test")


async def speaks_german(hmi: Harness, username: str) -> ActionContext:
    """`username` chooses German for themselves and signs in on the panel; returns their context."""
    signed = (await hmi.rt.users.sign_in(username, PASSWORD)).ctx
    assert signed is not None
    await hmi.rt.appearance.set_person(signed, theme="", language="de")
    await hmi.login(username)
    return signed


@pytest.mark.req("SCR-013", "ALM-011")
async def test_a_german_lead_reads_the_alarm_service_refusal_in_german(hmi: Harness) -> None:
    # A latched alarm that is still unacknowledged: the alarm service refuses to reset it (ISA-18.2 latching).
    await hmi.server.write("L1.M1.Pressure", 7.0)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Pressure.H") is not None)
    await hmi.server.write("L1.M1.Pressure", 4.0)
    await hmi.until(
        lambda: (
            hmi.rt.alarms.get("L1.M1.Pressure.H").state  # type: ignore[union-attr]
            is AlarmState.LATCHED_UNACK
        )
    )
    lena = await speaks_german(hmi, "lena")
    await hmi.user.open("/alarm/L1.M1.Pressure.H")
    await hmi.user.should_see(marker="reset", retries=50)
    hmi.user.find(marker="reset").click()
    hmi.user.find(marker="ack-confirm").click()
    await hmi.user.should_see("Quittieren Sie einen Alarm mit Selbsthaltung, bevor Sie ihn rücksetzen", retries=50)
    await hmi.user.should_not_see("acknowledge a latched alarm before resetting it")
    assert hmi.rt.alarms.get("L1.M1.Pressure.H").state is AlarmState.LATCHED_UNACK  # type: ignore[union-attr]
    # The core itself still speaks English (logs, CLI, other callers).
    with pytest.raises(ValueError, match=r"^acknowledge a latched alarm before resetting it$"):
        await hmi.rt.alarm_service.reset(lena, ["L1.M1.Pressure.H"])


@pytest.mark.req("SCR-013", "RLD-008")
async def test_a_german_administrator_reads_a_refused_reload_in_german_and_the_audit_trail_keeps_english(
    hmi: Harness, tmp_path: Path
) -> None:
    # Sign-in rules are fixed at start: a plant file changing them is refused with a sentence quoting the reason.
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT_YAML.format(url=hmi.server.url) + "access: {idle_lock_min: 3, logoff_min: 10}\n")
    hmi.rt.config_path = path
    await speaks_german(hmi, "ada")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="machine-M1")
    refused = await hmi.rt.reload_plant(ENGINEER)
    assert not refused.applied
    german = (
        "access geändert: die Anmelderegeln (access) werden beim Start des HMI festgelegt: Lebensdauer und "
        "Secure-Flag des Sitzungscookies werden dann gesetzt; starten Sie das HMI neu, um es zu übernehmen"
    )
    english = "access changed: sign-in rules (access) are fixed when the HMI starts"
    await hmi.user.should_see(german, marker="plant-reload-refused", retries=50)
    await hmi.user.should_not_see(english)
    async with hmi.rt.db.session() as session:
        row = (
            await session.execute(sa.select(AuditEntry).where(AuditEntry.action == "plant.reload.refused"))
        ).scalar_one()
    assert row.detail is not None
    assert english in row.detail
    assert "geändert" not in row.detail


@pytest.mark.req("SCR-013", "HIS-010")
async def test_a_german_operator_reads_the_trend_view_refusal_and_the_unavailable_database_in_german(
    hmi: Harness, tmp_path: Path
) -> None:
    await speaks_german(hmi, "olga")
    await hmi.user.open("/trends?tags=L1.M1.Temp")
    await hmi.user.should_see(marker="trend-view-save", retries=50)
    hmi.user.find(marker="trend-view-save").click()
    await hmi.user.should_see("Nicht gespeichert: Geben Sie der Ansicht einen Namen", retries=50)
    await hmi.user.should_not_see("give the view a name")

    # Another program holds the SQLite file locked: every write waits out the busy timeout and is refused.
    locker = sqlite3.connect(tmp_path / "hmi.db", timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        hmi.user.find(marker="trend-view-name").type("Filler check")
        hmi.user.find(marker="trend-view-save").click()
        status = element(hmi, "trend-status")
        said = await hmi.until(lambda: "Nicht gespeichert: SQLite-Datenbank" in status.text, timeout=60)
        assert said
    finally:
        locker.rollback()
        locker.close()
    assert "kann nicht verwendet werden" in status.text
    assert "Es wurde nichts gespeichert." in status.text
    assert "cannot be used" not in status.text
    assert "Nothing was saved" not in status.text

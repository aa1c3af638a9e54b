"""Day and night themes per person and per station, through the screens (NiceGUI User, real runtime and SQLite)."""

from __future__ import annotations

import pytest
from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from screens.panel import PANEL_COOKIE
from tests.screens.conftest import PASSWORD, Harness, set_value


def night(hmi: Harness) -> bool:
    """True when the page is in the night theme (Quasar's dark mode on)."""
    [mode] = hmi.user.find(kind=ui.dark_mode).elements
    return bool(mode.value)


async def enrol_here(hmi: Harness, name: str) -> None:
    """Enrol this simulated browser as station `name` (as an administrator would on the Users page)."""
    admin = (await hmi.rt.users.sign_in("ada", PASSWORD)).ctx
    assert admin is not None
    _, secret = await hmi.rt.stations.enrol(admin, name)
    hmi.user.http_client.cookies.set(PANEL_COOKIE, secret)


@pytest.mark.req("SCR-011")
async def test_a_person_chooses_the_night_theme_for_themselves(hmi: Harness) -> None:
    await hmi.login("olga")
    assert not night(hmi)  # the plant's default: the grey day theme
    await hmi.user.open("/preferences")
    await hmi.user.should_see(marker="my-appearance", retries=50)
    set_value(hmi, "my-theme", "night")
    hmi.user.find(marker="save-my-appearance").click()
    await hmi.until(lambda: hmi.rt.audit.query(action="appearance.person"), what="the choice to be audited")
    [entry] = await hmi.rt.audit.query(action="appearance.person")
    assert (entry.username, entry.object_id) == ("olga", "olga")
    assert '"night"' in str(entry.new_value)
    assert '"theme": ""' in str(entry.old_value)
    await hmi.user.open("/")
    await hmi.user.should_see(marker="clock", retries=50)
    assert night(hmi)
    # The choice is hers: the next person at this panel sees the plant's theme.
    await hmi.logout()
    await hmi.login("lena")
    assert not night(hmi)


@pytest.mark.req("SCR-011")
async def test_a_station_set_to_night_stays_dark_before_and_after_sign_in(hmi: Harness) -> None:
    await enrol_here(hmi, "control-room")
    await hmi.login("ada")
    await hmi.user.open("/preferences")
    await hmi.user.should_see(marker="station-appearance", retries=50)
    await hmi.user.should_see("This station: control-room")
    set_value(hmi, "station-theme", "night")
    hmi.user.find(marker="save-station").click()
    await hmi.until(lambda: hmi.rt.audit.query(action="appearance.station"), what="the station change to be audited")
    [entry] = await hmi.rt.audit.query(action="appearance.station")
    assert (entry.username, entry.object_id, entry.station) == ("ada", "control-room", "control-room")

    await hmi.logout()
    assert night(hmi)  # the login page of a control-room panel does not flash grey
    await hmi.login("olga")
    assert night(hmi)
    # A person's own choice wins over the station's.
    await hmi.rt.appearance.set_person(await _ctx(hmi, "olga"), theme="day", language="")
    await hmi.user.open("/")
    await hmi.user.should_see(marker="clock", retries=50)
    assert not night(hmi)


@pytest.mark.req("SCR-011")
async def test_only_station_managers_set_a_station_theme_and_a_refusal_is_audited(hmi: Harness) -> None:
    await enrol_here(hmi, "panel-l1")
    await hmi.login("olga")
    await hmi.user.open("/preferences")
    await hmi.user.should_see(marker="my-appearance", retries=50)
    await hmi.user.should_see("This panel is panel-l1.")
    await hmi.user.should_not_see(marker="station-appearance")
    with pytest.raises(PermissionDenied):
        await hmi.rt.appearance.set_station(await _ctx(hmi, "olga"), "panel-l1", theme="night", language="")
    [denied] = await hmi.rt.audit.query(action="appearance.station.denied")
    assert (denied.username, denied.object_id) == ("olga", "panel-l1")
    with pytest.raises(ValueError, match="unknown theme 'purple'; choose one of day, night"):
        await hmi.rt.appearance.set_person(await _ctx(hmi, "olga"), theme="purple", language="")


async def _ctx(hmi: Harness, username: str) -> ActionContext:
    signed = (await hmi.rt.users.sign_in(username, PASSWORD)).ctx
    assert signed is not None
    return signed

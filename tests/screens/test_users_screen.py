"""User administration, lockout and panel features through the screens (NiceGUI User, real runtime and SQLite)."""

from __future__ import annotations

import asyncio

import pytest
from nicegui import ui

from hmi.clock import ManualClock
from hmi.roles import Role
from tests.screens.conftest import PASSWORD, Harness


def set_value(hmi: Harness, marker: str, value: object) -> None:
    """Choose in a select (the simulated user cannot open a Quasar menu)."""
    [element] = hmi.user.find(marker=marker).elements
    assert isinstance(element, ui.select)
    element.set_value(value)


async def test_admin_adds_a_user_who_can_then_sign_in(hmi: Harness) -> None:
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="add-user", retries=50)
    hmi.user.find(marker="new-username").type("Nina")
    hmi.user.find(marker="new-fullname").type("Nina New")
    set_value(hmi, "new-role", Role.LEAD.value)
    hmi.user.find(marker="new-password").type("short")
    hmi.user.find(marker="new-password2").type("short")
    hmi.user.find(marker="add-user").click()
    await hmi.user.should_see("at least 8 characters", retries=50)
    assert await hmi.rt.users.get("nina") is None
    hmi.user.find(marker="new-password").type("nina-password-1")
    hmi.user.find(marker="new-password2").type("nina-password-1")
    hmi.user.find(marker="add-user").click()
    await hmi.user.should_see("User nina (lead) added.", retries=50)
    await hmi.user.should_see("Nina New", retries=50)
    [created] = await hmi.rt.audit.query(action="user.create", username="ada")
    assert created.object_id == "nina"

    await hmi.user.open("/logout")
    await hmi.login("nina", "nina-password-1")
    await hmi.user.should_see("Nina New · lead")
    await hmi.user.should_not_see("Users")  # not in the navigation of a lead


async def test_operator_is_refused_the_users_page_and_it_is_audited(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_not_see("Users")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="users-refused", retries=50)
    await hmi.user.should_not_see(marker="add-user")
    [denied] = await hmi.rt.audit.query(action="users.view.denied")
    assert (denied.username, denied.object_id) == ("olga", "/users")


async def test_five_wrong_passwords_lock_the_account_and_the_admin_unlocks_it(hmi: Harness) -> None:
    for attempt in range(5):
        await hmi.user.open("/login")
        hmi.user.find(marker="username").type("olga")
        hmi.user.find(marker="password").type(f"wrong-{attempt}")
        hmi.user.find(marker="sign-in").click()
        expected = "locked after too many failed sign-ins" if attempt == 4 else "Wrong user name or password"
        await hmi.user.should_see(expected, retries=50)
    assert len(await hmi.rt.audit.query(action="login.lockout")) == 1

    # The right password does not help now.
    await hmi.user.open("/login")
    hmi.user.find(marker="username").type("olga")
    hmi.user.find(marker="password").type(PASSWORD)
    hmi.user.find(marker="sign-in").click()
    await hmi.user.should_see("locked after too many failed sign-ins", retries=50)

    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="lockout-notice", retries=50)
    await hmi.user.should_see("olga locked since", retries=50)
    await hmi.user.should_see(marker="unlock-olga", retries=50)
    hmi.user.find(marker="unlock-olga").click()
    await hmi.user.should_see("User olga unlocked.", retries=50)
    await hmi.user.should_not_see(marker="lockout-notice", retries=50)
    [unlock] = await hmi.rt.audit.query(action="user.unlock")
    assert (unlock.username, unlock.object_id) == ("ada", "olga")

    await hmi.user.open("/logout")
    await hmi.login("olga")
    await hmi.user.should_see("Olga Operator · operator")


async def test_admin_registers_a_station_and_a_panel_signs_in_as_it(hmi: Harness) -> None:
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="station-register", retries=50)
    hmi.user.find(marker="station-name").type("panel-l1")
    hmi.user.find(marker="station-register").click()
    await hmi.user.should_see("Station panel-l1 registered.", retries=50)
    # Sign-out ends by navigating to the login page itself; opening /login as well raced with that navigation
    # (the choice below could land on the page that was being replaced).
    await hmi.user.open("/logout")
    await hmi.user.should_see(marker="station-pick", retries=100)
    set_value(hmi, "station-pick", "panel-l1")
    await hmi.user.should_see("This panel is station panel-l1.", retries=50)
    await hmi.login("olga")
    [login] = await hmi.rt.audit.query(action="login", username="olga")
    assert login.station == "panel-l1"


async def test_switch_user_keeps_the_page_and_changes_the_person(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/trends")
    await hmi.user.should_see("Olga Operator · operator", retries=50)
    hmi.user.find(marker="switch-user").click()
    hmi.user.find(marker="switch-username").type("lena")
    hmi.user.find(marker="switch-password").type(PASSWORD)
    hmi.user.find(marker="switch-confirm").click()
    await hmi.user.should_see("Lena Lead · lead", retries=50)
    # Same screen, new person.
    assert hmi.user.back_history[-1] == "/trends"
    await hmi.user.should_see(marker="trend-pens", retries=50)
    [switch] = await hmi.rt.audit.query(action="logout.switch")
    assert (switch.username, switch.detail) == ("olga", "user switch to lena")


async def lock_shown(hmi: Harness, want: bool) -> None:
    """Wait until the idle lock dialog is open (or closed); the simulation treats closed dialogs as visible."""
    for _ in range(100):
        elements = hmi.user.find(marker="idle-lock").elements
        if elements and all(bool(e.value) is want for e in elements if isinstance(e, ui.dialog)):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the idle lock is not {'shown' if want else 'hidden'}")


async def test_idle_screen_locks_asks_for_the_password_and_logs_off(timed: tuple[Harness, ManualClock]) -> None:
    hmi, clock = timed
    await hmi.login("olga")
    await lock_shown(hmi, False)
    clock.advance(5 * 60 + 1)
    await lock_shown(hmi, True)
    await hmi.user.should_see("Signed in: Olga Operator (olga)")
    assert [e.action for e in await hmi.rt.audit.query(action="screen.lock")] == ["screen.lock"]

    # Another page behind a locked screen is locked too.
    await hmi.user.open("/alarms")
    await lock_shown(hmi, True)

    hmi.user.find(marker="idle-password").type("not-her-password")
    hmi.user.find(marker="idle-unlock").click()
    await hmi.user.should_see("Wrong password.", retries=50)
    assert len(await hmi.rt.audit.query(action="screen.unlock.failed")) == 1
    hmi.user.find(marker="idle-password").type(PASSWORD)
    hmi.user.find(marker="idle-unlock").click()
    await lock_shown(hmi, False)
    assert len(await hmi.rt.audit.query(action="screen.unlock")) == 1

    clock.advance(15 * 60 + 1)
    await hmi.user.should_see(marker="sign-in", retries=100)
    [logoff] = await hmi.rt.audit.query(action="logout.idle")
    assert logoff.username == "olga"

"""User administration, lockout and panel features through the screens (NiceGUI User, real runtime and SQLite)."""

from __future__ import annotations

import pytest
from nicegui import app, ui

from hmi.access.auth import NO_LOCAL_PASSWORD, SOURCE_LDAP
from hmi.access.roles import Role
from hmi.access.stations import secret_digest
from hmi.clock import ManualClock
from hmi.store.models import User
from screens.panel import HANDOVER_PATH, PANEL_COOKIE
from tests.screens.conftest import PASSWORD, Harness


def set_value(hmi: Harness, marker: str, value: object) -> None:
    """Choose in a select (the simulated user cannot open a Quasar menu)."""
    [element] = hmi.user.find(marker=marker).elements
    assert isinstance(element, ui.select)
    element.set_value(value)


@pytest.mark.req("ACC-014")
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

    await hmi.logout()
    await hmi.login("nina", "nina-password-1")
    await hmi.user.should_see("Nina New · lead")
    await hmi.user.should_not_see("Users")  # not in the navigation of a lead


@pytest.mark.req("ACC-014")
async def test_operator_is_refused_the_users_page_and_it_is_audited(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_not_see("Users")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="users-refused", retries=50)
    await hmi.user.should_not_see(marker="add-user")
    [denied] = await hmi.rt.audit.query(action="users.view.denied")
    assert (denied.username, denied.object_id) == ("olga", "/users")


@pytest.mark.req("ACC-003")
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

    await hmi.logout()
    await hmi.login("olga")
    await hmi.user.should_see("Olga Operator · operator")


@pytest.mark.req("ACC-010")
async def test_a_browser_cannot_claim_a_station_without_its_secret(hmi: Harness) -> None:
    admin = (await hmi.rt.users.sign_in("ada", PASSWORD)).ctx
    assert admin is not None
    await hmi.rt.stations.register(admin, "panel-l1")
    await hmi.user.open("/login")
    with hmi.user:
        # What a panel chose before sign-in on the old login page, and a made-up panel secret.
        app.storage.user["hmi_station"] = "panel-l1"
    hmi.user.http_client.cookies.set(PANEL_COOKIE, "guessed-secret")
    await hmi.login("olga")
    [login] = await hmi.rt.audit.query(action="login", username="olga")
    assert login.station == "web:127.0.0.1"


@pytest.mark.req("ACC-010")
async def test_admin_enrols_this_panel_then_revokes_it(hmi: Harness) -> None:
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see("This panel is not enrolled: it records web:127.0.0.1.", retries=50)
    # The enrol form is built after the station list's query: on a busy machine it comes a moment later.
    await hmi.user.should_see(marker="station-name", retries=50)
    hmi.user.find(marker="station-name").type("Panel-L1")
    hmi.user.find(marker="station-enrol").click()
    # The browser collects its secret from the one-time hand-over and comes back to the list.
    await hmi.user.should_see("This panel is station panel-l1.", retries=100)
    await hmi.user.should_see(marker="station-revoke-panel-l1", retries=50)
    [enrol] = await hmi.rt.audit.query(action="station.enrol")
    assert (enrol.username, enrol.object_id, enrol.detail) == ("ada", "panel-l1", "panel at web:127.0.0.1 enrolled")
    station = await hmi.rt.stations.get("panel-l1")
    assert station is not None
    secret = hmi.user.http_client.cookies.get(PANEL_COOKIE)
    assert secret
    # Only the hash is stored; the secret is nowhere in the database's station row or audit trail.
    assert station.secret_hash == secret_digest(secret)
    assert (station.enrolled_by, station.last_seen_at is not None) == ("ada", True)
    assert all(secret not in repr(entry) for entry in await hmi.rt.audit.query())
    # Every page sets the cookie again: browsers keep a cookie 400 days at most, an enrolment lasts longer.
    page = await hmi.user.http_client.get("/login")
    assert f"{PANEL_COOKIE}={secret}" in page.headers.get("set-cookie", "")
    assert "max-age=34560000" in page.headers.get("set-cookie", "").lower()
    # The hand-over link works once.
    [link] = [path for path in hmi.user.back_history if path.startswith(HANDOVER_PATH)]
    again = await hmi.user.http_client.get(link)
    assert (again.status_code, PANEL_COOKIE in again.headers.get("set-cookie", "")) == (410, False)
    assert "used already or has expired" in again.text

    await hmi.logout()
    await hmi.user.should_see("This panel is station panel-l1.", retries=100)
    await hmi.login("olga")
    [login] = await hmi.rt.audit.query(action="login", username="olga")
    assert login.station == "panel-l1"

    await hmi.logout()
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="station-revoke-panel-l1", retries=50)
    hmi.user.find(marker="station-revoke-panel-l1").click()
    await hmi.user.should_see("Station panel-l1 revoked", retries=50)
    await hmi.user.should_see("no panel enrolled", retries=50)
    [revoke] = await hmi.rt.audit.query(action="station.revoke")
    assert (revoke.username, revoke.object_id) == ("ada", "panel-l1")
    # The cookie is still in the browser, but worth nothing now.
    assert hmi.user.http_client.cookies.get(PANEL_COOKIE) == secret
    await hmi.logout()
    await hmi.user.should_see("records name its address (web:127.0.0.1)", retries=100)
    await hmi.login("olga")
    latest = (await hmi.rt.audit.query(action="login", username="olga"))[0]
    assert latest.station == "web:127.0.0.1"


@pytest.mark.req("SEC-002")
async def test_attempts_beyond_the_limit_say_when_to_retry(hmi: Harness) -> None:
    policy = hmi.rt.users.policy
    limit = int(policy.login_limit_per_account.split()[0])
    for attempt in range(limit):
        # Unknown names do not lock; the per-account limit still holds for them.
        await hmi.rt.users.sign_in("mallory", f"guess-{attempt}", station="web:10.9.9.9")
    await hmi.user.open("/login")
    hmi.user.find(marker="username").type("mallory")
    hmi.user.find(marker="password").type("one more")
    hmi.user.find(marker="sign-in").click()
    await hmi.user.should_see(
        "Too many sign-in attempts for this user name (at most 20 per 10 minutes). Try again in", retries=50
    )


@pytest.mark.req("ACC-011")
async def test_switch_user_keeps_the_page_and_changes_the_person(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/trends")
    await hmi.user.should_see("Olga Operator · operator", retries=50)
    hmi.switch_user("lena")
    # A password check (argon2), the old session's end and the new one's start, then a reload: seconds under load.
    await hmi.user.should_see("Lena Lead · lead", retries=200)
    # Same screen, new person.
    assert hmi.user.back_history[-1] == "/trends"
    await hmi.user.should_see(marker="trend-pens", retries=50)
    [switch] = await hmi.rt.audit.query(action="logout.switch")
    assert (switch.username, switch.detail) == ("olga", "user switch to lena")


async def lock_shown(hmi: Harness, want: bool) -> None:
    """Wait until the idle lock dialog is open (or closed); the simulation treats closed dialogs as visible."""

    def as_wanted() -> bool:
        elements = hmi.user.find(marker="idle-lock").elements
        return bool(elements) and all(bool(e.value) is want for e in elements if isinstance(e, ui.dialog))

    await hmi.until(as_wanted, timeout=5, what=f"the idle lock to be {'shown' if want else 'hidden'}")


@pytest.mark.req("ACC-006", "ACC-007")
async def test_idle_screen_locks_asks_for_the_password_and_logs_off(timed: tuple[Harness, ManualClock]) -> None:
    hmi, clock = timed
    await hmi.login("olga")
    await lock_shown(hmi, False)
    clock.advance(5 * 60 + 1)
    await lock_shown(hmi, True)
    # The page covers itself at once, then reloads as the lock screen alone (no frame, nothing behind it). Wait
    # for that reload: a later one would replace the page this test types into.
    await hmi.user.should_not_see(marker="conn-state", retries=100)
    await hmi.user.should_see("Signed in: Olga Operator (olga)")
    assert [e.action for e in await hmi.rt.audit.query(action="screen.lock")] == ["screen.lock"]

    # Another page behind a locked screen is locked too.
    await hmi.user.open("/alarms")
    await lock_shown(hmi, True)

    hmi.user.find(marker="idle-password").type("not-her-password")
    hmi.user.find(marker="idle-unlock").click()
    # A password check (argon2) and an audit row: seconds on a loaded machine.
    await hmi.user.should_see("Wrong password.", retries=200)
    assert len(await hmi.rt.audit.query(action="screen.unlock.failed")) == 1
    hmi.user.find(marker="idle-password").type(PASSWORD)
    hmi.user.find(marker="idle-unlock").click()
    await lock_shown(hmi, False)
    assert len(await hmi.rt.audit.query(action="screen.unlock")) == 1

    clock.advance(15 * 60 + 1)
    await hmi.user.should_see(marker="sign-in", retries=100)
    # Every page still open in this browser watches idleness: one signs out (and audits it), another sees the
    # session gone and may reach the login page before that audit row is committed. Wait for the row.
    [logoff] = await hmi.until(lambda: hmi.rt.audit.query(action="logout.idle"), what="the audited idle logoff")
    assert logoff.username == "olga"


@pytest.mark.req("AUTH-103")
async def test_the_users_screen_shows_the_source_and_last_sign_in_and_no_reset_for_directory_accounts(
    hmi: Harness,
) -> None:
    # A directory person's row as the first directory sign-in makes it (tests/integration/test_directory_sign_in.py).
    async with hmi.rt.db.session(write=True) as session:
        session.add(
            User(
                username="dora",
                full_name="Dora Directory",
                role=Role.LEAD,
                password_hash=NO_LOCAL_PASSWORD,
                created_at=hmi.rt.clock(),
                source=SOURCE_LDAP,
                external_id="6f1c2a9e-0000-4000-8000-000000000001",
            )
        )
        await session.commit()
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="source-dora", retries=50)
    [source] = hmi.user.find(marker="source-dora").elements
    assert isinstance(source, ui.label)
    assert source.text == "directory"
    [local] = hmi.user.find(marker="source-ada").elements
    assert isinstance(local, ui.label)
    assert local.text == "local"
    await hmi.user.should_see(marker="reset-ada")
    await hmi.user.should_not_see(marker="reset-dora")
    # The administrator has just signed in; dora never has.
    [seen] = hmi.user.find(marker="last-sign-in-ada").elements
    assert isinstance(seen, ui.label)
    assert seen.text.startswith("last sign-in 20")
    [never] = hmi.user.find(marker="last-sign-in-dora").elements
    assert isinstance(never, ui.label)
    assert never.text == "never signed in"

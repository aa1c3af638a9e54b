"""Refusals made in the core (password policy, permissions, session end) on a German screen: the person reads them
in German, the audit trail keeps the English (NiceGUI User, real runtime and SQLite)."""

from __future__ import annotations

import pytest
from nicegui import ui

from tests.screens.conftest import PASSWORD, Harness


async def speaks_german(hmi: Harness, username: str) -> None:
    """`username` chooses German for their own pages, then signs in through the login page."""
    signed = (await hmi.rt.users.sign_in(username, PASSWORD)).ctx
    assert signed is not None
    await hmi.rt.appearance.set_person(signed, theme="", language="de")
    await hmi.login(username)


@pytest.mark.req("SCR-013")
async def test_a_german_administrator_reads_the_password_policy_refusal_in_german(hmi: Harness) -> None:
    await speaks_german(hmi, "ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="add-user", retries=50)
    hmi.user.find(marker="new-username").type("nina")
    hmi.user.find(marker="new-fullname").type("Nina Neu")
    [role] = hmi.user.find(marker="new-role").elements
    assert isinstance(role, ui.select)
    role.set_value("lead")
    hmi.user.find(marker="new-password").type("kurz")
    hmi.user.find(marker="new-password2").type("kurz")
    hmi.user.find(marker="add-user").click()
    await hmi.user.should_see("Das Passwort muss mindestens 8 Zeichen haben.", retries=50)
    await hmi.user.should_not_see("the password must have at least 8 characters")
    assert await hmi.rt.users.get("nina") is None
    # A name the service refuses, said in German too (the fields set anew: typing appends to what is there).
    for marker, value in (("new-username", "nina neu"), ("new-password", PASSWORD), ("new-password2", PASSWORD)):
        [field] = hmi.user.find(marker=marker).elements
        assert isinstance(field, ui.input)
        field.set_value(value)
    hmi.user.find(marker="add-user").click()
    await hmi.user.should_see(
        "Der Benutzername 'nina neu' darf nur Buchstaben, Ziffern und . _ @ - enthalten (keine Leerzeichen).",
        retries=50,
    )
    await hmi.user.should_not_see("may only hold letters")


@pytest.mark.req("SCR-013")
async def test_a_german_operator_reads_the_permission_refusal_in_german_and_the_audit_trail_keeps_english(
    hmi: Harness,
) -> None:
    await speaks_german(hmi, "olga")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="users-refused", retries=50)
    await hmi.user.should_see("Abgelehnt: olga (operator) ist nicht berechtigt, Benutzer zu verwalten.")
    await hmi.user.should_not_see("may not manage users")
    [denied] = await hmi.rt.audit.query(action="users.view.denied")
    assert denied.detail is not None
    assert "olga (operator) may not manage users" in denied.detail


@pytest.mark.req("SCR-013")
async def test_a_german_lead_reads_the_signature_refusal_in_german_and_the_audit_trail_keeps_english(
    hmi: Harness,
) -> None:
    await speaks_german(hmi, "lena")
    await hmi.user.open("/notes")
    hmi.user.find(marker="note-text").type("Linie für die nächste Charge freigegeben")
    hmi.user.find(marker="note-save").click()
    await hmi.user.should_see("Eintrag gespeichert.", retries=50)
    await hmi.user.should_see(marker="note-sign", retries=50)
    hmi.user.find(marker="note-sign").click()
    await hmi.user.should_see(marker="sign-password", retries=50)
    hmi.sign("lena", "not-her-password")
    hmi.user.find(marker="sign-confirm").click()
    # A password check (argon2) and the audited refusal: seconds on a loaded machine.
    await hmi.user.should_see(
        "Nicht unterschrieben: Die Unterschrift wurde abgelehnt: Benutzername oder Passwort stimmen nicht; "
        "versuchen Sie es erneut",
        retries=300,
    )
    await hmi.user.should_not_see("user id or password do not match")
    [failed] = await hmi.rt.audit.query(action="sign.failed")
    assert (failed.username, failed.reason) == ("lena", "wrong password")

"""The sentences access and records refuse with are the same English as before, with templates a screen translates."""

from __future__ import annotations

import pytest
from nicegui import app

from hmi.access.auth import PasswordPolicyError, check_password_policy
from hmi.access.context import ACTIONS, ActionContext, PermissionDenied
from hmi.access.login_guard import describe_limit, parse_limit
from hmi.access.roles import Permission, Role
from hmi.access.sessions import SessionCheck, SessionEnd
from hmi.records.handover import STATE_WORDS
from hmi.store.models import HandoverState
from hmi.texts import Text
from screens import i18n


@pytest.mark.req("SCR-013")
def test_every_permission_and_handover_state_has_its_words() -> None:
    # The English of a refusal names the permission as before ("may not acknowledge alarm").
    assert set(ACTIONS) == set(Permission)
    assert all(ACTIONS[p] == p.value.replace("_", " ") for p in Permission)
    assert set(STATE_WORDS) == set(HandoverState)
    assert all(STATE_WORDS[s] == s.value.replace("_", " ") for s in HandoverState)


@pytest.mark.req("SCR-013")
def test_refusals_are_english_in_the_core_and_german_on_a_german_page(monkeypatch: pytest.MonkeyPatch) -> None:
    olga = ActionContext(1, "olga", "Olga Operator", Role.OPERATOR)
    denied = PermissionDenied(olga, Permission.MANAGE_USERS)
    ended = SessionCheck(None, ended=SessionEnd.DISABLED).refusal
    with pytest.raises(PasswordPolicyError) as policy:
        check_password_policy("olga", "short", 8)
    # Logs, the audit trail and the CLI read the English as it always was.
    assert str(denied) == "olga (operator) may not manage users"
    assert ended == "Not done: the account is disabled. Nothing was recorded; sign in again."
    assert str(policy.value) == "the password must have at least 8 characters"
    assert isinstance(ended, Text)
    monkeypatch.setattr(type(app.storage), "client", property(lambda self: {"language": "de"}))
    assert i18n.message(denied) == "olga (operator) ist nicht berechtigt, Benutzer zu verwalten"
    assert i18n.message(ended) == (
        "Nicht ausgeführt: Das Konto ist deaktiviert. Es wurde nichts aufgezeichnet; melden Sie sich erneut an."
    )
    assert i18n.message(policy.value) == "Das Passwort muss mindestens 8 Zeichen haben"


@pytest.mark.req("SCR-013")
def test_the_limit_a_sign_in_refusal_quotes_is_english_and_german(monkeypatch: pytest.MonkeyPatch) -> None:
    said = {text: describe_limit(parse_limit(text)) for text in ("20 per 10 minutes", "60/hour", "1 per 2 days")}
    assert said == {"20 per 10 minutes": "20 per 10 minutes", "60/hour": "60 per hour", "1 per 2 days": "1 per 2 days"}
    monkeypatch.setattr(type(app.storage), "client", property(lambda self: {"language": "de"}))
    assert [i18n.message(text) for text in said.values()] == ["20 pro 10 Minuten", "60 pro Stunde", "1 pro 2 Tage"]

"""The password policy and user-name rules, without a database."""

from __future__ import annotations

import pytest

from hmi.access.auth import PasswordPolicyError, check_password_policy, check_username


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("alice", "short", "at least 8"),
        ("alice", "x" * 1025, "at most 1024"),
        ("operator1", "operator1", "not be the user name"),
        ("Operator1", "OPERATOR1", "not be the user name"),
    ],
)
@pytest.mark.req("ACC-002")
def test_policy_refuses_with_a_reason(username: str, password: str, message: str) -> None:
    with pytest.raises(PasswordPolicyError, match=message):
        check_password_policy(username, password)


@pytest.mark.req("ACC-002")
def test_policy_accepts_eight_characters_unlike_the_name() -> None:
    check_password_policy("alice", "8charsok")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Alice", "alice"), ("  bob.smith ", "bob.smith"), ("jürgen", "jürgen"), ("op-1@l2", "op-1@l2")],
)
@pytest.mark.req("ACC-001")
def test_user_names_are_normalised(given: str, expected: str) -> None:
    assert check_username(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [("", "empty"), ("two words", "no spaces"), ("a" * 65, "at most 64"), ("-lead", "may only hold")],
)
@pytest.mark.req("ACC-001")
def test_bad_user_names_are_refused(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_username(given)

"""What a refused sign-in says: when to retry is never earlier than the limit allows."""

from __future__ import annotations

import pytest

from hmi.access.auth import SignIn
from hmi.access.login_guard import Throttled
from hmi.texts import Text
from screens.fmt import refusal_text, wait_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 s"), (59, "59 s"), (60, "1 min"), (250, "4 min 10 s"), (3600, "1 h"), (3601, "1 h 1 min"), (7199, "2 h")],
)
@pytest.mark.req("SEC-002")
def test_waits_read_as_a_person_says_them_and_never_shorter(seconds: int, text: str) -> None:
    assert wait_text(seconds) == text


@pytest.mark.req("SEC-002")
def test_a_throttled_sign_in_names_the_limit_and_the_wait() -> None:
    result = SignIn(None, "too many attempts", throttled=Throttled("address", "60 per 10 minutes", 250))
    assert refusal_text(result) == (
        "Too many sign-in attempts from this panel (at most 60 per 10 minutes). "
        "Try again in 4 min 10 s; nothing was checked this time."
    )
    assert "locked" in refusal_text(SignIn(None, "wrong password", locked=True))


@pytest.mark.req("AUTH-106")
def test_a_directory_refusal_says_what_the_directory_said() -> None:
    notice = Text(
        "the directory at {url} cannot be reached: {why}; local accounts still work",
        url="ldaps://dc1.plant.example",
        why="connection refused",
    )
    said = refusal_text(SignIn(None, "directory unreachable", notice=notice))
    assert (
        said
        == "the directory at ldaps://dc1.plant.example cannot be reached: connection refused; local accounts still work"
    )

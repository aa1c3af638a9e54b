"""The control services' refusals and outcomes stay English for logs and the audit trail, and a German page reads
each of them, lists of problems and quoted reasons included, through the real German catalogue."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from nicegui import app

from hmi.control.interlock import Interlock
from hmi.control.outcome import Result, WriteOutcome
from hmi.control.recipe_values import RecipeInvalid
from hmi.control.values import parse_value
from hmi.texts import Text, joined
from screens import i18n


@pytest.fixture
def german(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = {"language": "de"}
    monkeypatch.setattr(type(app.storage), "client", property(lambda self: storage))


class _Reading:
    def __init__(self, value: object) -> None:
        self.value, self.good, self.quality = value, True, "good"


@pytest.mark.req("SCR-013")
def test_joined_is_the_plain_join_and_keeps_every_part() -> None:
    parts = [Text("refused: {why}", why="a"), "b", Text("confirmed")]
    assert joined(parts) == "refused: a; b; confirmed"
    assert joined(parts, Text(" or ")) == "refused: a or b or confirmed"
    assert joined(["only"]) == "only"
    assert joined([]) == ""


@pytest.mark.req("SCR-013")
def test_outcomes_and_refusals_are_english_in_the_core(german: None) -> None:
    # A page's language never reaches the core: str() of what the services made is the English they always said.
    at = datetime(2026, 12, 3, 14, 3, 22, tzinfo=UTC)
    assert WriteOutcome("T", 1, 0, Result.CONFIRMED, at=at).message() == "confirmed at 14:03:22"
    late = WriteOutcome("T", 1, 0, Result.NOT_CONFIRMED, readback=None, timeout_s=3.0)
    assert str(late.message()) == "not confirmed within 3 s: the value is now unknown"
    invalid = RecipeInvalid([Text("{value} is not a number", value="x"), "plain"])
    assert str(invalid) == "x is not a number; plain"


@pytest.mark.req("SCR-013")
def test_a_german_page_reads_every_part_of_a_refusal(german: None) -> None:
    at = datetime(2026, 12, 3, 14, 3, 22, tzinfo=UTC)
    assert i18n.message(WriteOutcome("T", 1, 0, Result.CONFIRMED, at=at).message()) == "bestätigt um 14:03:22"
    late = WriteOutcome("T", 1, 0, Result.NOT_CONFIRMED, readback=None, timeout_s=3.0)
    assert i18n.message(late.message()) == "nicht innerhalb von 3 s bestätigt: der Wert ist jetzt unbekannt"
    with pytest.raises(ValueError, match="is not a whole number") as caught:
        parse_value("int", "7.5")
    assert i18n.message(caught.value) == "'7.5' ist keine ganze Zahl"
    # A list of problems: each is read in German; a part nobody marked stays as it was written.
    invalid = RecipeInvalid(["L1.Other: as written", Text("at most {most} parameters fit in one version", most=2)])
    assert i18n.message(invalid) == "L1.Other: as written; höchstens 2 Parameter passen in eine Version"
    # Pickled (a process pool, a test worker) it keeps every template.
    assert i18n.message(pickle.loads(pickle.dumps(invalid))) == i18n.message(invalid)
    verdict = Interlock.parse("A == 1 or B == true").evaluate(lambda name: _Reading({"A": 2.0, "B": False}[name]))
    assert verdict.why == "needs A == 1 (A is 2) or needs B == true (B is false)"
    assert i18n.message(verdict.why) == "erfordert A == 1 (A ist 2) oder erfordert B == true (B ist falsch)"

"""Screen texts go through gettext: every marked text has a German translation that keeps its placeholders, and
numbers, dates and plant texts follow the page's language (English outside a page)."""

from __future__ import annotations

import ast
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nicegui import app

from hmi.texts import Text
from screens import i18n


@pytest.mark.req("SCR-013")
def test_every_marked_screen_text_has_a_german_translation() -> None:
    gaps = i18n.missing("de")
    assert not gaps, "\n".join(f"{f.name}:{line}: {text!r}" for f, line, text in gaps)


@pytest.mark.req("SCR-013")
def test_every_translation_keeps_the_placeholders_of_its_text() -> None:
    wrong = [
        (source, target)
        for source, target in i18n.catalogue("de").items()
        if i18n.placeholders(source) != i18n.placeholders(target)
    ]
    assert not wrong


@pytest.mark.req("SCR-013")
def test_outside_a_page_the_texts_and_formats_are_english() -> None:
    assert i18n.language() == "en"
    assert i18n._("Acknowledge") == "Acknowledge"
    assert i18n.number(1234.5) == "1,234.5"
    local = datetime(2026, 12, 3, 14, 3, 22, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert i18n.when(local, date=True) == "2026-12-03 15:03:22 CET"


@pytest.mark.req("SCR-013")
def test_a_german_page_translates_and_formats_the_german_way(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = {"language": "de"}
    monkeypatch.setattr(type(app.storage), "client", property(lambda self: storage))
    assert i18n._("Acknowledge") == "Quittieren"
    assert i18n._("STALE {age}").format(age="5 s") == "VERALTET 5 s"
    assert i18n.number(1234.5) == "1.234,5"
    assert i18n.number(1234, 0) == "1.234"
    local = datetime(2026, 12, 3, 14, 3, 22, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert i18n.when(local, date=True) == "03.12.2026 15:03:22 MEZ"
    assert i18n.when(local, date=False) == "15:03:22 MEZ"
    # A text no catalogue knows is shown as written, never blank.
    assert i18n._("Some text nobody translated") == "Some text nobody translated"
    plant = {"de": {"Filler temperature high": "Füllertemperatur hoch"}}
    assert i18n.plant_text(plant, "Filler temperature high") == "Füllertemperatur hoch"
    assert i18n.plant_text(plant, "Capper jam") == "Capper jam"


@pytest.mark.req("SCR-013")
def test_a_sentence_of_the_core_is_english_and_translated_where_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        i18n, "catalogue", lambda lang: {"refused: {why}": "abgelehnt: {why}", "above {limit:g}": "über {limit:g}"}
    )
    why = Text("above {limit:g}", limit=80.0)
    said = Text("refused: {why}", why=why)
    # The core, its logs and the audit trail read English.
    assert said == "refused: above 80"
    assert str(PermissionError(said)) == "refused: above 80"
    # An English page shows it as it is; a German page translates the sentence and the sentence it quotes.
    assert i18n.message(said) == "refused: above 80"
    storage = {"language": "de"}
    monkeypatch.setattr(type(app.storage), "client", property(lambda self: storage))
    assert i18n.message(said) == "abgelehnt: über 80"
    assert i18n.message(ValueError(said)) == "abgelehnt: über 80"
    # Unmarked text and exceptions with several arguments are shown as they are.
    assert i18n.message(ValueError("plain words")) == "plain words"
    assert i18n.message(Text("nobody translated {n}", n=3)) == "nobody translated 3"
    # A sentence survives pickling (test workers, process pools) with its template.
    copy = pickle.loads(pickle.dumps(ValueError(said)))
    assert i18n.message(copy) == "abgelehnt: über 80"


def _shown_raw(file: Path) -> Iterator[tuple[int, str]]:
    """(line, name) where a caught exception is put into a screen's text without `message()`."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    for handler in ast.walk(tree):
        if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
            continue
        for node in (inner for statement in handler.body for inner in ast.walk(statement)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
                values = [keyword.value for keyword in node.keywords] + list(node.args)
            elif isinstance(node, ast.FormattedValue):
                values = [node.value]
            else:
                continue
            for value in values:
                if isinstance(value, ast.Name) and value.id == handler.name:
                    yield node.lineno, handler.name


@pytest.mark.req("SCR-013")
def test_screens_show_caught_errors_through_message() -> None:
    # What the core raises is translated only through message(); a bare `{exc}` shows the English sentence.
    raw = [
        f"{file.name}:{line}: {name}"
        for file in i18n.screen_files()
        if file.parent.name == "screens" and file.name != "cli.py"
        for line, name in _shown_raw(file)
    ]
    assert not raw

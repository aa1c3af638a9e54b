"""Screen texts go through gettext: every marked text has a German translation that keeps its placeholders, and
numbers, dates and plant texts follow the page's language (English outside a page)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from nicegui import app

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

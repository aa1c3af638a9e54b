"""A screen in German shows no English text the catalogue translates (NiceGUI User, real runtime and SQLite)."""

from __future__ import annotations

import pytest

from screens import i18n
from tests.screens.conftest import PASSWORD, Harness

SCREENS = (
    "/",
    "/line/L1",
    "/faceplate/tag/L1.M1.Temp",
    "/alarms",
    "/trends?tags=L1.M1.Temp",
    "/oee",
    "/notes",
    "/handover",
    "/recipes",
    "/journal",
    "/kpi",
    "/audit",
    "/users",
    "/notifications",
    "/preferences",
)


def plant_words(hmi: Harness) -> set[str]:
    """Names from the plant file (areas, lines, machines, tags and their parts): shown as written in any language."""
    words: set[str] = set()
    for area, line in hmi.rt.plant.lines():
        words |= {area.name, line.name, *(m.name for m in line.machines)}
    for name in hmi.rt.plant.tags:
        words |= {name, *name.split(".")}
    return words


def english_on_screen(hmi: Harness) -> set[str]:
    """Texts on the current page that are English source texts with a different German translation."""
    english = {source for source, target in i18n.catalogue("de").items() if source != target} - plant_words(hmi)
    shown: set[str] = set()
    with hmi.user as client:
        for element in client.elements.values():
            for content in element._displayed_contents(only_visible=True):  # what User.should_see reads
                if isinstance(content, str) and content.strip() in english:
                    shown.add(content.strip())
    return shown


@pytest.mark.req("SCR-013")
async def test_every_main_screen_in_german_shows_no_untranslated_text(hmi: Harness) -> None:
    signed = (await hmi.rt.users.sign_in("ada", PASSWORD)).ctx
    assert signed is not None
    await hmi.rt.appearance.set_person(signed, theme="", language="de")
    await hmi.login("ada")
    untranslated: dict[str, set[str]] = {}
    for path in SCREENS:
        await hmi.user.open(path)
        await hmi.user.should_see(marker="clock", retries=50)
        if found := english_on_screen(hmi):
            untranslated[path] = found
    assert not untranslated, "\n".join(f"{path}: {sorted(texts)}" for path, texts in untranslated.items())

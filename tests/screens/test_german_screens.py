"""A screen in German shows no English text: neither a text the catalogue translates nor an English sentence the
catalogue does not hold (a sentence from the core, an f-string); NiceGUI User, real runtime and SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from screens import i18n
from tests.screens.conftest import PASSWORD, USERS, Harness

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
    "/displays",
    "/faceplate/machine/L1/M1",
)
# Words that occur in English sentences but not in German ones ("was", "will", "in", "an" are German too).
ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "not",
        "cannot",
        "of",
        "since",
        "with",
        "were",
        "has",
        "have",
        "this",
        "that",
        "from",
        "which",
        "their",
        "there",
        "been",
        "your",
        "may",
        "must",
        "when",
        "where",
        "who",
        "only",
        "into",
        "than",
        "they",
        "its",
        "are",
        "is",
        "by",
        "to",
        "for",
        "yes",
        "none",
        "above",
        "below",
        "after",
        "before",
        "should",
        "would",
        "could",
        "because",
        "until",
        "shown",
        "read",
        "written",
        "refused",
        "acknowledged",
        "unacknowledged",
        "shelved",
    ]
)
WORD = re.compile(r"[A-Za-z]+")


def plant_words(hmi: Harness) -> set[str]:
    """Names from the plant file (areas, lines, machines, tags and their parts): shown as written in any language."""
    words: set[str] = set()
    for area, line in hmi.rt.plant.lines():
        words |= {area.name, line.name, *(m.name for m in line.machines)}
    for name in hmi.rt.plant.tags:
        words |= {name, *name.split(".")}
    return words


def plant_texts(hmi: Harness) -> list[str]:
    """Every text of the plant file (names, descriptions, alarm messages): shown as written where the test plant
    gives no translation; longest first so that a longer text is taken out before a text inside it."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(hmi.rt.plant.model_dump())
    return sorted({text for text in found if text.strip()}, key=len, reverse=True)


class _Markup(HTMLParser):
    """The texts a person sees or a screen reader reads in a piece of markup (an SVG such as the line picture):
    text nodes, `<title>`s and `aria-label`s."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.texts += [value for name, value in attrs if name in ("aria-label", "title") and value]

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def markup_texts(markup: str) -> list[str]:
    parser = _Markup()
    parser.feed(markup)
    parser.close()
    return parser.texts


def shown_texts(hmi: Harness) -> Iterator[str]:
    """Every text of the current page a person sees or a screen reader reads: what User.should_see reads, the
    aria-labels and tooltips of elements, and the texts and labels inside markup they show (the line picture)."""
    with hmi.user as client:
        for element in client.elements.values():
            for content in element._displayed_contents(only_visible=True):
                if isinstance(content, str):
                    yield content
            for key in ("aria-label", "title"):
                if isinstance(label := element.props.get(key), str):
                    yield label
            if element.visible and isinstance(markup := getattr(element, "content", None), str) and "<" in markup:
                yield from markup_texts(markup)


def english_sentences(hmi: Harness, people: set[str]) -> set[str]:
    """Texts on the current page with English words once plant texts and people's names are taken out."""
    skip = [*plant_texts(hmi), *sorted(people, key=len, reverse=True)]
    found: set[str] = set()
    for content in shown_texts(hmi):
        rest = content
        for text in skip:
            rest = rest.replace(text, " ")
        if {word.lower() for word in WORD.findall(rest)} & ENGLISH_WORDS:
            found.add(content.strip())
    return found


def english_on_screen(hmi: Harness) -> set[str]:
    """Texts on the current page that are English source texts with a different German translation."""
    german = i18n.catalogue("de")
    # A marked text the catalogue lost is English on screen too (the catalogue check names it; this names the screen).
    lost = {text for _file, _line, text in i18n.marked_texts(i18n.screen_files()) if text not in german}
    english = ({source for source, target in german.items() if source != target} | lost) - plant_words(hmi)
    return {content.strip() for content in shown_texts(hmi) if content.strip() in english}


@pytest.mark.req("SCR-013", "LGX-010")
async def test_every_main_screen_in_german_shows_no_untranslated_text(hmi: Harness) -> None:
    signed = (await hmi.rt.users.sign_in("ada", PASSWORD)).ctx
    assert signed is not None
    await hmi.rt.appearance.set_person(signed, theme="", language="de")
    await hmi.login("ada")
    # An alarm, so that the alarm screens, the banner and the alarm's own page have states and sentences to show.
    await hmi.raise_temp_h()
    people = {name for name, _, _ in USERS} | {full for _, _, full in USERS}
    untranslated: dict[str, set[str]] = {}
    for path in (*SCREENS, "/alarm/L1.M1.Temp.H"):
        await hmi.user.open(path)
        await hmi.user.should_see(marker="clock", retries=50)
        if found := english_on_screen(hmi) | english_sentences(hmi, people):
            untranslated[path] = found
    assert not untranslated, "\n".join(f"{path}: {sorted(texts)}" for path, texts in untranslated.items())

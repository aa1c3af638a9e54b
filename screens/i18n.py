"""Screen texts in the person's language: gettext message catalogues (Babel's PO format) and locale formats.

Every text a screen shows is written in English in the code and passed through `_()` (or marked with `N_()` where
it is a constant translated when shown). The German catalogue lives in `assets/i18n/de/*.po`, one file per group of
screens so that changes to different screens do not collide; all files of a language are read as one catalogue.
The language of a page is chosen by hmi.access.appearance (person, station, plant) and kept in the page's client
storage, so timers and handlers of that page speak its language too. Plant texts (line and machine names, alarm
messages, downtime reasons) are translated by the plant file's own `translations:` section (`plant_text`).

Sentences made in the core (`hmi`: refusals, outcomes, validation errors) are marked `hmi.texts.Text` and shown
through `message()`, so they are translated by the same catalogue.

`python -m screens.i18n` lists the texts of the screens and the core that no catalogue translates yet (the test
suite fails on them too); `pybabel extract -k _ -k N_ -k Text screens hmi` gives the same list as a POT file for a
translator's tool.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from nicegui import app

import hmi as hmi_package
from hmi import assets
from hmi.texts import Text

SOURCE_LANGUAGE = "en"
# Babel's locale names for the languages the screens speak.
LOCALES = {"en": "en_GB", "de": "de_DE"}
CATALOGUE_DIR = "i18n"
# The field name of a `{name!r:spec}` placeholder; a translation may change the spec (a date order), never the name.
K = TypeVar("K")
_PLACEHOLDER = re.compile(r"\{([^{}:!]*)[^{}]*\}")


def language() -> str:
    """The language of the page being built or served ("en" outside a page)."""
    try:
        return str(app.storage.client.get("language", SOURCE_LANGUAGE))
    except RuntimeError:
        # Outside a page (a CLI, a report, a test of the core): the source texts.
        return SOURCE_LANGUAGE


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """msgid -> translation for `lang`, from all of its PO files; untranslated and fuzzy entries left out."""
    if lang == SOURCE_LANGUAGE:
        return {}
    folder = assets.path(CATALOGUE_DIR) / lang
    found: dict[str, str] = {}
    for file in sorted(folder.glob("*.po")) if folder.is_dir() else ():
        with file.open("rb") as handle:
            for message in read_po(handle, locale=LOCALES.get(lang, lang)):
                if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                    found[message.id] = str(message.string)
    return found


def _(text: str) -> str:
    """`text` in the page's language (itself when no translation is known)."""
    lang = language()
    if lang == SOURCE_LANGUAGE:
        return text
    return catalogue(lang).get(text, text)


def message(said: object) -> str:
    """What the core said (a `Text`, an exception carrying one, anything else) in the page's language.

    Screens pass every refusal, outcome and error from `hmi` through here; a text the core did not mark is shown
    as it is (English)."""
    if isinstance(said, BaseException):
        if len(said.args) == 1 and isinstance(said.args[0], Text):
            return message(said.args[0])
        return str(said)
    if not isinstance(said, Text) or language() == SOURCE_LANGUAGE:
        return str(said)
    fields = {
        name: message(value) if isinstance(value, Text | BaseException) else value
        for name, value in said.fields.items()
    }
    try:
        return _(said.template).format(**fields)
    except (KeyError, IndexError, ValueError):
        # A translation that lost or broke a field (the catalogue test catches these): the English is still right.
        return str(said)


def N_(text: str) -> str:
    """Mark `text` for the catalogue where it is defined; `_()` translates it where it is shown."""
    return text


def localised_columns(columns: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Table columns with their labels (marked with `N_` where defined) in the page's language."""
    return [{**column, "label": _(column["label"])} if "label" in column else dict(column) for column in columns]


def options(choices: Mapping[K, str]) -> dict[K, str]:
    """Choices of a select, radio or toggle (texts marked with `N_` where defined) in the page's language."""
    return {key: _(text) for key, text in choices.items()}


# Where `plant()` finds the plant file's translations: set by screens.app.setup for the running plant (a reload
# changes the plant, so it is read at each call, never copied).
_plant_translations: Callable[[], Mapping[str, Mapping[str, str]]] = dict


def use_plant_translations(source: Callable[[], Mapping[str, Mapping[str, str]]]) -> None:
    """Read plant text translations from `source` (the running plant's `translations:`)."""
    global _plant_translations
    _plant_translations = source


def plant(text: str) -> str:
    """A plant text (alarm message, description, downtime reason) in the page's language, from the running plant's
    `translations:`; as written when none is given. Records keep the text as written; only the screen translates."""
    return plant_text(_plant_translations(), text)


def plant_text(translations: Mapping[str, Mapping[str, str]], text: str) -> str:
    """A plant text (a machine name, an alarm message, a downtime reason) in the page's language, from the plant
    file's `translations:` section; the text as written when the plant gives no translation for it."""
    lang = language()
    if lang == SOURCE_LANGUAGE:
        return text
    return translations.get(lang, {}).get(text, text)


def number(value: float, decimals: int = 1) -> str:
    """`value` with grouping and `decimals` places in the page's locale: 1,234.5 (en), 1.234,5 (de)."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    if language() == SOURCE_LANGUAGE:
        return f"{value:,.{decimals}f}"
    return format_decimal(value, format=pattern, locale=LOCALES[language()])


def when(local: datetime, *, date: bool) -> str:
    """A plant-local time in the page's locale: '14:03:22 CET' / '2026-12-03 14:03:22 CET' in English,
    '14:03:22 MEZ' / '03.12.2026 14:03:22 MEZ' in German."""
    if language() == SOURCE_LANGUAGE:
        return local.strftime("%Y-%m-%d %H:%M:%S %Z" if date else "%H:%M:%S %Z")
    pattern = "dd.MM.yyyy HH:mm:ss z" if date else "HH:mm:ss z"
    return format_datetime(local, pattern, tzinfo=local.tzinfo, locale=LOCALES[language()])


def placeholders(text: str) -> set[str]:
    """The field names of a text's `{name}` placeholders: a translation must keep exactly these."""
    return set(_PLACEHOLDER.findall(text))


MARKERS = frozenset({"_", "N_", "Text"})


def marked_texts(files: Iterable[Path]) -> Iterator[tuple[Path, int, str]]:
    """(file, line, text) of every literal passed to `_()` or `N_()` (screens) or `Text()` (hmi) in `files`."""
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in MARKERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                yield file, node.lineno, node.args[0].value


def screen_files() -> list[Path]:
    """The modules of the screens package and of the core (whose `Text` sentences screens show)."""
    core = Path(hmi_package.__file__).parent
    return sorted(Path(__file__).parent.glob("*.py")) + sorted(core.rglob("*.py"))


def missing(lang: str) -> list[tuple[Path, int, str]]:
    """Marked texts of the screens that `lang`'s catalogue does not translate."""
    known = catalogue(lang)
    return [(file, line, text) for file, line, text in marked_texts(screen_files()) if text not in known]


if __name__ == "__main__":
    lang = sys.argv[1] if len(sys.argv) > 1 else "de"
    gaps = missing(lang)
    for file, line, text in gaps:
        print(f"{file.name}:{line}: {text!r}")
    print(f"{len(gaps)} text(s) without a {lang} translation", file=sys.stderr)
    sys.exit(1 if gaps else 0)

"""Sentences the core says to a person (a refusal, an outcome, a validation error), translatable where shown.

The core speaks English: logs, the audit trail and the CLI read the plain string. A screen shows the same sentence in
the reader's language, so the core keeps its template and fields beside the English: `Text("above the high limit
{limit:g} {unit}", limit=80.0, unit="°C")` is the str "above the high limit 80 °C", and the screens' gettext
catalogue translates the template and fills in the same fields (`screens.i18n.message`). A field that is itself a
Text is translated too, so a refusal can carry the reason it quotes.

Mark a sentence with Text where it is made, with a literal template: the catalogue check reads the templates from
the source (`python -m screens.i18n de` lists those no catalogue translates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Text(str):
    """An English sentence (this str) with the template and fields it was made from."""

    template: str
    fields: dict[str, Any]

    def __new__(cls, template: str, /, **fields: Any) -> Text:
        # The template is formatted once here so that every str use (logs, audit, CLI) reads finished English.
        made = super().__new__(cls, template.format(**fields) if fields else template)
        made.template = template
        made.fields = fields
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions carrying a Text cross process boundaries (pickled by multiprocessing and test workers).
        return (_remake, (self.template, self.fields))


def _remake(template: str, fields: dict[str, Any]) -> Text:
    return Text(template, **fields)


def joined(parts: Sequence[str], separator: str = "; ") -> str:
    """`separator.join(parts)` keeping each part's template, so that a screen translates every part: a list of
    problems is one sentence per problem. The separator is translated too when it is a Text (`Text(" or ")`)."""
    if not parts:
        return ""
    text = parts[-1]
    for part in reversed(parts[:-1]):
        text = Text("{part}{separator}{rest}", part=part, separator=separator, rest=text)
    return text

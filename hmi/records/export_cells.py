"""What every CSV export writes in its cells: text a spreadsheet shows as text, never runs as a formula."""

from __future__ import annotations

import re
from typing import Any

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection"); tab and CR too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number (a negative temperature) is no formula and must stay a number for the person analysing it.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: formula-like text gets a leading apostrophe; None is empty."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text

"""safe_cell: every CSV export (alarm journal, trends, audit trail) defuses spreadsheet formulas the same way."""

from __future__ import annotations

import pytest

from hmi.records.export_cells import safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("plain", "plain"),
        (42, "42"),
        ("=1+1", "'=1+1"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("@sum", "'@sum"),
        ("-", "'-"),
        ("-2+3", "'-2+3"),
        ("\tT", "'\tT"),
        ("\rx", "'\rx"),
        # Plain numbers stay numbers for the person analysing them.
        ("-12.5", "-12.5"),
        ("+1e5", "+1e5"),
        ("-.5", "-.5"),
        ("-3", "-3"),
    ],
)
def test_formula_like_text_gets_an_apostrophe_numbers_do_not(value: object, cell: str) -> None:
    assert safe_cell(value) == cell

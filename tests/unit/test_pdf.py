"""PdfReport: the one page template of the printable exports (title, metadata, page N of M, footer, tables)."""

from __future__ import annotations

import re

from hmi.records.pdf import PdfReport, markup


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code, 8)) if code[0] in "01234567" else code


def shown(pdf: bytes) -> list[str]:
    """The strings an uncompressed reportlab PDF shows, in drawing order (PDF string escapes undone)."""
    return [
        re.sub(r"\\([0-7]{1,3}|.)", _unescape, s.decode("latin-1"))
        for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", pdf)
    ]


def test_every_page_has_the_header_page_numbers_and_the_footer() -> None:
    report = PdfReport(
        "Validation report · Test Plant",
        meta=["Protocol IQ-7", "Run 3 of 3"],
        footer=["Generated 2025-01-06 07:00 CET by max", "fine print"],
        compress=False,
    )
    report.heading("Results")
    report.table(["Step", "Result"], [[f"step {i}", "passed"] for i in range(120)])
    text = shown(report.build())
    pages = len([t for t in text if t.startswith("Page ")])
    assert pages > 1
    assert [t for t in text if t.startswith("Page ")] == [f"Page {n} of {pages}" for n in range(1, pages + 1)]
    assert text.count("Validation report · Test Plant") == pages
    assert (text.count("Protocol IQ-7"), text.count("Run 3 of 3")) == (pages, pages)
    assert (text.count("Generated 2025-01-06 07:00 CET by max"), text.count("fine print")) == (pages, pages)
    # The table's header row is repeated on every page.
    assert text.count("Step") == pages
    assert "step 119" in text


def test_text_shows_as_written_and_an_empty_table_says_so() -> None:
    report = PdfReport("T", compress=False)
    report.paragraph("5 < 7 & <b>not bold</b>")
    report.table(["Item"], [], empty="nothing open")
    report.table(["Value", "Note"], [[None, 3.5]])
    text = shown(report.build())
    assert "5 < 7 & <b>not bold</b>" in "".join(text)
    assert "nothing open" in text
    assert "3.5" in text


def test_markup_escapes_keeps_line_breaks_and_cuts_long_text() -> None:
    assert markup(None) == ""
    assert markup("a < b\nc & d") == "a &lt; b<br/>c &amp; d"
    assert markup("x" * 12, max_chars=10, cut_note="more in the CSV") == "x" * 10 + " … (2 more in the CSV)"
    assert markup("short", max_chars=10) == "short"


def test_a_table_may_go_without_a_header_take_plain_strings_and_extra_style() -> None:
    report = PdfReport("T", compress=False)
    report.table(["Name", "Result"], [["a", "passed"]])
    report.table(
        None,
        [[report.cell("<b>b</b>"), "failed"], [None, 7]],
        plain=True,
        style=[("TEXTCOLOR", (1, 0), (1, 0), "#b00020")],
    )
    pdf = report.build()
    text = shown(pdf)
    assert text.count("Name") == 1  # the continuing table has no header row of its own
    assert {"a", "b", "failed", "7"} <= set(text)
    assert b".690196 0 .12549 rg" in pdf  # #b00020, the alert colour

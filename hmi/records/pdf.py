"""The one way to build a printable export (audit trail, shift handover, ...): reportlab pages that all look alike.

Every page has a header (the title in bold, metadata lines under it, "Page N of M" at the right) and footer lines
(the first in small type, further ones in fine print); the body is headings, paragraphs and tables in one table
style. Text from people and the plant goes in escaped, so it shows as written.

Building a PDF is CPU work: callers on the event loop run it in a thread (`asyncio.to_thread`). reportlab is imported
by this module only, and modules that export PDFs import this one inside their PDF function.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

MARGIN = 12 * mm
_TITLE_Y = 10 * mm  # below the top edge
_META_Y, _META_STEP = 14.5 * mm, 4.5 * mm
_FOOT_Y, _FOOT_STEP = 3.5 * mm, 3.5 * mm  # the last footer line, above the bottom edge

StyleCommand: TypeAlias = tuple[Any, ...]
"""A reportlab table style command, e.g. `("TEXTCOLOR", (5, 0), (5, 0), ALERT)` (colours may be "#rrggbb")."""


def table_style(*, header: bool = True) -> list[StyleCommand]:
    """Every table: a dark header row (repeated on each page), a light grid, alternate rows shaded."""
    return [
        *([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#3d3d3d"))] if header else []),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9a9a9a")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1 if header else 0), (-1, -1), [colors.white, colors.HexColor("#f0f0f0")]),
    ]


ALERT = "#b00020"
"""The colour of what must not be missed (a failed or untested requirement)."""

Cell: TypeAlias = Paragraph
"""A table cell of ready markup (`PdfReport.cell`)."""


def markup(value: object, *, max_chars: int | None = None, cut_note: str = "more characters") -> str:
    """`value` as paragraph markup that shows as written: escaped, line breaks kept (None is empty). Beyond
    `max_chars` the text is cut and ends ` … (N <cut_note>)`: platypus cannot split one table row over pages."""
    text = "" if value is None else str(value)
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars] + f" … ({len(text) - max_chars} {cut_note})"
    return escape(text).replace("\n", "<br/>")


def alert(text_markup: str) -> str:
    """Ready markup shown in the `ALERT` colour."""
    return f'<font color="{ALERT}">{text_markup}</font>'


def _body_rows(command: StyleCommand, offset: int) -> StyleCommand:
    """A style command whose rows count from the first body row, for a table with `offset` header rows (negative
    rows count from the end and stay)."""
    name, (c0, r0), (c1, r1), *values = command
    return (name, (c0, r0 + offset if r0 >= 0 else r0), (c1, r1 + offset if r1 >= 0 else r1), *values)


@dataclass(frozen=True, slots=True)
class PdfStyles:
    """The paragraph styles of a report: running text, title and headings, and table cells."""

    body: ParagraphStyle
    title: ParagraphStyle
    heading: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    cell_head: ParagraphStyle

    @classmethod
    def make(cls, cell_size: float) -> PdfStyles:
        """Helvetica throughout; table cells in `cell_size` points."""
        sheet = getSampleStyleSheet()
        cell = ParagraphStyle(
            "cell", parent=sheet["BodyText"], fontName="Helvetica", fontSize=cell_size, leading=cell_size + 1.5
        )
        return cls(
            body=sheet["BodyText"],
            title=sheet["Title"],
            heading=sheet["Heading2"],
            cell=cell,
            cell_bold=ParagraphStyle("cell-bold", parent=cell, fontName="Helvetica-Bold"),
            cell_head=ParagraphStyle("cell-head", parent=cell, fontName="Helvetica-Bold", textColor=colors.white),
        )


class PdfReport:
    """A report being written: add its parts in reading order, then `build()` the PDF bytes.

    `title` heads every page (and is the document's title), `meta` are the lines under it (what the report covers,
    a filter); `footer` lines close every page (who made it and when, the time zone, fine print). `landscape` turns
    the A4 pages for wide tables; `compress=False` leaves the page streams readable (tests look for text in them).
    """

    def __init__(
        self,
        title: str,
        *,
        meta: Sequence[str] = (),
        footer: Sequence[str] = (),
        author: str = "",
        landscape_pages: bool = False,
        cell_size: float = 9,
        compress: bool = True,
    ) -> None:
        self.title = title
        self.meta = list(meta)
        self.footer = list(footer)
        self.author = author
        self.page_size: tuple[float, float] = landscape(A4) if landscape_pages else A4
        self.compress = compress
        self.styles = PdfStyles.make(cell_size)
        self._story: list[Flowable] = [Spacer(1, 1 * mm)]

    # ------------------------------------------------------------------------------------------------- parts
    def add(self, flowable: Flowable) -> None:
        """Any platypus flowable, for what the helpers below do not cover."""
        self._story.append(flowable)

    def heading(self, text: str) -> None:
        """A section heading (plain text)."""
        self.paragraph(text, self.styles.heading)

    def paragraph(self, text: str, style: ParagraphStyle | None = None) -> None:
        """Plain text as a paragraph (escaped; line breaks kept), in running text unless `style` says otherwise."""
        self.paragraph_markup(markup(text), style)

    def paragraph_markup(self, text_markup: str, style: ParagraphStyle | None = None) -> None:
        """A paragraph of ready markup (see `markup`, `alert`), in running text unless `style` says otherwise."""
        self._story.append(Paragraph(text_markup, style or self.styles.body))

    def spacer(self, height_mm: float) -> None:
        """Vertical space."""
        self._story.append(Spacer(1, height_mm * mm))

    def cell(self, text_markup: str, *, bold: bool = False) -> Cell:
        """A table cell of ready markup (see `markup`); bold for what must stand out, e.g. a signature."""
        return Paragraph(text_markup, self.styles.cell_bold if bold else self.styles.cell)

    def table(
        self,
        header: Sequence[str] | None,
        rows: Sequence[Sequence[object]],
        *,
        widths_mm: Sequence[float] | None = None,
        empty: str = "none",
        style: Sequence[StyleCommand] = (),
        plain: bool = False,
    ) -> None:
        """A table in the one table style, its header repeated on every page (column widths in millimetres, else
        shared out); `empty` (in cell type) instead when there are no rows. `header=None`: no header row (a table
        that continues the one before it). A cell is plain text (a number, None for empty) or a ready Cell (`cell`).

        `style` adds commands to the table style (e.g. a colour for some rows); their rows count from the first
        row under the header. `plain=True` sets plain text as it is, on one line in the cell type, instead of a
        paragraph per cell: much faster to lay out, for long tables whose plain cells are short (wrapping text goes
        in as a Cell)."""
        if not rows:
            self._story.append(Paragraph(markup(empty), self.styles.cell))
            return
        data: list[list[Any]] = [[Paragraph(markup(h), self.styles.cell_head) for h in header]] if header else []

        def value(c: object) -> Any:
            if isinstance(c, Flowable):
                return c
            if plain:
                return "" if c is None else str(c)
            return Paragraph(markup(c), self.styles.cell)

        data += [[value(c) for c in row] for row in rows]
        table = LongTable(
            data,
            colWidths=[w * mm for w in widths_mm] if widths_mm is not None else None,
            repeatRows=1 if header else 0,
        )
        commands = table_style(header=bool(header))
        if plain:
            commands.append(("FONT", (0, 0), (-1, -1), self.styles.cell.fontName, self.styles.cell.fontSize))
        commands += [_body_rows(c, 1 if header else 0) for c in style]
        table.setStyle(TableStyle(commands))
        self._story.append(table)

    # ------------------------------------------------------------------------------------------------- build
    def build(self) -> bytes:
        """The PDF: the parts added so far, on pages with the header and footer."""
        report = self

        class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab has no type information: Canvas is Any
            """Defers pages until the end so each can say 'page N of M' (the reportlab two-pass recipe)."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._saved: list[dict[str, Any]] = []

            def showPage(self) -> None:  # reportlab calls it by this name
                self._saved.append(dict(self.__dict__))
                self._startPage()

            def save(self) -> None:
                total = len(self._saved)
                for state in self._saved:
                    self.__dict__.update(state)
                    report._decorate(self, total)
                    super().showPage()
                super().save()

        buffer = io.BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=self.page_size,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=_META_Y + _META_STEP * len(self.meta),
            bottomMargin=_FOOT_Y + _FOOT_STEP * len(self.footer) + 2.5 * mm,
            title=self.title,
            author=self.author,
            pageCompression=1 if self.compress else 0,
        )
        doc.build(list(self._story), canvasmaker=NumberedCanvas)
        return buffer.getvalue()

    def _decorate(self, canvas: Canvas, total: int) -> None:
        page_w, page_h = self.page_size
        canvas.setFont("Helvetica-Bold", 10)
        canvas.drawString(MARGIN, page_h - _TITLE_Y, self.title)
        canvas.setFont("Helvetica", 7.5)
        for i, line in enumerate(self.meta):
            canvas.drawString(MARGIN, page_h - _META_Y - i * _META_STEP, line)
        canvas.drawRightString(page_w - MARGIN, page_h - _TITLE_Y, f"Page {canvas.getPageNumber()} of {total}")
        for i, line in enumerate(self.footer):
            canvas.setFont("Helvetica", 7.5 if i == 0 else 6.5)
            canvas.drawString(MARGIN, _FOOT_Y + (len(self.footer) - 1 - i) * _FOOT_STEP, line)

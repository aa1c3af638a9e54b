"""Tables that fit the screen instead of scrolling sideways: each column names the narrowest screen it is shown on;
below that width its cell is hidden by CSS and its field shows in the row's expandable details instead, opened by
a toggle at the end of the row. The browser decides by its own width (media queries in assets/hmi.css, classes
`hmi-from-N` and `hmi-below-N`), so a panel turned or resized lays the table out again without the server.

Cells are Vue templates: plant and people's text is only ever shown through `{{ }}` interpolation, which Vue
escapes, never as HTML. The labels and templates put into the body below are this code's own constants.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from nicegui import ui

from screens.i18n import localised_columns

# The widths (CSS px) at which columns may appear; each has `hmi-from-N` / `hmi-below-N` rules in assets/hmi.css.
WIDTHS = (600, 800, 1024, 1280, 1600)
MORE = "more"
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def fit_columns(
    columns: Sequence[Mapping[str, Any]], shown_from: Mapping[str, int], keep_words: Collection[str] = ()
) -> list[dict[str, Any]]:
    """`columns` with the classes that hide each column named in `shown_from` below its width (the others are
    always shown), and the toggle column at the end, present while anything is hidden. The columns in `keep_words`
    hold short words of the HMI's own vocabulary (states, events, times) that wrap at spaces only; every other cell
    may break anywhere, so one long word from a PLC or a person never widens the table."""
    names = {c["name"] for c in columns}
    unknown = (set(shown_from) | set(keep_words)) - names
    if unknown:
        raise ValueError(f"shown_from or keep_words name columns the table does not have: {sorted(unknown)}")
    bad = {n: w for n, w in shown_from.items() if w not in WIDTHS}
    if bad:
        raise ValueError(f"shown_from widths must be one of {WIDTHS}: {bad}")
    out: list[dict[str, Any]] = []
    for col in columns:
        spec = dict(col)
        width = shown_from.get(spec["name"])
        if spec["name"] in keep_words:
            spec["classes"] = f"{spec.get('classes', '')} hmi-keep-words".strip()
        if width is not None:
            spec["classes"] = f"{spec.get('classes', '')} hmi-from-{width}".strip()
            spec["headerClasses"] = f"{spec.get('headerClasses', '')} hmi-from-{width}".strip()
        out.append(spec)
    if shown_from:
        widest = max(shown_from.values())
        out.append(
            {
                "name": MORE,
                "label": "",
                "field": MORE,
                "align": "right",
                "classes": f"hmi-below-{widest}",
                "headerClasses": f"hmi-below-{widest}",
            }
        )
    return out


def _value(field: str) -> str:
    if not _FIELD.fullmatch(field):
        raise ValueError(f"field {field!r}: a plain row key is needed for a template")
    return "{{ props.row." + field + " }}"


def body_template(
    columns: Sequence[Mapping[str, Any]],
    shown_from: Mapping[str, int],
    cells: Mapping[str, str] | None = None,
    *,
    selectable: bool = False,
    not_in_details: Collection[str] = (),
) -> str:
    """The q-table `body` slot: one row of cells, and below it the details row with the fields of the columns hidden
    at the current width. `cells` gives a column's inner template (it may use `props.row`); the rest show the row's
    field as text. `not_in_details` names hidden columns another cell shows itself on narrow screens."""
    cells = cells or {}
    row = ['<q-tr :props="props">']
    if selectable:
        row.append(
            '<q-td auto-width class="hmi-select-cell">'
            '<q-checkbox v-model="props.selected" :aria-label="\'Select \' + props.key" /></q-td>'
        )
    details = []
    for col in columns:
        name = col["name"]
        if name == MORE:
            row.append(
                f'<q-td key="{MORE}" :props="props">'
                '<q-btn flat round class="hmi-more" data-testid="row-more" '
                ":icon=\"props.expand ? 'expand_less' : 'expand_more'\" "
                ":aria-label=\"props.expand ? 'Hide the details' : 'Show all fields'\" "
                ":aria-expanded=\"props.expand ? 'true' : 'false'\" "
                '@click.stop="props.expand = !props.expand" /></q-td>'
            )
            continue
        inner = cells.get(name) or _value(str(col.get("field") or name))
        row.append(f'<q-td key="{html.escape(name)}" :props="props">{inner}</q-td>')
        width = shown_from.get(name)
        if width is not None and name not in not_in_details:
            label = html.escape(str(col.get("label") or name))
            details.append(
                f'<div class="hmi-detail hmi-below-{width}"><span class="hmi-detail-label">{label}</span>'
                f'<span class="hmi-detail-value hmi-wrap">{inner}</span></div>'
            )
    row.append("</q-tr>")
    if not shown_from:
        return "".join(row)
    widest = max(shown_from.values())
    span = len(columns) + (1 if selectable else 0)
    expanded = (
        f'<q-tr v-show="props.expand" :props="props" class="hmi-details-row hmi-below-{widest}">'
        f'<q-td colspan="{span}"><div class="hmi-details">{"".join(details)}</div></q-td></q-tr>'
    )
    return "".join(row) + expanded


def fitted_table(
    columns: Sequence[Mapping[str, Any]],
    shown_from: Mapping[str, int],
    *,
    row_key: str,
    cells: Mapping[str, str] | None = None,
    selectable: bool = False,
    keep_words: Collection[str] = (),
    not_in_details: Collection[str] = (),
    **kwargs: Any,
) -> ui.table:
    """A ui.table whose columns appear by screen width (`shown_from`: column name -> narrowest width in CSS px),
    the hidden ones in an expandable details row (see fit_columns for `keep_words`, body_template for
    `not_in_details`)."""
    fitted = fit_columns(columns, shown_from, keep_words)
    table = ui.table(
        columns=localised_columns(fitted),
        rows=[],
        row_key=row_key,
        selection="multiple" if selectable else None,
        **kwargs,
    ).classes("hmi-fitted w-full")
    table.add_slot(
        "body", body_template(fitted, shown_from, cells, selectable=selectable, not_in_details=not_in_details)
    )
    return table

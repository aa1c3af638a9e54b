"""Filters that fold away on narrow screens: below 800 px a list's filters would push its rows a screen down, so
they hide behind one "Filters" toggle there; on wider screens they are always shown and the toggle is not. The
browser applies the width rule (assets/hmi.css, "Panel sizes"); the server only remembers the toggle."""

from __future__ import annotations

from nicegui import ui

from screens.i18n import _
from screens.testid import testid


class FilterFold:
    """The toggle, and `row`: the container the page puts its filters in (`with fold.row: ...`)."""

    def __init__(self, name: str) -> None:
        self.opened = False
        self.button = testid(
            ui.button(_("Filters"), icon="filter_list", on_click=self.toggle).props("outline no-caps"),
            f"{name}-filters",
        ).classes("hmi-below-800")
        self.row = ui.row().classes("hmi-foldable hmi-folded w-full items-end gap-3")
        self._show()

    def toggle(self) -> None:
        """Open or fold the filters (on a narrow screen; wider ones always show them)."""
        self.opened = not self.opened
        self._show()

    def open(self) -> None:
        """Show the filters, e.g. when the page set one itself: a person should see what narrows the list."""
        if not self.opened:
            self.toggle()

    def _show(self) -> None:
        self.row.classes(**({"remove": "hmi-folded"} if self.opened else {"add": "hmi-folded"}))
        self.button.props["aria-expanded"] = "true" if self.opened else "false"
        self.button.props["icon-right"] = "expand_less" if self.opened else "expand_more"

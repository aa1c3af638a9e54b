"""What the record screens share (alarm journal, audit trail, KPIs): the time range picker, and the newest-first
table read one page at a time from the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from nicegui import ui
from nicegui.elements.mixins.value_element import ValueElement
from nicegui.events import Handler, ValueChangeEventArguments

from hmi.limits import Page
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import ranges
from screens.fitted_table import fitted_table
from screens.fmt import local_time
from screens.i18n import N_, _, message
from screens.testid import testid

R = TypeVar("R")


def span_text(window: ranges.Window, zone: ZoneInfo) -> str:
    """The window in plant local time, as the screens print it."""
    return f"{local_time(window.start, zone, date=True)} – {local_time(window.end, zone, date=True)}"


class RangePicker:
    """A named time range, or a custom plant-local from / to (its fields shown for "custom" only)."""

    def __init__(
        self, rt: Runtime, name: str, keys: Sequence[str], *, value: str, label: str = N_("Time range")
    ) -> None:
        self.rt = rt
        self.select = testid(
            ui.select(ranges.choices(*keys), value=value, label=_(label)).classes("w-44"), f"{name}-range"
        )
        with ui.row().classes("items-end gap-3") as custom:
            self.since = testid(
                ui.input(_("From ({LOCAL_HINT})").format(LOCAL_HINT=ranges.LOCAL_HINT)).classes("w-48"), f"{name}-from"
            )
            self.until = testid(
                ui.input(_("To ({LOCAL_HINT}, empty: now)").format(LOCAL_HINT=ranges.LOCAL_HINT)).classes("w-56"),
                f"{name}-to",
            )
        custom.bind_visibility_from(self.select, "value", value="custom")

    def window(self) -> ranges.Window:
        """The chosen window now; ValueError for a custom one that is not a window."""
        rt = self.rt
        return ranges.resolve(
            self.select.value,
            rt.clock(),
            rt.plant.site.zone,
            shift=rt.shift(),
            custom_from=self.since.value or "",
            custom_to=self.until.value or "",
        )


def on_choice(controls: Sequence[ValueElement[Any]], show: Callable[[], Awaitable[None]]) -> None:
    """Show again when one of `controls` changes, except on choosing "custom" (its times are typed first)."""

    def changed(e: ValueChangeEventArguments[Any]) -> Awaitable[None] | None:
        return show() if e.value != "custom" else None

    for control in controls:
        control.on_value_change(changed)


class PagedTable(Generic[R]):
    """Show / actions / Newer / Older and the count, a status line, and the table of one page of rows.

    `read(offset)` returns the window and the page of rows from `offset` (ValueError for a bad filter).
    `shown_from` names the columns shown only from a screen width on (the others in the row's details, see
    screens/fitted_table.py); `cells` the inner templates of columns that are more than text; `keep_words` the
    columns of short words that wrap at spaces only.
    """

    def __init__(
        self,
        rt: Runtime,
        name: str,
        columns: list[dict[str, Any]],
        *,
        read: Callable[[int], Awaitable[tuple[ranges.Window, Page[R]]]],
        row: Callable[[R], dict[str, Any]],
        unreadable: str,
        actions: Sequence[tuple[str, Handler[Any], str]] = (),
        shown_from: Mapping[str, int] | None = None,
        cells: Mapping[str, str] | None = None,
        keep_words: Collection[str] = (),
    ) -> None:
        self.rt = rt
        self._read = read
        self._row = row
        self._unreadable = unreadable
        self.offset = 0
        page_rows = rt.plant.limits.page_rows
        with ui.row().classes("items-center gap-2"):
            testid(ui.button(_("Show"), on_click=lambda: self.show(0)), f"{name}-apply")
            for text, handler, action_id in actions:
                testid(ui.button(_(text), on_click=handler).props("outline"), action_id)
            self.newer = testid(
                ui.button(_("Newer"), on_click=lambda: self.show(max(0, self.offset - page_rows))).props("flat"),
                f"{name}-newer",
            )
            self.older = testid(
                ui.button(_("Older"), on_click=lambda: self.show(self.offset + page_rows)).props("flat"),
                f"{name}-older",
            )
            self.count = testid(ui.label(""), f"{name}-count")
        self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), f"{name}-status")
        self.table = testid(
            fitted_table(
                columns,
                shown_from or {},
                row_key="id",
                cells=cells,
                keep_words=keep_words,
                pagination={"rowsPerPage": 50},
            ).props("flat bordered"),
            f"{name}-table",
        )
        ui.timer(0.0, self.show, once=True)

    async def show(self, start: int = 0) -> None:
        """Read and show the page of rows from `start` (newest first)."""
        try:
            window, page = await self._read(start)
        except ValueError as exc:
            self.status.set_text(_("Not shown: {exc}.").format(exc=message(exc)))
            return
        except DatabaseUnavailable as exc:
            self.status.set_text(_("{what}: {exc}").format(what=_(self._unreadable), exc=message(exc)))
            return
        self.offset = page.offset
        self.status.set_text("")
        self.table.rows = [self._row(r) for r in page.rows]
        self.table.update()
        self.newer.set_enabled(page.offset > 0)
        self.older.set_enabled(page.more)
        span = span_text(window, self.rt.plant.site.zone)
        if page.offset or page.more:
            self.count.set_text(
                _("{len} entries, newest first, {span} (rows {first}–{last}{value})").format(
                    len=len(page.rows),
                    span=span,
                    first=page.first,
                    last=page.last,
                    value="; older ones on the next page" if page.more else "",
                )
            )
        else:
            self.count.set_text(_("{len} entries, newest first, {span}").format(len=len(page.rows), span=span))

"""The alarm journal: every activation, clear, acknowledgement and mode change, filtered, and exported as CSV."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.alarms.journal_query import KINDS, STATES, JournalFilter, export_journal, read_journal_page
from hmi.alarms.states import state_words
from hmi.limits import Page
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import AlarmEvent
from screens import ranges
from screens.filter_fold import FilterFold
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message, plant
from screens.record_list import PagedTable, RangePicker, on_choice
from screens.session import command
from screens.testid import testid
from screens.widgets import column

COLUMNS: list[dict[str, Any]] = [
    column("time", N_("Time"), sortable=True),
    column("priority", N_("Pri"), sortable=True),
    column("line", N_("Line"), sortable=True),
    column("tag", N_("Tag"), sortable=True),
    column("message", N_("Message")),
    column("kind", N_("Event"), sortable=True),
    column("state", N_("State after"), sortable=True),
    column("value", N_("Value"), align="right"),
    column("user", N_("User"), sortable=True),
    column("comment", N_("Comment")),
]
# Time, priority, message and the event are always shown; the rest from the width named (screens/fitted_table.py).
SHOWN_FROM = {"line": 800, "state": 1024, "user": 1024, "tag": 1280, "value": 1280, "comment": 1280}
KEEP_WORDS = ("time", "priority", "kind", "state")


def _words(text: str) -> str:
    return text.replace("_", " ")


def _row(event: AlarmEvent, rt: Runtime) -> dict[str, Any]:
    # Source time, as everywhere alarm times are shown (IEC 62541-4 SourceTimestamp); the CSV carries the server
    # time too.
    return {
        "id": event.id,
        "time": local_time(event.source_time or event.server_time, rt.plant.site.zone, date=True),
        "priority": event.priority,
        "line": event.line,
        "tag": event.tag,
        "message": plant(event.message),
        "kind": _words(str(event.kind)),
        "state": message(state_words(event.state)),
        "value": event.value or "",
        "user": event.username or "",
        "comment": event.comment or "",
    }


def journal_page(rt: Runtime, ctx: ActionContext) -> None:
    """The alarm journal screen."""
    with frame(rt, ctx, "Journal"):
        ui.label(_("Alarm journal")).classes("hmi-title")
        JournalScreen(rt)


class JournalScreen:
    """Filters, the page of events on show, and the CSV export."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        lines = [line.name for _skip, line in rt.plant.lines()]
        fold = FilterFold("journal")
        with fold.row:
            self.range = RangePicker(rt, "journal", ("1h", "shift", "24h", "7d", "custom"), value="24h")
            self.line = testid(
                ui.select({"": _("all lines"), **{n: n for n in lines}}, value="", label=_("Line")).classes("w-36"),
                "journal-line",
            )
            self.priority = testid(
                ui.select({0: _("all"), 1: "1", 2: "2", 3: "3", 4: "4"}, value=0, label=_("Priority")).classes("w-28"),
                "journal-priority",
            )
            self.tag = testid(ui.input(_("Tag contains")).props("clearable"), "journal-tag").classes("w-44")
            self.kind = testid(
                ui.select({"": _("all events"), **{k: _words(k) for k in KINDS}}, value="", label=_("Event")).classes(
                    "w-44"
                ),
                "journal-kind",
            )
            self.state = testid(
                ui.select(
                    {"": _("all states"), **{s: message(state_words(s)) for s in STATES}},
                    value="",
                    label=_("State after"),
                ).classes("w-48"),
                "journal-state",
            )
            self.user = testid(ui.input(_("User")).props("clearable"), "journal-user").classes("w-32")
        self.pages = PagedTable(
            rt,
            "journal",
            COLUMNS,
            read=self.read,
            row=lambda r: _row(r, rt),
            unreadable=N_("The journal cannot be read"),
            actions=[(N_("Export CSV"), command(rt, self.export), "journal-export")],
            shown_from=SHOWN_FROM,
            keep_words=KEEP_WORDS,
        )
        on_choice([self.range.select, self.line, self.priority, self.kind, self.state], self.pages.show)

    def current(self) -> tuple[ranges.Window, JournalFilter]:
        """The chosen window and filter; ValueError when they are not one."""
        window = self.range.window()
        flt = JournalFilter(
            since=window.start,
            # "Last hour" means up to the newest row, including those written while the page is open.
            until=None if window.open_end else window.end,
            line=self.line.value or None,
            priority=self.priority.value or None,
            tag=(self.tag.value or "").strip() or None,
            kind=self.kind.value or None,
            state=self.state.value or None,
            username=(self.user.value or "").strip() or None,
        )
        return window, flt

    async def read(self, offset: int) -> tuple[ranges.Window, Page[AlarmEvent]]:
        """One page of the chosen events, newest first."""
        window, flt = self.current()
        rt = self.rt
        return window, await read_journal_page(rt.db, flt, limits=rt.plant.limits, now=rt.clock(), offset=offset)

    async def export(self, actor: ActionContext) -> None:
        """The chosen events as CSV (audited by the journal as an export)."""
        rt, status, zone = self.rt, self.pages.status, self.rt.plant.site.zone
        try:
            window, flt = self.current()
            name = f"alarm-journal_{ranges.file_stamp(window, zone)}.csv"
            done = await export_journal(
                rt.db, rt.audit, actor, flt, zone, limits=rt.plant.limits, now=rt.clock(), filename=name
            )
        except ValueError as exc:
            status.set_text(_("Not exported: {exc}.").format(exc=message(exc)))
            return
        except DatabaseUnavailable as exc:
            status.set_text(_("Not exported: {exc}").format(exc=message(exc)))
            return
        # The byte-order mark lets spreadsheet programs recognise UTF-8 (units such as °C, names with accents).
        ui.download.content(done.csv.encode("utf-8-sig"), name, "text/csv")
        status.set_text(_("Exported {rows} entries.").format(rows=done.rows))

"""The alarm journal: every activation, clear, acknowledgement and mode change, filtered, and exported as CSV."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.alarms.journal_query import KINDS, STATES, JournalFilter, export_journal, read_journal_page
from hmi.alarms.states import state_words
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import AlarmEvent
from screens import ranges
from screens.fmt import local_time
from screens.frame import frame
from screens.session import command

COLUMNS: list[dict[str, Any]] = [
    {"name": "time", "label": "Time", "field": "time", "sortable": True, "align": "left"},
    {"name": "priority", "label": "Pri", "field": "priority", "sortable": True, "align": "left"},
    {"name": "line", "label": "Line", "field": "line", "sortable": True, "align": "left"},
    {"name": "tag", "label": "Tag", "field": "tag", "sortable": True, "align": "left"},
    {"name": "message", "label": "Message", "field": "message", "align": "left"},
    {"name": "kind", "label": "Event", "field": "kind", "sortable": True, "align": "left"},
    {"name": "state", "label": "State after", "field": "state", "sortable": True, "align": "left"},
    {"name": "value", "label": "Value", "field": "value", "align": "right"},
    {"name": "user", "label": "User", "field": "user", "sortable": True, "align": "left"},
    {"name": "comment", "label": "Comment", "field": "comment", "align": "left"},
]


def _words(text: str) -> str:
    return text.replace("_", " ")


def _row(event: AlarmEvent, rt: Runtime) -> dict[str, Any]:
    # Source time, as everywhere alarm times are shown (STANDARDS.md 2.5); the CSV carries the server time too.
    return {
        "id": event.id,
        "time": local_time(event.source_time or event.server_time, rt.plant.site.zone, date=True),
        "priority": event.priority,
        "line": event.line,
        "tag": event.tag,
        "message": event.message,
        "kind": _words(str(event.kind)),
        "state": state_words(event.state),
        "value": event.value or "",
        "user": event.username or "",
        "comment": event.comment or "",
    }


def journal_page(rt: Runtime, ctx: ActionContext) -> None:
    """The alarm journal screen."""
    zone = rt.plant.site.zone
    lines = [line.name for _, line in rt.plant.lines()]
    with frame(rt, ctx, "Journal"):
        ui.label("Alarm journal").classes("hmi-title")
        with ui.row().classes("w-full items-end gap-3"):
            rng = (
                ui.select(ranges.choices("1h", "shift", "24h", "7d", "custom"), value="24h", label="Time range")
                .classes("w-44")
                .props('data-testid="journal-range"')
                .mark("journal-range")
            )
            with ui.row().classes("items-end gap-3") as custom:
                since_in = (
                    ui.input(f"From ({ranges.LOCAL_HINT})")
                    .props('data-testid="journal-from"')
                    .mark("journal-from")
                    .classes("w-48")
                )
                until_in = (
                    ui.input(f"To ({ranges.LOCAL_HINT}, empty: now)")
                    .props('data-testid="journal-to"')
                    .mark("journal-to")
                    .classes("w-56")
                )
            custom.bind_visibility_from(rng, "value", value="custom")
            line = (
                ui.select({"": "all lines", **{n: n for n in lines}}, value="", label="Line")
                .classes("w-36")
                .props('data-testid="journal-line"')
                .mark("journal-line")
            )
            priority = (
                ui.select({0: "all", 1: "1", 2: "2", 3: "3", 4: "4"}, value=0, label="Priority")
                .classes("w-28")
                .props('data-testid="journal-priority"')
                .mark("journal-priority")
            )
            tag = (
                ui.input("Tag contains")
                .props('clearable data-testid="journal-tag"')
                .mark("journal-tag")
                .classes("w-44")
            )
            kind = (
                ui.select({"": "all events", **{k: _words(k) for k in KINDS}}, value="", label="Event")
                .classes("w-44")
                .props('data-testid="journal-kind"')
                .mark("journal-kind")
            )
            state = (
                ui.select({"": "all states", **{s: state_words(s) for s in STATES}}, value="", label="State after")
                .classes("w-48")
                .props('data-testid="journal-state"')
                .mark("journal-state")
            )
            user = (
                ui.input("User")
                .props('clearable data-testid="journal-user"')
                .mark("journal-user")
                .classes("w-32")
            )
        with ui.row().classes("items-center gap-3"):
            ui.button("Show", on_click=lambda: show(0)).props('data-testid="journal-apply"').mark("journal-apply")
            ui.button("Export CSV", on_click=command(rt, lambda actor: export(actor))).props(
                'outline data-testid="journal-export"').mark(
                "journal-export"
            )
            newer = ui.button("Newer", on_click=lambda: show(max(0, offset - rt.plant.limits.page_rows))).props(
                'flat data-testid="journal-newer"').mark("journal-newer")
            older = ui.button("Older", on_click=lambda: show(offset + rt.plant.limits.page_rows)).props(
                'flat data-testid="journal-older"').mark("journal-older")
            count = ui.label("").props('data-testid="journal-count"').mark("journal-count")
        status = (
            ui.label("").classes("font-semibold").props('role="status" data-testid="journal-status"')
            .mark("journal-status")
        )
        table = (
            ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 50})
            .classes("w-full")
            .props('data-testid="journal-table" flat bordered')
            .mark("journal-table")
        )

        def current() -> tuple[ranges.Window, JournalFilter]:
            window = ranges.resolve(rng.value, rt.clock(), zone, shift=rt.shift(), custom_from=since_in.value or "",
                                    custom_to=until_in.value or "")
            flt = JournalFilter(
                since=window.start,
                # "Last hour" means up to the newest row, including those written while the page is open.
                until=None if window.open_end else window.end,
                line=line.value or None,
                priority=priority.value or None,
                tag=(tag.value or "").strip() or None,
                kind=kind.value or None,
                state=state.value or None,
                username=(user.value or "").strip() or None,
            )
            return window, flt

        offset = 0

        async def show(start: int = 0) -> None:
            nonlocal offset
            try:
                window, flt = current()
                page = await read_journal_page(rt.db, flt, limits=rt.plant.limits, now=rt.clock(), offset=start)
            except ValueError as exc:
                status.set_text(f"Not shown: {exc}.")
                return
            except DatabaseUnavailable as exc:
                status.set_text(f"The journal cannot be read: {exc}")
                return
            offset = page.offset
            status.set_text("")
            table.rows = [_row(r, rt) for r in page.rows]
            table.update()
            newer.set_enabled(page.offset > 0)
            older.set_enabled(page.more)
            span = f"{local_time(window.start, zone, date=True)} – {local_time(window.end, zone, date=True)}"
            if page.offset or page.more:
                count.set_text(f"{len(page.rows)} entries, newest first, {span} (rows {page.first}–{page.last}"
                               f"{'; older ones on the next page' if page.more else ''})")
            else:
                count.set_text(f"{len(page.rows)} entries, newest first, {span}")

        async def export(actor: ActionContext) -> None:
            try:
                window, flt = current()
                name = f"alarm-journal_{ranges.file_stamp(window, zone)}.csv"
                done = await export_journal(rt.db, rt.audit, actor, flt, zone, limits=rt.plant.limits,
                                            now=rt.clock(), filename=name)
            except ValueError as exc:
                status.set_text(f"Not exported: {exc}.")
                return
            except DatabaseUnavailable as exc:
                status.set_text(f"Not exported: {exc}")
                return
            # The byte-order mark lets spreadsheet programs recognise UTF-8 (units such as °C, names with accents).
            ui.download.content(done.csv.encode("utf-8-sig"), name, "text/csv")
            status.set_text(f"Exported {done.rows} entries.")

        for control in (rng, line, priority, kind, state):
            control.on_value_change(lambda e: show() if e.value != "custom" else None)
        ui.timer(0.0, show, once=True)

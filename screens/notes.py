"""Shift log: leads and operators add a note to a line for the current shift; everyone reads the list."""

from __future__ import annotations

from nicegui import ui

from hmi.context import ActionContext, PermissionDenied
from hmi.roles import Permission
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.fmt import local_time
from screens.frame import frame


def notes_page(rt: Runtime, ctx: ActionContext) -> None:
    """The shift log screen."""
    zone = rt.plant.site.zone
    lines = [line.name for _, line in rt.plant.lines()]
    may_write = ctx.can(Permission.ADD_NOTE)
    with frame(rt, ctx, "Shift log"):
        slot = rt.shift()
        ui.label(
            f"Shift log — {slot.name} shift of {slot.date.isoformat()} "
            f"({local_time(slot.start, zone)}–{local_time(slot.end, zone)})"
        ).classes("hmi-title").props('data-testid="shift-title"').mark("shift-title")
        with ui.row().classes("items-center gap-3"):
            line_filter = ui.select({"": "all lines", **{n: n for n in lines}}, value="", label="Show").classes("w-48")
        if may_write:
            with ui.column().classes("hmi-panel p-3 w-full max-w-3xl gap-2"):
                ui.label("New note").classes("font-bold")
                line = (
                    ui.select(lines, value=lines[0] if lines else None, label="Line")
                    .classes("w-48")
                    .props('data-testid="note-line"')
                    .mark("note-line")
                )
                text = (
                    ui.textarea("Note")
                    .props('maxlength=4000 data-testid="note-text"')
                    .mark("note-text")
                    .classes("w-full")
                )
                with ui.row().classes("items-center gap-3"):
                    ui.button("Save note", on_click=lambda: save()).props('data-testid="note-save"').mark("note-save")
                    status = (
                        ui.label("")
                        .classes("font-semibold")
                        .props('role="status" data-testid="note-status"')
                        .mark("note-status")
                    )
        else:
            ui.label(f"Your role ({ctx.role.value}) may read the shift log but not write in it.").classes("hmi-muted")
        listing = ui.column().classes("w-full max-w-3xl gap-2").props('data-testid="note-list"').mark("note-list")

        async def show() -> None:
            try:
                notes = await rt.notes.list(line=line_filter.value or None, limit=200)
            except DatabaseUnavailable as exc:
                listing.clear()
                with listing:
                    ui.label(f"The shift log cannot be read: {exc}").classes("font-semibold")
                return
            listing.clear()
            with listing:
                if not notes:
                    ui.label("No notes yet.").classes("hmi-muted")
                for note in notes:
                    with ui.column().classes("hmi-panel p-3 w-full gap-1").props('data-testid="note"').mark("note"):
                        ui.label(
                            f"{note.line} · {note.author_name} · "
                            f"{local_time(note.created_at, zone, date=True)} · {note.shift_name} shift "
                            f"{note.shift_date.isoformat()}"
                        ).classes("hmi-muted text-sm")
                        # A label renders text, never HTML: notes come from people and are shown as written.
                        ui.label(note.text).classes("whitespace-pre-wrap")

        async def save() -> None:
            current = rt.shift()
            try:
                await rt.notes.add(ctx, line.value, text.value or "", current.name, current.date)
            except PermissionDenied as exc:
                status.set_text(f"Refused: {exc}.")
                return
            except (ValueError, DatabaseUnavailable) as exc:
                status.set_text(f"Not saved: {exc}")
                return
            text.set_value("")
            status.set_text("Note saved.")
            await show()

        line_filter.on_value_change(show)
        ui.timer(0.0, show, once=True)

"""Shift log: leads and operators add a note to a line for the current shift; everyone reads the list."""

from __future__ import annotations

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission
from hmi.records.notes import MAX_NOTE_LENGTH, MAX_REASON_LENGTH, note_content
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import NoteCategory, ShiftNote
from screens.fmt import local_time
from screens.frame import frame
from screens.session import command
from screens.signature_dialog import SignatureDialog


def notes_page(rt: Runtime, ctx: ActionContext) -> None:
    """The shift log screen."""
    zone = rt.plant.site.zone
    lines = [line.name for _, line in rt.plant.lines()]
    may_write = ctx.can(Permission.ADD_NOTE)
    may_amend = ctx.can(Permission.AMEND_NOTE)
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
                with ui.row().classes("items-end gap-3"):
                    category = ui.select({c.value: c.value for c in NoteCategory}, value=NoteCategory.PRODUCTION.value,
                                         label="Category").classes("w-40").props(
                        'data-testid="note-category"').mark("note-category")
                    machine = ui.input("Machine (optional)").classes("w-40").props(
                        'data-testid="note-machine"').mark("note-machine")
                    alarm = ui.select({"": "no alarm", **{a.id: f"P{a.priority} {a.line}: {a.message}"
                                                          for a in rt.alarms.active()}},
                                      value="", label="Linked alarm").classes("w-72").props(
                        'data-testid="note-alarm"').mark("note-alarm")
                text = (
                    ui.textarea("Note")
                    .props(f'maxlength={MAX_NOTE_LENGTH} counter data-testid="note-text"')
                    .mark("note-text")
                    .classes("w-full")
                )
                with ui.row().classes("items-center gap-3"):
                    ui.button("Save note", on_click=command(rt, lambda actor: save(actor))).props(
                        'data-testid="note-save"').mark("note-save")
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
                            + f" · {note.category.value}" + (f" · {note.machine}" if note.machine else "")
                            + (f" · alarm {note.alarm_id}" if note.alarm_id else "")
                            + (f" · version {note.version} ({note.reason})" if note.version > 1 else "")
                        ).classes("hmi-muted text-sm")
                        # A label renders text, never HTML: notes come from people and are shown as written.
                        ui.label(note.text).classes("whitespace-pre-wrap hmi-wrap")
                        with ui.row().classes("gap-2"):
                            if may_amend:
                                ui.button("Amend", on_click=lambda n=note: change(n, delete=False)).props(
                                    'outline no-caps data-testid="note-amend"').mark("note-amend")
                                ui.button("Delete", on_click=lambda n=note: change(n, delete=True)).props(
                                    'outline no-caps data-testid="note-delete"').mark("note-delete")
                            if note.version > 1:
                                ui.button("History", on_click=lambda n=note: history(n)).props(
                                    'flat no-caps data-testid="note-history"').mark("note-history")
                            if may_write and rt.plant.signatures.sign_note:
                                ui.button("Sign…", on_click=lambda n=note: sign(n)).props(
                                    'outline no-caps data-testid="note-sign"').mark("note-sign")
                        for sig in await rt.signatures.of("shift_note", str(note.id)):
                            # The manifestation, and whether the signature still matches this version's content.
                            ok = rt.signatures.verify(sig, note_content(note))
                            ui.label(("✔ " if ok else "✘ NOT VALID for this content · ")
                                     + rt.signatures.manifestation(sig, zone)).classes(
                                "text-sm font-semibold").props('data-testid="note-signature"').mark("note-signature")

        def change(note: ShiftNote, *, delete: bool) -> None:
            # Two touches (STANDARDS.md 4.6): the button opens this dialog, the confirm stores a new version.
            with ui.dialog() as dlg, ui.card().classes("w-[34rem]"):
                ui.label("Delete this note?" if delete else "Amend this note").classes("hmi-title")
                new_text = None
                if not delete:
                    new_text = ui.textarea("Note", value=note.text).props(
                        f'maxlength={MAX_NOTE_LENGTH} counter data-testid="amend-text"').mark("amend-text").classes(
                        "w-full")
                reason = ui.input("Reason (required)").props(
                    f'maxlength={MAX_REASON_LENGTH} counter data-testid="amend-reason"').mark(
                    "amend-reason").classes("w-full")
                problem = ui.label("").classes("font-semibold")

                async def confirm(actor: ActionContext) -> None:
                    try:
                        if delete:
                            await rt.notes.delete(actor, note.id or 0, reason.value or "")
                        elif new_text is not None:
                            await rt.notes.amend(actor, note.id or 0, new_text.value or "",
                                                 reason.value or "")
                    except PermissionDenied as exc:
                        problem.set_text(f"Refused: {exc}.")
                        return
                    except (ValueError, DatabaseUnavailable) as exc:
                        problem.set_text(f"Not saved: {exc}")
                        return
                    dlg.close()
                    ui.notify("Note deleted (kept in its history)." if delete else "Note amended.")
                    await show()

                with ui.row():
                    ui.button("Confirm delete" if delete else "Confirm amend", on_click=command(rt, confirm)).props(
                        'data-testid="amend-confirm"').mark("amend-confirm")
                    ui.button("Cancel", on_click=dlg.close).props("outline")
            dlg.open()

        def sign(note: ShiftNote) -> None:
            SignatureDialog(rt, ctx, "Sign this note", ["Reviewed", "Approved"], after=show, sign=lambda actor, s: (
                rt.notes.sign(actor, note.id or 0, rt.signatures, username=s.username, password=s.password,
                              meaning=s.meaning)))

        async def history(note: ShiftNote) -> None:
            versions = await rt.notes.history(note.note_key)
            with ui.dialog() as dlg, ui.card().classes("w-[40rem]").props('data-testid="note-versions"').mark(
                    "note-versions"):
                ui.label("History of this note").classes("hmi-title")
                for v in versions:
                    what = "deleted" if v.deleted else ("written" if v.version == 1 else "amended")
                    ui.label(f"Version {v.version} · {what} by {v.author_name} · "
                             f"{local_time(v.created_at, zone, date=True)}"
                             + (f" · reason: {v.reason}" if v.reason else "")).classes("hmi-muted text-sm")
                    ui.label(v.text).classes("whitespace-pre-wrap hmi-wrap")
                ui.button("Close", on_click=dlg.close).props("outline")
            dlg.open()

        async def save(actor: ActionContext) -> None:
            current = rt.shift()
            try:
                await rt.notes.add(actor, line.value, text.value or "", current.name, current.date,
                                   category=category.value, machine=machine.value or "",
                                   alarm_id=alarm.value or None)
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

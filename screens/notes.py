"""Shift log: leads and operators add a note to a line for the current shift; everyone reads the list."""

from __future__ import annotations

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.records.notes import MAX_NOTE_LENGTH, MAX_REASON_LENGTH, NoteChange, note_content
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import NoteCategory, ShiftNote
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message
from screens.outcome import attempt
from screens.session import command
from screens.signature_dialog import SignatureDialog
from screens.testid import testid

HEARD_S = 0.25


def notes_page(rt: Runtime, ctx: ActionContext) -> None:
    """The shift log screen."""
    NotesScreen(rt, ctx)


class NotesScreen:
    """The shift log of one open page: the new-note form (for those who may write) above the list of notes."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.ctx = ctx
        self.zone = rt.plant.site.zone
        self.lines = [line.name for _skip, line in rt.plant.lines()]
        self.may_write = ctx.can(Permission.ADD_NOTE)
        self.may_amend = ctx.can(Permission.AMEND_NOTE)
        with frame(rt, ctx, "Shift log"):
            slot = rt.shift()
            testid(
                ui.label(
                    _("Shift log — {name} shift of {isoformat} ({local_time}–{local_time2})").format(
                        name=slot.name,
                        isoformat=slot.date.isoformat(),
                        local_time=local_time(slot.start, self.zone),
                        local_time2=local_time(slot.end, self.zone),
                    )
                ).classes("hmi-title"),
                "shift-title",
            )
            with ui.row().classes("items-center gap-3"):
                self.line_filter = ui.select(
                    {"": _("all lines"), **{n: n for n in self.lines}}, value="", label=_("Show")
                ).classes("w-48")
            if self.may_write:
                self._form()
            else:
                ui.label(
                    _("Your role ({value}) may read the shift log but not write in it.").format(value=ctx.role.value)
                ).classes("hmi-muted")
            self.listing = testid(ui.column().classes("w-full max-w-3xl gap-2"), "note-list")
        self.line_filter.on_value_change(self.show)
        ui.timer(0.0, self.show, once=True)
        # Notes written meanwhile, on this server or (a redundant pair) another one: the list is read again soon
        # after, coalesced (HEARD_S), so a burst of notes costs one reload.
        self.heard = False
        unsubscribe = rt.notes.changes.add(self._heard)
        ui.context.client.on_delete(unsubscribe)
        ui.timer(HEARD_S, self._reload_if_heard)

    def _heard(self, change: NoteChange) -> None:
        # Runs inside the notes service's emit: only note it.
        self.heard = True

    def _dialog_open(self) -> bool:
        # NiceGUI places a dialog in the page's layout (a hidden canary in the list deletes it with its row), so the
        # open ones are looked for there: any dialog open on the page puts the reload off.
        return any(isinstance(e, ui.dialog) and e.value for e in self.listing.client.layout.descendants())

    async def _reload_if_heard(self) -> None:
        if not self.heard or self._dialog_open():
            return  # an amend, history or signing dialog is open: reloading the list would delete it
        self.heard = False
        await self.show(unless_busy=True)

    def _form(self) -> None:
        rt = self.rt
        with ui.column().classes("hmi-panel p-3 w-full max-w-3xl gap-2"):
            ui.label(_("New note")).classes("font-bold")
            self.line = testid(
                ui.select(self.lines, value=self.lines[0] if self.lines else None, label=_("Line")).classes("w-48"),
                "note-line",
            )
            with ui.row().classes("items-end gap-3"):
                self.category = testid(
                    ui.select(
                        {c.value: c.value for c in NoteCategory},
                        value=NoteCategory.PRODUCTION.value,
                        label=_("Category"),
                    ).classes("w-40"),
                    "note-category",
                )
                self.machine = testid(ui.input(_("Machine (optional)")).classes("w-40"), "note-machine")
                alarms = {a.id: f"P{a.priority} {a.line}: {a.message}" for a in rt.alarms.active()}
                self.alarm = testid(
                    ui.select({"": _("no alarm"), **alarms}, value="", label=_("Linked alarm")).classes("w-72"),
                    "note-alarm",
                )
            self.text = testid(
                ui.textarea(_("Note")).props(f"maxlength={MAX_NOTE_LENGTH} counter"), "note-text"
            ).classes("w-full")
            with ui.row().classes("items-center gap-3"):
                testid(ui.button(_("Save note"), on_click=command(rt, self.save)), "note-save")
                self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "note-status")

    async def show(self, *, unless_busy: bool = False) -> None:
        """List the notes of the chosen line (all lines), newest first. `unless_busy` (a reload for notes heard of):
        not while a dialog is open in the list; one may have opened while the notes were read."""
        try:
            notes = await self.rt.notes.list(line=self.line_filter.value or None, limit=200)
            if unless_busy and self._dialog_open():
                self.heard = True  # read again once the dialog has closed
                return
        except DatabaseUnavailable as exc:
            self.listing.clear()
            with self.listing:
                ui.label(_("The shift log cannot be read: {exc}").format(exc=message(exc))).classes("font-semibold")
            return
        self.listing.clear()
        with self.listing:
            if not notes:
                ui.label(_("No notes yet.")).classes("hmi-muted")
            for note in notes:
                await self._note(note)

    async def _note(self, note: ShiftNote) -> None:
        with testid(ui.column().classes("hmi-panel p-3 w-full gap-1"), "note"):
            ui.label(
                _("{line} · {author_name} · {local_time} · {shift_name} shift {isoformat}").format(
                    line=note.line,
                    author_name=note.author_name,
                    local_time=local_time(note.created_at, self.zone, date=True),
                    shift_name=note.shift_name,
                    isoformat=note.shift_date.isoformat(),
                )
                + f" · {note.category.value}"
                + (f" · {note.machine}" if note.machine else "")
                + (_(" · alarm {alarm_id}").format(alarm_id=note.alarm_id) if note.alarm_id else "")
                + (
                    _(" · version {version} ({reason})").format(version=note.version, reason=note.reason)
                    if note.version > 1
                    else ""
                )
            ).classes("hmi-muted text-sm")
            # A label renders text, never HTML: notes come from people and are shown as written.
            ui.label(note.text).classes("whitespace-pre-wrap hmi-wrap")
            with ui.row().classes("gap-2"):
                if self.may_amend:
                    testid(
                        ui.button(_("Amend"), on_click=lambda: self.change(note, delete=False)).props(
                            "outline no-caps"
                        ),
                        "note-amend",
                    )
                    testid(
                        ui.button(_("Delete"), on_click=lambda: self.change(note, delete=True)).props(
                            "outline no-caps"
                        ),
                        "note-delete",
                    )
                if note.version > 1:
                    testid(
                        ui.button(_("History"), on_click=lambda: self.history(note)).props("flat no-caps"),
                        "note-history",
                    )
                if self.may_write and self.rt.plant.signatures.sign_note:
                    testid(
                        ui.button(_("Sign…"), on_click=lambda: self.sign(note)).props("outline no-caps"), "note-sign"
                    )
            for sig in await self.rt.signatures.of("shift_note", str(note.id)):
                # The manifestation, and whether the signature still matches this version's content.
                ok = self.rt.signatures.verify(sig, note_content(note))
                testid(
                    ui.label(
                        ("✔ " if ok else _("✘ NOT VALID for this content · "))
                        + self.rt.signatures.manifestation(sig, self.zone)
                    ).classes("text-sm font-semibold"),
                    "note-signature",
                )

    def change(self, note: ShiftNote, *, delete: bool) -> None:
        """Amend or delete a note: two touches (ISA-101.01), the button opens this dialog, the confirm stores
        a new version with the reason."""
        with ui.dialog() as dlg, ui.card().classes("w-[34rem]"):
            ui.label(_("Delete this note?") if delete else _("Amend this note")).classes("hmi-title")
            new_text = None
            if not delete:
                new_text = testid(
                    ui.textarea(_("Note"), value=note.text).props(f"maxlength={MAX_NOTE_LENGTH} counter"), "amend-text"
                ).classes("w-full")
            reason = testid(
                ui.input(_("Reason (required)")).props(f"maxlength={MAX_REASON_LENGTH} counter"), "amend-reason"
            ).classes("w-full")
            problem = ui.label("").classes("font-semibold")

            async def confirm(actor: ActionContext) -> None:
                note_id, why = note.id or 0, reason.value or ""
                work = (
                    self.rt.notes.delete(actor, note_id, why)
                    if new_text is None
                    else self.rt.notes.amend(actor, note_id, new_text.value or "", why)
                )
                if await attempt(problem, N_("saved"), work) is None:
                    return
                dlg.close()
                ui.notify(_("Note deleted (kept in its history).") if delete else _("Note amended."))
                await self.show()

            with ui.row():
                testid(
                    ui.button(
                        _("Confirm delete") if delete else _("Confirm amend"), on_click=command(self.rt, confirm)
                    ),
                    "amend-confirm",
                )
                ui.button(_("Cancel"), on_click=dlg.close).props("outline")
        dlg.open()

    def sign(self, note: ShiftNote) -> None:
        """Sign the note's current version (the signature is bound to its content)."""
        SignatureDialog(
            self.rt,
            self.ctx,
            N_("Sign this note"),
            [N_("Reviewed"), N_("Approved")],
            after=self.show,
            sign=lambda actor, s: self.rt.notes.sign(
                actor, note.id or 0, self.rt.signatures, username=s.username, password=s.password, meaning=s.meaning
            ),
        )

    async def history(self, note: ShiftNote) -> None:
        """Every version of the note, who wrote it and why it changed."""
        versions = await self.rt.notes.history(note.note_key)
        with ui.dialog() as dlg, testid(ui.card().classes("w-[40rem]"), "note-versions"):
            ui.label(_("History of this note")).classes("hmi-title")
            for v in versions:
                what = "deleted" if v.deleted else ("written" if v.version == 1 else "amended")
                ui.label(
                    _("Version {version} · {what} by {author_name} · {local_time}").format(
                        version=v.version,
                        what=what,
                        author_name=v.author_name,
                        local_time=local_time(v.created_at, self.zone, date=True),
                    )
                    + (_(" · reason: {reason}").format(reason=v.reason) if v.reason else "")
                ).classes("hmi-muted text-sm")
                ui.label(v.text).classes("whitespace-pre-wrap hmi-wrap")
            ui.button(_("Close"), on_click=dlg.close).props("outline")
        dlg.open()

    async def save(self, actor: ActionContext) -> None:
        """Add the note for the current shift."""
        current = self.rt.shift()
        added = await attempt(
            self.status,
            N_("saved"),
            self.rt.notes.add(
                actor,
                self.line.value,
                self.text.value or "",
                current.name,
                current.date,
                category=self.category.value,
                machine=self.machine.value or "",
                alarm_id=self.alarm.value or None,
            ),
        )
        if added is None:
            return
        self.text.set_value("")
        self.status.set_text(_("Note saved."))
        await self.show()

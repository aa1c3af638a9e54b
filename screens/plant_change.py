"""What a page does when the plant configuration changes under it (`hmi reload`, hmi/plant_reload.py).

A page is built from the plant it was opened with. After a reload it says so in one row with a Reload button, and
reloads itself after `AUTO_RELOAD_S` unless the person is in the middle of something (an open dialog, or text
typed into a text area such as a note or a comment): then the row stays until they press Reload. Reloading a
page keeps the browser's session (same cookie, same sign-in); only the page is rebuilt from the new plant.
Engineers and administrators also see a row when the last reload was refused, with its first problems; the audit
trail has all of them.
"""

from __future__ import annotations

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.runtime import Runtime
from screens.fmt import local_time
from screens.i18n import _, message
from screens.testid import testid

AUTO_RELOAD_S = 10
# Who is told that a reload was refused: the people who edit the plant file.
ENGINEER_ROLES = frozenset({Role.ENGINEER, Role.ADMIN})
_SHOWN_ERRORS = 3


class PlantChangeNotice:
    """The page's notice of a changed plant and, for engineers, of a refused reload."""

    def __init__(self, rt: Runtime, ctx: ActionContext, *, auto_reload_s: int | None = None) -> None:
        self.rt = rt
        self.generation = rt.plant_generation
        self.auto_reload_s = AUTO_RELOAD_S if auto_reload_s is None else auto_reload_s
        self.waited: int | None = None  # timer ticks (seconds) since the change was seen
        self.engineer = ctx.role in ENGINEER_ROLES
        self.client = ui.context.client
        with testid(
            ui.row().classes("hmi-banner-conn w-full items-center gap-3 px-3 py-1 no-wrap").props('role="status"'),
            "plant-changed",
        ) as self.row:
            self.text = ui.label("").classes("grow hmi-wrap")
            testid(ui.button(_("Reload"), on_click=ui.navigate.reload).props("outline no-caps"), "plant-reload")
        self.row.set_visibility(False)
        self.refused = testid(
            ui.label("").classes("hmi-banner-conn w-full px-3 py-1 hmi-wrap").props('role="alert"'),
            "plant-reload-refused",
        )
        self.refused.set_visibility(False)
        self.refresh()
        ui.timer(1.0, self.refresh)

    def refresh(self) -> None:
        """Once a second: has the plant changed since this page was built, and was a reload refused?"""
        self._show_refused()
        if self.rt.plant_generation == self.generation:
            return
        self.waited = 0 if self.waited is None else self.waited + 1
        busy = self.busy()
        left = self.auto_reload_s - self.waited
        if left <= 0 and not busy:
            ui.navigate.reload()
            return
        when = (
            _("finish what you are doing, then reload (a dialog or typed text is open)")
            if busy
            else _("this page reloads in {n} s").format(n=max(left, 0))
        )
        self.text.set_text(
            _("The plant configuration changed: this page still shows the previous one. {when}.").format(when=when)
        )
        self.row.set_visibility(True)

    def busy(self) -> bool:
        """True while a dialog is open or a text area holds typed text: reloading would lose it."""
        for element in self.client.elements.values():
            if isinstance(element, ui.dialog) and element.value:
                return True
            if isinstance(element, ui.textarea) and element.value:
                return True
        return False

    def _show_refused(self) -> None:
        last = self.rt.reloader.last
        if not self.engineer or last is None or last.applied:
            self.refused.set_visibility(False)
            return
        errors = "; ".join(message(error) for error in last.errors[:_SHOWN_ERRORS])
        more = (
            _(" (and {n} more)").format(n=len(last.errors) - _SHOWN_ERRORS) if len(last.errors) > _SHOWN_ERRORS else ""
        )
        # Plain text in a label: the plant file's contents quoted in an error are never taken as HTML.
        self.refused.set_text(
            _(
                "Plant reload refused at {local_time} ({by}): {errors}{more}. Nothing was changed; the audit "
                "trail lists every problem."
            ).format(
                local_time=local_time(last.at, self.rt.plant.site.zone, date=True), by=last.by, errors=errors, more=more
            )
        )
        self.refused.set_visibility(True)


def watch_plant(rt: Runtime, ctx: ActionContext) -> PlantChangeNotice:
    """Call once in a page frame: the page's notice of plant changes (see the module's description)."""
    return PlantChangeNotice(rt, ctx)

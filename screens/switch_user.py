"""Quick user switch on a panel: another person signs in, the page stays (21 CFR 11.100(a): unique accounts)."""

from __future__ import annotations

from nicegui import ui

from hmi.access.kiosk import record_refusal
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import panel, session
from screens.fmt import refusal_text
from screens.i18n import _, message
from screens.testid import testid


class SwitchUserDialog:
    """A sign-in dialog; on success the previous person is logged out and the new one in (both audited)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.here = session.here()
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[24rem] gap-2"):
            ui.label(_("Switch user")).classes("hmi-title")
            ui.label(_("The next person signs in; this screen stays open.")).classes("hmi-muted")
            self.username = testid(ui.input(_("User name")).props("autocomplete=username"), "switch-username")
            self.password = testid(
                ui.input(_("Password"), password=True).props("autocomplete=current-password"), "switch-password"
            )
            self.password.on("keydown.enter", self.confirm)
            self.error = testid(ui.label("").classes("font-semibold").props('role="alert"'), "switch-error")
            with ui.row().classes("gap-2"):
                testid(ui.button(_("Sign in"), on_click=self.confirm), "switch-confirm")
                ui.button(_("Cancel"), on_click=self.dialog.close).props("outline")

    def open(self) -> None:
        """Show the dialog with empty fields."""
        self.username.value = self.password.value = ""
        self.error.set_text("")
        self.dialog.open()

    async def confirm(self) -> None:
        """Check the new person's password; on success they own this session and the page reloads for them."""
        name, password = (self.username.value or "").strip(), self.password.value or ""
        self.password.value = ""
        if not name or not password:
            self.error.set_text(_("Enter the user name and password."))
            return
        session.switching(True)
        switched = False
        try:
            current = (await self.rt.sessions.check(session.session_id())).ctx
            station = current.station if current is not None and current.station else await session.station_for(self.rt)
            if await self.rt.stations.is_kiosk(station):
                # The page was open before the station became a kiosk: nobody signs in at a wall screen.
                await record_refusal(self.rt.audit, station, "sign-in", "user")
                self.error.set_text(_("Nobody signs in here: this station is a view-only wall screen (kiosk)."))
                return
            result = await self.rt.users.switch_user(current, name, password, station, address=panel.client_address())
            if result.ctx is None:
                self.error.set_text(refusal_text(result))
                return
            # The previous person's sessions ended with the switch; a new session id for the new person.
            await session.sign_in(self.rt, result.ctx)
            switched = True
        except DatabaseUnavailable as exc:
            self.error.set_text(_("Cannot sign in: {exc}").format(exc=message(exc)))
            return
        finally:
            # After a switch the page stays marked until it has left: its guards must not send it to the sign-in
            # page while the session changes under it.
            if not switched:
                session.switching(False)
        self.dialog.close()
        # The page's content was built for the previous person (their permissions); build it again.
        ui.navigate.to(self.here)
